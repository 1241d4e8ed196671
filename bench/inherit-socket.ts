// A listening TCP socket opened here on port 0 and handed to a server that cannot bind port 0 itself
// (nginx refuses `listen ...:0`): the port is bound from before the server starts until it exits,
// so nothing else can take it in between. nginx adopts it through its `NGINX="3;"` environment
// variable, the mechanism of its binary upgrade.
import net from 'node:net';

export interface HeldSocket {
  port: number;
  /** The socket's file descriptor in this process, to pass as a child's fd 3. */
  fd: number;
  /** Closes this process's copy (once the child has its own): only the child accepts from then on. */
  close(): void;
}

export async function holdLoopbackPort(): Promise<HeldSocket> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve);
  });
  // Node has no public accessor for a server's fd; `_handle.fd` has been the libuv handle's fd on Unix for as long as Node has existed.
  const fd = (server as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    server.close();
    throw new Error('cannot read the listening socket\'s file descriptor from this Node');
  }
  return { port: (server.address() as net.AddressInfo).port, fd, close: () => server.close() };
}
