/**
 * A start that fails for a reason an operator can fix gets one line saying
 * what to do, not a stack trace: the serving port in use, a missing key store.
 */
export interface StartFacts {
  readonly port: number;
  readonly adminPort: number | undefined;
  readonly host: string | undefined;
  /** The --keys value in force, and whether it is the default (not given). */
  readonly keys: string;
  readonly keysDefaulted: boolean;
}

const IN_CLONE = 'npm run gateway --';

export function explainStartupError(err: unknown, facts: StartFacts): string | undefined {
  const e = err as NodeJS.ErrnoException & { port?: number; address?: string };
  if (e?.syscall === 'listen' && (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL')) {
    const port = e.port ?? facts.port;
    const isAdmin = facts.adminPort !== undefined && port === facts.adminPort && port !== facts.port;
    const which = isAdmin ? 'admin port' : 'port';
    const choose = isAdmin ? '--admin-port N or ENDPOINTS_ADMIN_PORT=N' : '--port N or PORT=N';
    const at = `${e.address ?? facts.host ?? 'all interfaces'}`;
    if (e.code === 'EADDRINUSE') return `${which} ${port} is already in use (on ${at}): stop what listens there, or choose another with ${choose}`;
    if (e.code === 'EACCES') return `${which} ${port} needs privileges this process does not have: choose a port above 1023 with ${choose}`;
    return `cannot listen on ${at}: the address is not on this machine; choose another with --host ADDR or ENDPOINTS_HOST`;
  }
  if (e?.code === 'ENOENT' && facts.keys.startsWith('file:') && typeof e.path === 'string' && e.path.endsWith(facts.keys.slice(5))) {
    const store = facts.keys.slice(5);
    const why = facts.keysDefaulted
      ? `no API key store: ${store} does not exist (off Google Cloud, the default is --keys file:keys.yaml, the embedded store in the current folder)`
      : `no API key store: ${store} does not exist (--keys file:${store})`;
    return (
      `${why}. Create it with a first key: endpoints-gateway keys create --store ${store} --project NUMBER ` +
      `(from a clone: ${IN_CLONE} keys create ...); or use --keys google (Google's API Keys service), ` +
      'or --keys none when no operation of the spec needs a key'
    );
  }
  return undefined;
}
