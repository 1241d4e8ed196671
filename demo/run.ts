// `npm start`: the example spec served on this machine. Three loopback hello
// services stand in for the Cloud Run service, Cloud Function and App Engine
// app of Guillaume Blaquière, "Secure Cloud Run, Cloud Functions and App Engine with API Keys and Cloud Endpoint"; keys live in an embedded store under .demo/.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { createKey, listKeys, revokeKey } from '../src/auth/apikeys/keys-admin.ts';
import { startGateway } from '../src/gateway.ts';
import { createLogger } from '../src/observability/logger.ts';
import { startHelloBackend } from './hello-backend.ts';
import { startDemoSignin } from './signin-demo.ts';

const root = path.resolve(import.meta.dirname, '..');
// ENDPOINTS_DEMO_DIR: the sign-in test runs the demo without touching a newcomer's .demo/.
const dir = process.env.ENDPOINTS_DEMO_DIR ? path.resolve(process.env.ENDPOINTS_DEMO_DIR) : path.join(root, '.demo');
const port = Number(process.env.PORT ?? 8080);

await mkdir(dir, { recursive: true });
const run = await startHelloBackend('Cloud Run');
const fn = await startHelloBackend('Cloud Functions');
const gae = await startHelloBackend('App Engine');

// The example spec with each Google address swapped for its loopback stand-in (paths kept).
const spec = parse(await readFile(path.join(root, 'endpoint.example.yaml'), 'utf8')) as Record<string, any>;
const local = (address: string) =>
  address
    .replace('https://hello-run-abc123-uc.a.run.app', run.url)
    .replace('https://us-central1-my-project.cloudfunctions.net', fn.url)
    .replace('https://my-project.uc.r.appspot.com', gae.url);
spec['x-google-backend'].address = local(spec['x-google-backend'].address);
for (const item of Object.values(spec.paths as Record<string, Record<string, any>>)) {
  for (const op of Object.values(item)) if (op?.['x-google-backend']) op['x-google-backend'].address = local(op['x-google-backend'].address);
}
// Browser sign-in at /app/ through a local OpenID provider (demo/signin-demo.ts).
const signin = await startDemoSignin(spec, dir, port);
const specFile = path.join(dir, 'endpoint.yaml');
await writeFile(specFile, stringify(spec));

// A fresh demo key each run: the store keeps only hashes, so an old key cannot be shown again.
const store = path.join(dir, 'keys.yaml');
const existing = await listKeys(store).catch(() => []);
if (existing.some((k) => k.name === 'demo')) await revokeKey(store, 'demo');
const { key } = await createKey(store, { project: '123456789012', name: 'demo', displayName: 'npm start demo key', services: [spec.host] });

const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'warn' });
const gw = await startGateway({
  specFile,
  port,
  host: '127.0.0.1',
  // No Google credentials on a laptop: the loopback backends need no ID token.
  backendAuth: 'none',
  keys: `file:${store}`,
  trustedHops: 0,
  watch: true,
  signin: signin.flags,
  logger,
});

const base = `http://localhost:${gw.port}`;
process.stdout.write(`
endpoints-gateway is serving endpoint.example.yaml on ${base}
  Cloud Run stand-in       ${run.url}
  Cloud Functions stand-in ${fn.url}
  App Engine stand-in      ${gae.url}
  key store (hashes only)  ${path.relative(root, store)}

Your demo key (shown once): ${key}

Try:
  curl -s '${base}/hello?key=${key}'          # 200 from "Cloud Run"
  curl -s '${base}/hello/ada?key=${key}'      # 200 from "Cloud Functions" (CONSTANT_ADDRESS: ?name=ada)
  curl -s '${base}/appengine/hello?key=${key}' # 200 from "App Engine"
  curl -s '${base}/hello'                     # 401: no key
  curl -s '${base}/hello?key=AIzaSyThisKeyDoesNotExist000000000000'   # 400: invalid key
  curl -s '${base}/nowhere'                   # 404: not in the spec

Sign in with a browser (identity-aware proxy mode; any login name, e.g. ada):
  open ${signin.flags.publicUrl}/app/           # local OpenID provider at ${signin.issuer}
  curl -s '${base}/app/'                      # 401 JSON: programs never get a login page

More keys: npm run gateway -- keys create --store ${path.relative(root, store)} --project 123456789012
Ctrl-C stops.
`);

const stop = async () => {
  await gw.close(2000);
  await Promise.all([run.close(), fn.close(), gae.close(), signin.close()]);
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
