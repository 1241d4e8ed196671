// Debian's nginx in two roles, each its own server with its own process tree (so each one's CPU per
// request is its own): the static backend the proxies forward to, and the key-checking reverse proxy
// that is the physical limit of such a proxy on this machine (the API key checked against a static
// map, a static ID-token header to the upstream, keep-alive upstream connections).
// Each runs in the foreground (daemon off) as a master and one worker, every file in a temp dir, on
// a loopback socket the benchmark opened on port 0 and handed over (nginx refuses port 0). The
// master is needed for that hand-over: nginx 1.22 crashes adopting a socket with master_process off.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO } from './paths.ts';
import { holdLoopbackPort } from './inherit-socket.ts';
import { spawnServer, type Proc } from './procs.ts';
import { BOOK_JSON } from './servers/book.ts';

/** The nginx binary, installed through scripts/ensure-nginx.sh when missing; undefined (and why) when there is none. */
export function findNginx(): { bin: string } | { missing: string } {
  try {
    const out = execFileSync('bash', [path.join(REPO, 'scripts/ensure-nginx.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const bin = out.trim().split('\n').pop() ?? '';
    return bin !== '' ? { bin } : { missing: 'scripts/ensure-nginx.sh printed no path' };
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    return { missing: stderr.trim().split('\n').pop() || String(err) };
  }
}

export function nginxVersion(bin: string): string {
  // nginx prints its version on stderr.
  const r = spawnSync(bin, ['-v'], { encoding: 'utf8' });
  return /nginx\/(\S+)/.exec(`${r.stderr ?? ''}${r.stdout ?? ''}`)?.[1] ?? '';
}

export interface ProxyOptions {
  /** The one key the map accepts. */
  key: string;
  /** Sent upstream as `Authorization: Bearer <token>` on every request (a real ID token's size). */
  bearer: string;
  /** http://127.0.0.1:PORT of the backend. */
  backendUrl: string;
}

/** Keys and tokens are base64url: refuse anything that would need escaping in nginx's syntax. */
function plainToken(s: string): string {
  if (!/^[\w.~+/=-]+$/.test(s)) throw new Error('nginx config: key or token is not a plain token');
  return s;
}

/** The parts both roles share: one worker, files under `dir`, no access log, long keep-alive; `http` goes in the http block, `location` serves every path but /healthz. */
function nginxConfig(dir: string, port: number, role: { http?: string; location: string }): string {
  return `# endpoints-gateway benchmark (generated)
daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  server_tokens off;
  default_type application/json;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  # Client connections live as long as the Node servers' (keepAliveTimeout 65 s, no request cap).
  keepalive_timeout 65s;
  keepalive_requests 1000000;
${role.http ?? ''}
  server {
    # The socket the benchmark holds open on this port is adopted (NGINX="3;"), never bound again.
    listen 127.0.0.1:${port};
    location = /healthz { return 200 '{"status":"ok"}'; }
    location / {
${role.location}
    }
  }
}
`;
}

/** The key-checking reverse proxy (the `nginx` case). */
export function proxyRole(o: ProxyOptions): { http: string; location: string } {
  return {
    http: `  map $arg_key $key_ok {
    "${plainToken(o.key)}" 1;
    default 0;
  }
  upstream backend {
    server ${new URL(o.backendUrl).host};
    keepalive 64;
    keepalive_requests 1000000;
    keepalive_timeout 65s;
  }`,
    location: `      if ($key_ok = 0) { return 401 '{"code":401,"message":"Method doesn\\'t allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."}'; }
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer ${plainToken(o.bearer)}";`,
  };
}

/** The static backend: the same JSON body on every path, as bench/servers/backend.ts answers. */
export function backendRole(): { location: string } {
  if (BOOK_JSON.includes("'")) throw new Error('nginx config: the body must not hold a single quote');
  return { location: `      return 200 '${BOOK_JSON}';` };
}

/** Starts nginx in the given role, with its config and files under `dir`, on a loopback port handed over to it. */
export async function startNginx(name: string, bin: string, dir: string, role: { http?: string; location: string }): Promise<Proc> {
  await mkdir(dir, { recursive: true });
  const conf = path.join(dir, 'nginx.conf');
  const held = await holdLoopbackPort();
  try {
    await writeFile(conf, nginxConfig(dir, held.port, role));
  } catch (err) {
    held.close();
    throw err;
  }
  return spawnServer({
    name,
    command: bin,
    args: ['-p', `${dir}/`, '-c', conf, '-e', path.join(dir, 'error.log')],
    env: { NGINX: '3;' },
    port: held,
    readyPath: '/healthz',
  });
}
