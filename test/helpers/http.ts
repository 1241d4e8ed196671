import http from 'node:http';
import net from 'node:net';

export interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  json<T = Record<string, unknown>>(): T;
}

/**
 * Sends a request with the path exactly as given (fetch would resolve dot
 * segments and re-encode it on the client side, hiding what the gateway does).
 */
export function send(
  base: string,
  rawPath: string,
  opts: { method?: string; headers?: Record<string, string | string[]>; body?: string | Buffer } = {},
): Promise<Reply> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, method: opts.method ?? 'GET', path: rawPath, headers: opts.headers ?? {}, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            json: <T,>() => JSON.parse(body) as T,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/**
 * Writes raw bytes on a socket and returns what came back once the gateway closes the
 * connection (for requests Node's client refuses to send). `timeoutMs` only stops a
 * connection the gateway never closes: sized for a starved machine, not for speed.
 */
export function sendRaw(base: string, bytes: string | Buffer, timeoutMs = 30_000): Promise<string> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => sock.destroy(), timeoutMs);
    sock.on('connect', () => sock.write(bytes));
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', (e) => {
      if (chunks.length === 0) reject(e);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}
