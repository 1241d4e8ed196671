// An OTLP/HTTP collector stand-in that answers 200 to every export without reading it: run as its own
// process by bench/tracing-work.ts so that receiving spans costs the measured process nothing. Prints its port.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/x-protobuf' }).end(req.headers['content-type'] === 'application/json' ? '{}' : undefined));
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
