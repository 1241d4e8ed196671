// A backend on a raw TCP socket: each case (the last segment of the request path) scripts the exact bytes
// sent back, so tests can send what no well-behaved HTTP library would.
import net from 'node:net';
import { once } from 'node:events';

/** `rest`: bytes that arrived after the head in the same read (the start of a body). */
export type Script = (socket: net.Socket, head: string, rest: string) => void;

export interface RawBackend {
  readonly url: string;
  /** Request heads received, per case. */
  readonly heads: Map<string, string[]>;
  /** Connections accepted so far. */
  connections: number;
  close(): Promise<void>;
}

export async function startRawBackend(scripts: Record<string, Script>): Promise<RawBackend> {
  const heads = new Map<string, string[]>();
  const sockets = new Set<net.Socket>();
  const state = { connections: 0 };
  const server = net.createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = '';
    const onData = (c: Buffer): void => {
      buf += c.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.slice(0, end);
      buf = buf.slice(end + 4);
      const target = head.split(' ')[1] ?? '/';
      const name = target.split('?')[0]!.split('/').pop()!;
      const list = heads.get(name) ?? [];
      list.push(head);
      heads.set(name, list);
      const script = scripts[name];
      const rest = buf;
      buf = '';
      if (script) script(socket, head, rest);
      else socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    };
    socket.on('data', onData);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    heads,
    get connections() {
      return state.connections;
    },
    set connections(v: number) {
      state.connections = v;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** A well-formed keep-alive answer. */
export function ok(socket: net.Socket, body = 'ok'): void {
  socket.write(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}
