/**
 * Response compression (ESPv2 --enable_response_compression: Envoy's
 * compressor filter, gzip then brotli, with its defaults). Decided once per
 * response from its head; the body then streams through a node:zlib encoder
 * that flushes after every chunk, as Envoy does, so a streamed response
 * (server-sent events) reaches the client as it comes.
 */
import zlib from 'node:zlib';
import type { Transform } from 'node:stream';
import type { ServerResponse } from 'node:http';

type Headers = Record<string, string | string[] | undefined>;

/** Envoy's compressor defaults: below this many bytes (by Content-Length) a response is sent as is. */
export const MIN_CONTENT_LENGTH = 30;

/** Envoy's default content types (parameters ignored); a response without Content-Type is compressed too. */
export const CONTENT_TYPES: ReadonlySet<string> = new Set([
  'application/javascript',
  'application/json',
  'application/xhtml+xml',
  'image/svg+xml',
  'text/css',
  'text/html',
  'text/plain',
  'text/xml',
]);

export type Coding = 'gzip' | 'br' | 'zstd';

/** In ESPv2's filter order: on equal q-values the first wins (its tests: `gzip,br` gets gzip). zstd only where Node has it. */
export const CODINGS: readonly Coding[] = typeof zlib.createZstdCompress === 'function' ? ['gzip', 'br', 'zstd'] : ['gzip', 'br'];

/**
 * The coding to use for an Accept-Encoding value (RFC 9110 12.5.3): the
 * highest q among ours, `*` standing for any not named; none when nothing
 * acceptable is ours, or when `identity` is preferred to all of them.
 */
export function negotiate(acceptEncoding: string | undefined, codings: readonly Coding[] = CODINGS): Coding | undefined {
  if (acceptEncoding === undefined || acceptEncoding === '') return undefined;
  const q = new Map<string, number>();
  for (const part of acceptEncoding.split(',')) {
    const [rawName, ...params] = part.split(';');
    const name = rawName!.trim().toLowerCase();
    if (name === '') continue;
    let value = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(p);
      if (m) value = Number(m[1]);
    }
    if (!Number.isFinite(value) || value < 0 || value > 1) continue;
    // A coding named twice keeps its first weight.
    if (!q.has(name)) q.set(name, value);
  }
  const star = q.get('*');
  let best: Coding | undefined;
  let bestQ = 0;
  for (const c of codings) {
    const v = q.get(c) ?? star ?? 0;
    if (v > bestQ) {
      best = c;
      bestQ = v;
    }
  }
  if (best === undefined) return undefined;
  const identity = q.get('identity');
  if (identity !== undefined && identity > bestQ) return undefined;
  return best;
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function hasToken(v: string | string[] | undefined, token: string): boolean {
  if (v === undefined) return false;
  for (const line of [v].flat()) for (const t of line.split(',')) if (t.trim().toLowerCase() === token) return true;
  return false;
}

/** Whether a response's head allows compressing its body at all (Envoy's checks, Accept-Encoding aside). */
export function compressible(method: string | undefined, status: number, headers: Headers): boolean {
  // No body to compress, or one a client must not see changed.
  if (method === 'HEAD' || status === 204 || status === 304) return false;
  const ce = first(headers['content-encoding']);
  if (ce !== undefined && ce.trim() !== '' && ce.trim().toLowerCase() !== 'identity') return false;
  if (hasToken(headers['cache-control'], 'no-transform')) return false;
  const cl = first(headers['content-length']);
  if (cl !== undefined && Number(cl) < MIN_CONTENT_LENGTH) return false;
  const ct = first(headers['content-type']);
  if (ct !== undefined) {
    const semi = ct.indexOf(';');
    if (!CONTENT_TYPES.has((semi < 0 ? ct : ct.slice(0, semi)).trim().toLowerCase())) return false;
  }
  return true;
}

/** Adds Accept-Encoding to Vary, unless it is there already (or Vary is `*`). */
function addVary(headers: Headers): void {
  const vary = headers.vary;
  if (vary === undefined) {
    headers.vary = 'Accept-Encoding';
    return;
  }
  if (hasToken(vary, 'accept-encoding') || hasToken(vary, '*')) return;
  headers.vary = [...[vary].flat(), 'Accept-Encoding'];
}

/** Envoy's compressor parameters, per coding. */
const GZIP: zlib.ZlibOptions = { level: 6, windowBits: 12, memLevel: 5 }; // Envoy's gzip defaults: a 4 KiB window, memory level 5
// Envoy's brotli default quality is 3 (zlib's 11 is far too slow for a proxy), window 18 as Envoy.
const BROTLI: zlib.BrotliOptions = { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 3, [zlib.constants.BROTLI_PARAM_LGWIN]: 18 } };

