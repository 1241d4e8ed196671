/**
 * Reads a request body so it can be validated, then handed to the proxy
 * (which forwards the bytes read here, unchanged). Bounded by BODY_LIMIT: a
 * declared Content-Length over it is not read at all; a chunked body that
 * grows past it is put back in front of the stream (Readable.unshift) and
 * streamed on as if nothing had been read.
 *
 * A request destroyed while it is read (the client gone, the request
 * deadline) rejects the iteration at once (the destroy error, or
 * ERR_STREAM_PREMATURE_CLOSE), so the read settles then and the chunks it
 * held go with it: nothing here waits on a timer of its own.
 */
import type { IncomingMessage } from 'node:http';
import { BODY_LIMIT } from './violations.ts';

export type ReadBody =
  | { readonly kind: 'none' }
  /** Read whole (possibly empty, for a chunked request without data). */
  | { readonly kind: 'whole'; readonly bytes: Buffer }
  /** Too large to validate; `bytes` when the whole body was read all the same (it ended in the last chunk). */
  | { readonly kind: 'too-large'; readonly bytes?: Buffer };

const NONE: ReadBody = { kind: 'none' };
const TOO_LARGE: ReadBody = { kind: 'too-large' };

export async function readBodyForValidation(req: IncomingMessage, limit = BODY_LIMIT): Promise<ReadBody> {
  const cl = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (!chunked) {
    if (cl === undefined || cl === '0') return NONE;
    if (Number(cl) > limit) return TOO_LARGE;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size > limit) {
      over = true;
      break;
    }
  }
  const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
  if (!over) return { kind: 'whole', bytes };
  if (req.readableEnded) return { kind: 'too-large', bytes };
  req.unshift(bytes);
  return TOO_LARGE;
}
