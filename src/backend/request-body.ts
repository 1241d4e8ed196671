import type { IncomingMessage } from 'node:http';
import { BodyTooLarge } from './body-limit.ts';

/**
 * A body up to this size (by Content-Length) is read whole before its first
 * try: small enough that holding it costs no latency worth streaming for.
 * Larger ones stream, and are remembered for a retry up to the buffer limit
 * (src/backend/body-limit.ts; Envoy buffers for retries up to its connection
 * buffer limit; ESPv2's tests retry a POST with a small JSON body).
 */
export const READ_WHOLE_BOUND = 64 * 1024;

/** Reads a body known (by Content-Length) to fit READ_WHOLE_BOUND. */
export async function readSmallBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size > READ_WHOLE_BOUND) throw new Error('request body longer than its Content-Length');
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

/**
 * A body streamed to the backend as it arrives, with backpressure (undici
 * pulls the iterator as the socket drains). Its first `replayBound` bytes are
 * remembered: a try that failed after the whole body was read within that
 * bound can be replayed; one that had streamed past it cannot.
 */
export class StreamedBody {
  private readonly req: IncomingMessage;
  private readonly replayBound: number;
  /** Past this many bytes the body is refused: `onTooLarge` answers, then the try's body fails. */
  private readonly maxBytes: number;
  private readonly onTooLarge: (() => void) | undefined;
  private total = 0;
  private chunks: Buffer[] = [];
  private size = 0;
  private overflow = false;
  private started = false;
  private ended = false;

  constructor(req: IncomingMessage, replayBound: number, maxBytes = Infinity, onTooLarge?: () => void) {
    this.req = req;
    this.replayBound = replayBound;
    this.maxBytes = maxBytes;
    this.onTooLarge = onTooLarge;
  }

  get replayable(): boolean {
    return !this.started || (this.ended && !this.overflow);
  }

  /** The body for the next try: the live stream the first time, the remembered bytes after. */
  forTry(): AsyncIterable<Buffer> | Buffer {
    if (!this.started) return this.pull();
    return Buffer.concat(this.chunks, this.size);
  }

  private async *pull(): AsyncGenerator<Buffer> {
    this.started = true;
    // destroyOnReturn false: a failed try must not destroy the client's request (and its socket).
    for await (const chunk of this.req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      this.total += chunk.length;
      if (this.total > this.maxBytes) {
        this.overflow = true;
        this.chunks = [];
        this.onTooLarge?.();
        throw new BodyTooLarge();
      }
      if (!this.overflow) {
        if (this.size + chunk.length <= this.replayBound) {
          this.chunks.push(chunk);
          this.size += chunk.length;
        } else {
          this.overflow = true;
          this.chunks = [];
        }
      }
      yield chunk;
    }
    this.ended = true;
  }
}
