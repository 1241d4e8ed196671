// The ~150-byte JSON body every benchmark backend answers with (node:http and nginx alike).
export const BOOK_JSON = JSON.stringify({
  id: 'book-0007',
  shelf: 'shelf-0042',
  title: 'The Pragmatic Gateway',
  author: 'A. N. Author',
  pages: 352,
  available: true,
  tags: ['bench', 'json'],
});
