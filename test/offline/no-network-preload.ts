// Loaded into a gateway child process with NODE_OPTIONS="--import <this file>": every attempt to
// reach a non-loopback address (a socket connect, a DNS lookup) is refused there and then, and
// recorded on stderr as one JSON line `{"offlineProbe": "connect"|"lookup", ...}` for the test to
// read. Loopback and unix sockets are left alone: the backends and key files under test live there.
import dns from 'node:dns';
import net from 'node:net';

const LOOPBACK_NAMES = new Set(['localhost', 'localhost.', '::1', '0:0:0:0:0:0:0:1']);

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return LOOPBACK_NAMES.has(h) || /^127\./.test(h) || /^::ffff:127\./.test(h);
}

function record(kind: 'connect' | 'lookup', fields: Record<string, unknown>): void {
  process.stderr.write(`${JSON.stringify({ offlineProbe: kind, ...fields, stack: new Error().stack?.split('\n').slice(2, 9).map((l) => l.trim()) })}\n`);
}

function refusal(kind: string, host: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${kind} ${host}: refused by the offline test (no network)`), { code: 'ENETUNREACH', hostname: host });
}

type ConnectArgs = Parameters<typeof net.Socket.prototype.connect>;
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
  // net.connect hands over [options, cb] as one normalized array; users pass (options), (port, host) or (path).
  const first = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0];
  let host: string | undefined;
  let port: unknown;
  if (typeof first === 'object' && first !== null) {
    const o = first as { host?: string; port?: unknown; path?: string };
    if (o.path === undefined) {
      host = o.host ?? 'localhost';
      port = o.port;
    }
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    port = first;
    host = typeof args[1] === 'string' ? args[1] : 'localhost';
  }
  if (host !== undefined && !isLoopback(host)) {
    record('connect', { host, port });
    process.nextTick(() => this.destroy(refusal('connect', host)));
    return this;
  }
  return connect.apply(this, args as ConnectArgs);
} as typeof net.Socket.prototype.connect;

const lookup = dns.lookup;
dns.lookup = function (hostname: string, ...rest: unknown[]) {
  if (!isLoopback(hostname)) {
    record('lookup', { host: hostname });
    const cb = rest[rest.length - 1] as (err: Error) => void;
    process.nextTick(() => cb(refusal('lookup', hostname)));
    return;
  }
  return (lookup as (...a: unknown[]) => unknown)(hostname, ...rest);
} as typeof dns.lookup;

const lookupP = dns.promises.lookup;
dns.promises.lookup = async function (hostname: string, ...rest: unknown[]) {
  if (!isLoopback(hostname)) {
    record('lookup', { host: hostname });
    throw refusal('lookup', hostname);
  }
  return (lookupP as (...a: unknown[]) => Promise<unknown>)(hostname, ...rest);
} as typeof dns.promises.lookup;
