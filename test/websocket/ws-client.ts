// Shared by the WebSocket tests: the spec, key creation with the CLI, a raw
// handshake, ESP-refusal checks and a `ws` client.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { promisify } from 'node:util';
import { WebSocket } from 'ws';
import { baseSpec, op, pathParams } from '../helpers/gateway.ts';
import type { TestIssuer } from '../jwt/issuer.ts';
import type { WsBackend } from './ws-backend.ts';

const run = promisify(execFile);
const CLI = path.resolve(import.meta.dirname, '../../src/cli.ts');
export const SERVICE = 'ws-api.endpoints.test-project.cloud.goog';
export const MISSING_KEY =
  "UNAUTHENTICATED: Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.";

export function wsSpec(b: WsBackend, iss: TestIssuer | undefined, down: number): Record<string, unknown> {
  const at = (p: string, extra: Record<string, unknown> = {}) => ({ 'x-google-backend': { address: `${b.url}${p}`, ...extra } });
  return baseSpec({
    host: SERVICE,
    'x-google-backend': { address: b.url },
    securityDefinitions: {
      api_key: { type: 'apiKey', name: 'key', in: 'query' },
      ...(iss
        ? {
            ws_jwt: {
              type: 'oauth2',
              flow: 'implicit',
              authorizationUrl: '',
              'x-google-issuer': iss.iss('ws'),
              'x-google-jwks_uri': iss.jwksUri('ws'),
              'x-google-audiences': 'ws-aud',
            },
          }
        : {}),
    },
    security: [{ api_key: [] }],
    'x-google-management': {
      metrics: [{ name: 'opens', valueType: 'INT64', metricKind: 'DELTA' }],
      quota: { limits: [{ name: 'opens-limit', metric: 'opens', unit: '1/min/{project}', values: { STANDARD: 1 } }] },
    },
    paths: {
      '/echo': { get: op('echo') },
      '/rooms/{room}': { get: op('room', { ...pathParams('room'), ...at('/ws/translated') }) },
      '/metered': { get: op('metered', { 'x-google-quota': { metricCosts: { opens: 1 } } }) },
      ...(iss ? { '/jwt': { get: op('jwt', { security: [{ ws_jwt: [] }] }) } } : {}),
      '/short': { get: op('short', at('/short', { deadline: 1 })) },
      '/slow': { get: op('slow', at('/slow', { deadline: 1 })) },
      '/refuse': { get: op('refuse', at('/refuse')) },
      '/reset': { get: op('reset', at('/reset')) },
      '/down': { get: op('down', { 'x-google-backend': { address: `http://127.0.0.1:${down}` } }) },
    },
  });
}

export async function makeKey(storeFile: string, project: string, name: string): Promise<string> {
  const { stdout } = await run(process.execPath, [CLI, 'keys', 'create', '--store', storeFile, '--project', project, '--name', name, '--service', SERVICE], {
    env: { ...process.env, METADATA_SERVER_DETECTION: 'none' },
  });
  return stdout.trim();
}

export const HANDSHAKE = (p: string, extra = '') =>
  `GET ${p} HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`;

export interface RawAnswer {
  readonly statusLine: string;
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

export function parseRaw(text: string): RawAnswer {
  const end = text.indexOf('\r\n\r\n');
  assert.ok(end > 0, `no complete answer: ${JSON.stringify(text)}`);
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { statusLine: statusLine!, status: Number(statusLine!.split(' ')[1]), headers, body: text.slice(end + 4) };
}

/** Asserts an ESP JSON refusal written on the raw socket: status line, JSON, exact length, connection: close. */
export function assertEspRefusal(text: string, status: number, message: string | RegExp): void {
  const a = parseRaw(text);
  assert.equal(a.status, status, text);
  assert.match(a.statusLine, /^HTTP\/1\.1 \d{3} \S/);
  assert.equal(a.headers['content-type'], 'application/json');
  assert.equal(a.headers.connection, 'close');
  assert.equal(Number(a.headers['content-length']), Buffer.byteLength(a.body));
  const body = JSON.parse(a.body) as { code: number; message: string };
  assert.equal(body.code, status);
  if (typeof message === 'string') assert.equal(body.message, message);
  else assert.match(body.message, message);
}

/** Opens a WebSocket through the gateway; rejects with the status and body of a refusal. */
export function openWs(base: string, p: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base.replace(/^http/, 'ws') + p, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => reject(Object.assign(new Error(`refused ${res.statusCode}`), { status: res.statusCode, body })));
    });
    ws.once('error', reject);
  });
}

export async function echo(ws: WebSocket, msg: string): Promise<string> {
  const reply = once(ws, 'message');
  ws.send(msg);
  const [data] = (await reply) as [Buffer];
  return data.toString();
}

export async function closeWs(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return;
  const closed = once(ws, 'close');
  ws.close();
  await closed;
}

