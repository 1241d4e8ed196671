// The benchmark backend: node:http on loopback answering every request with the same ~150-byte JSON
// body. Run as its own process so it never shares an event loop with the load generator.
// Usage: node bench/servers/backend.ts (prints {"message":"listening","port":N})
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BOOK_JSON } from './book.ts';

const BODY = Buffer.from(BOOK_JSON);
const HEADERS = { 'content-type': 'application/json', 'content-length': String(BODY.length) };

const server = createServer((req, res) => {
  // Drain any request body, then answer; GETs have none so 'end' fires at once.
  req.resume();
  res.writeHead(200, HEADERS).end(BODY);
});
server.keepAliveTimeout = 65_000;
// Port 0: the kernel picks a free port, and the benchmark reads it from this line.
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ message: 'listening', port: (server.address() as AddressInfo).port })));
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
