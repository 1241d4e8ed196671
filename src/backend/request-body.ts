import type { IncomingMessage } from 'node:http';

/**
 * How much of a request body is kept so a failed try can be sent again
 * (Envoy buffers for retries up to its connection buffer limit; ESPv2's tests
 * retry a POST with a small JSON body).
 */
export const REPLAY_BOUND = 64 * 1024;

/** Reads a body known (by Content-Length) to fit the replay bound. */
export async function readSmallBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size > REPLAY_BOUND) throw new Error('request body longer than its Content-Length');
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

/**
 * A body streamed to the backend as it arrives, with backpressure (undici
 * pulls the iterator as the socket drains). Its first REPLAY_BOUND bytes are
 * remembered: a try that failed after the whole body was read within that
 * bound can be replayed; one that had streamed past it cannot.
 */
export class StreamedBody {
  private readonly req: IncomingMessage;
  private chunks: Buffer[] = [];
  private size = 0;
  private overflow = false;
  private started = false;
  private ended = false;

  constructor(req: IncomingMessage) {
    this.req = req;
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
      if (!this.overflow) {
        if (this.size + chunk.length <= REPLAY_BOUND) {
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
