import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A tiny hello service standing in for one of the private backends (Cloud Run,
 * Cloud Functions, App Engine) of Guillaume Blaquière, "Secure Cloud Run, Cloud Functions and App Engine with API Keys and Cloud Endpoint". It echoes what the gateway sent,
 * so a newcomer sees the path translation and the consumer headers.
 */
export function startHelloBackend(name: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://backend');
    const body = JSON.stringify({
      message: `Hello${url.searchParams.get('name') ? `, ${url.searchParams.get('name')}` : ''} from ${name}`,
      receivedPath: req.url,
      consumerProject: req.headers['x-endpoint-api-consumer-number'] ?? null,
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