function stream(coding: Coding): Transform {
  switch (coding) {
    case 'gzip':
      return zlib.createGzip({ ...GZIP, flush: zlib.constants.Z_SYNC_FLUSH });
    case 'br':
      return zlib.createBrotliCompress({ ...BROTLI, flush: zlib.constants.BROTLI_OPERATION_FLUSH });
    case 'zstd':
      return zlib.createZstdCompress({ flush: zlib.constants.ZSTD_e_flush });
  }
}

function whole(coding: Coding, body: Buffer): Buffer {
  switch (coding) {
    case 'gzip':
      return zlib.gzipSync(body, GZIP);
    case 'br':
      return zlib.brotliCompressSync(body, BROTLI);
    case 'zstd':
      return zlib.zstdCompressSync(body);
  }
}

/**
 * A body up to this size (by Content-Length) is compressed in one call when
 * it has all arrived, on this thread, as Envoy compresses on its worker: a
 * stream per response (a zlib context, a thread-pool trip per chunk) costs
 * about twice the CPU for a 10 KB body. Larger or unsized bodies stream.
 */
export const WHOLE_BOUND = 64 * 1024;

/** Where the proxy writes a compressed response's body (src/backend/proxy.ts). */
export interface ResponseEncoder {
  /** Sends the encoded bytes to `res` from now on. */
  start(res: ServerResponse): void;
  /** False: full; the backend waits for `onDrain`. */
  write(chunk: Buffer): boolean;
  onDrain(resume: () => void): void;
  /** The body is complete: the rest goes out and `res` ends. */
  end(): void;
  /** The exchange is over early (the client left, a failure): memory released, nothing more written. */
  destroy(): void;
}

/** Compresses chunk by chunk, flushing each (Envoy's behaviour: a streamed response reaches the client as it comes). */
class StreamEncoder implements ResponseEncoder {
  readonly #z: Transform;
  constructor(coding: Coding) {
    this.#z = stream(coding);
  }
  start(res: ServerResponse): void {
    this.#z.pipe(res);
    // An encoder failure (never expected) cuts the response, as a backend reset would.
    this.#z.once('error', () => res.destroy());
  }
  write(chunk: Buffer): boolean {
    return this.#z.write(chunk);
  }
  onDrain(resume: () => void): void {
    this.#z.once('drain', resume);
  }
  end(): void {
    this.#z.end();
  }
  destroy(): void {
    if (!this.#z.destroyed && !this.#z.writableEnded) this.#z.destroy();
  }
}

/** Keeps a small sized body (at most WHOLE_BOUND) and compresses it in one call at its end. */
class WholeEncoder implements ResponseEncoder {
  readonly #coding: Coding;
  #chunks: Buffer[] = [];
  #size = 0;
  #res: ServerResponse | undefined;
  constructor(coding: Coding) {
    this.#coding = coding;
  }
  start(res: ServerResponse): void {
    this.#res = res;
  }
  write(chunk: Buffer): boolean {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    // Node's HTTP parser never lets a body run past its Content-Length: bounded.
    return true;
  }
  onDrain(): void {}
  end(): void {
    const body = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#size);
    this.#chunks = [];
    this.#res!.end(whole(this.#coding, body));
  }
  destroy(): void {
    this.#chunks = [];
  }
}

/**
 * For a response about to be sent: the encoder its body goes through, with
 * its head rewritten (Content-Encoding, no Content-Length, Vary, a strong
 * ETag made weak); undefined when it is sent as is. A compressible response
 * gets `Vary: Accept-Encoding` whether or not this client accepts a coding,
 * so caches keep the two forms apart.
 */
export function compressResponse(acceptEncoding: string | string[] | undefined, method: string | undefined, status: number, headers: Headers): ResponseEncoder | undefined {
  if (!compressible(method, status, headers)) return undefined;
  addVary(headers);
  const coding = negotiate(Array.isArray(acceptEncoding) ? acceptEncoding.join(',') : acceptEncoding);
  if (coding === undefined) return undefined;
  const cl = first(headers['content-length']);
  headers['content-encoding'] = coding;
  delete headers['content-length'];
  const etag = first(headers.etag);
  if (etag !== undefined && !etag.startsWith('W/')) headers.etag = `W/${etag}`;
  return cl !== undefined && Number(cl) <= WHOLE_BOUND ? new WholeEncoder(coding) : new StreamEncoder(coding);
}
