/** Sends one planned request to the API under test and reads the whole answer (bounded). */
import { request } from 'undici';
import type { PlannedRequest } from './request.ts';

export interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
  /** The body was cut at BODY_CAP (validated as far as it goes: it will not parse). */
  readonly truncated: boolean;
}

const BODY_CAP = 4 * 1024 * 1024;

export function urlOf(base: string, req: PlannedRequest): string {
  const q = req.query.length > 0 ? `?${req.query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}` : '';
  return `${base.replace(/\/+$/, '')}${req.path}${q}`;
}

export async function send(base: string, req: PlannedRequest, timeoutMs: number): Promise<Answer> {
  const headers: Record<string, string> = { ...req.headers, 'user-agent': 'endpoints-gateway-contract' };
  if (req.body) headers['content-type'] = req.body.contentType;
  const res = await request(urlOf(base, req), {
    method: req.method as 'GET',
    headers,
    ...(req.body ? { body: req.body.text } : {}),
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  for await (const chunk of res.body) {
    const b = chunk as Buffer;
    if (size + b.length > BODY_CAP) {
      chunks.push(b.subarray(0, BODY_CAP - size));
      truncated = true;
      res.body.destroy();
      break;
    }
    chunks.push(b);
    size += b.length;
  }
  return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), truncated };
}
