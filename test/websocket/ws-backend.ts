// A real RFC 6455 backend for tests (the `ws` package): echoes every message
// on any path, counts TCP connections, records each upgrade request, and has
// paths that misbehave on purpose: /refuse answers 403 instead of 101,
// /reset drops the connection, /slow sends its 101 after 10 s. Plain HTTP
// requests get 200 with {url, headers}.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export interface SeenUpgrade {
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

export interface WsBackend {
  readonly url: string;
  readonly port: number;
  /** TCP connections accepted so far. */
  connections(): number;
  readonly upgrades: SeenUpgrade[];
  readonly plain: SeenUpgrade[];
  /** WebSockets currently open on the backend side. */
  openSockets(): number;
  /** Resolves when the next backend-side WebSocket closes. */
  nextClose(): Promise<number>;
  close(): Promise<void>;
}

export async function startWsBackend(): Promise<WsBackend> {
  let connections = 0;
  const upgrades: SeenUpgrade[] = [];
  const plain: SeenUpgrade[] = [];
  const sockets = new Set<Socket>();
  const open = new Set<WebSocket>();
  let closeWaiters: ((code: number) => void)[] = [];
  const wss = new WebSocketServer({ noServer: true });
  const server = createServer((req, res) => {
    plain.push({ url: req.url ?? '', headers: req.headers });
    req.resume();
    const body = JSON.stringify({ url: req.url, headers: req.headers });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.on('connection', (s: Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const accept = (req: Parameters<WebSocketServer['handleUpgrade']>[0], socket: Socket, head: Buffer) =>
    wss.handleUpgrade(req, socket, head, (ws) => {
      open.add(ws);
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      ws.on('error', () => {});
      ws.on('close', (code) => {
        open.delete(ws);
        const w = closeWaiters;
        closeWaiters = [];
        for (const f of w) f(code);
      });
    });
  server.on('upgrade', (req, socket: Socket, head: Buffer) => {
    upgrades.push({ url: req.url ?? '', headers: req.headers });
    socket.on('error', () => {});
    const path = (req.url ?? '').split('?')[0]!;
    if (path.endsWith('/refuse')) {
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 11\r\nconnection: close\r\n\r\nnot for you');
    } else if (path.endsWith('/reset')) {
      socket.destroy();
    } else if (path.endsWith('/slow')) {
      setTimeout(() => {
        if (!socket.destroyed) accept(req, socket, head);
      }, 10_000).unref();
    } else {
      accept(req, socket, head);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    connections: () => connections,
    upgrades,
    plain,
    openSockets: () => open.size,
    nextClose: () => new Promise((r) => closeWaiters.push(r)),
    close: async () => {
      for (const ws of open) ws.terminate();
      for (const s of sockets) s.destroy();
      wss.close();
      await new Promise((r) => server.close(r));
    },
  };
}
