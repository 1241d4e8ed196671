// The physical limit of a key-checking proxy on this machine: Debian's nginx with one worker, the API
// key checked against a static map, a static ID-token header to the upstream, keep-alive upstream
// connections. Runs as a plain child process (daemon off) with every file in a temp dir, on loopback.
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO } from './cases.ts';
import { freePort, spawnServer, type Proc } from './procs.ts';

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

export interface NginxOptions {
  /** The one key the map accepts. */
  key: string;
  /** Sent upstream as `Authorization: Bearer <token>` on every request (a real ID token's size). */
  bearer: string;
  /** http://127.0.0.1:PORT of the backend. */
  backendUrl: string;
}

/** nginx.conf for the case, listening on 127.0.0.1:port, every file under `dir`. */
export function nginxConfig(dir: string, port: number, o: NginxOptions): string {
  const upstream = new URL(o.backendUrl).host;
  // Keys and tokens are base64url: refuse anything that would need escaping in nginx's syntax.
  const token = (s: string) => {
    if (!/^[\w.~+/=-]+$/.test(s)) throw new Error('nginx config: key or token is not a plain token');
    return s;
  };
  return `# endpoints-gateway benchmark: nginx key-checking reverse proxy (generated)
daemon off;
master_process off;
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
  map $arg_key $key_ok {
    "${token(o.key)}" 1;
    default 0;
  }
  upstream backend {
    server ${upstream};
    keepalive 64;
    keepalive_requests 1000000;
    keepalive_timeout 65s;
  }
  server {
    listen 127.0.0.1:${port};
    location = /healthz { return 200 '{"status":"ok"}'; }
    location / {
      if ($key_ok = 0) { return 401 '{"code":401,"message":"Method doesn\\'t allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."}'; }
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer ${token(o.bearer)}";
    }
  }
}
`;
}

/** Starts nginx in the foreground with its config and files under `dir`. */
export async function startNginx(bin: string, dir: string, o: NginxOptions): Promise<Proc> {
  await mkdir(dir, { recursive: true });
  const conf = path.join(dir, 'nginx.conf');
  const port = await freePort();
  await writeFile(conf, nginxConfig(dir, port, o));
  return spawnServer({ name: 'nginx', command: bin, port, args: ['-p', `${dir}/`, '-c', conf, '-e', path.join(dir, 'error.log')], readyPath: '/healthz' });
}
