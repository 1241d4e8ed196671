// The benchmark backend: node:http on loopback answering every request with the same ~150-byte JSON
// body. Run as its own process so it never shares an event loop with the load generator.
// Usage: node bench/servers/backend.ts PORT
import { createServer } from 'node:http';

const BODY = Buffer.from(
  JSON.stringify({
    id: 'book-0007',
    shelf: 'shelf-0042',
    title: 'The Pragmatic Gateway',
    author: 'A. N. Author',
    pages: 352,
    available: true,
    tags: ['bench', 'json'],
  }),
);
const HEADERS = { 'content-type': 'application/json', 'content-length': String(BODY.length) };

const port = Number(process.argv[2] ?? 0);
const server = createServer((req, res) => {
  // Drain any request body, then answer; GETs have none so 'end' fires at once.
  req.resume();
  res.writeHead(200, HEADERS).end(BODY);
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
