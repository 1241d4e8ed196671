// The compression benchmark's backend (bench/compression.ts): node:http on loopback answering every
// request with the same ~10 KB JSON body, with its Content-Length.
// Usage: node bench/servers/json10k.ts (prints {"message":"listening","port":N})
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** About 10 KB of JSON: a page of records, as an API list call answers. */
export const JSON_10K = Buffer.from(
  JSON.stringify({
    books: Array.from({ length: 72 }, (_, i) => ({ id: `book-${String(i).padStart(4, '0')}`, shelf: 'shelf-0042', title: `Title number ${i}`, author: 'A. N. Author', pages: 100 + i, available: i % 2 === 0, tags: ['bench', 'json'] })),
    nextPageToken: 'token-0072',
  }),
);

if (import.meta.main) {
  const HEADERS = { 'content-type': 'application/json', 'content-length': String(JSON_10K.length) };
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, HEADERS).end(JSON_10K);
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ message: 'listening', port: (server.address() as AddressInfo).port })));
  process.on('SIGTERM', () => {
    server.close();
    server.closeAllConnections();
  });
}
