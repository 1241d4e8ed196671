/**
 * How much of a request body the gateway holds, and how much it accepts.
 * - bufferBytes (--envoy-connection-buffer-limit-bytes, ESPv2's flag; Envoy's
 *   default 1 MiB): the most of one body kept in memory, to send it again on a
 *   retry and to validate it (--validate). A body past it is streamed, not
 *   retried, not validated.
 * - maxBytes (--max-request-body-bytes): a body longer than this is refused
 *   413, by its Content-Length before anything is forwarded, or, streamed
 *   (chunked, HTTP/2), as soon as it grows past it.
 */
import { GatewayError } from '../errors.ts';

/** Envoy's per-connection buffer limit default (ESPv2 leaves it to Envoy). */
export const DEFAULT_BUFFER_LIMIT = 1024 * 1024;

export interface BodyLimit {
  readonly bufferBytes: number;
  /** undefined: no limit of the gateway's own. */
  readonly maxBytes: number | undefined;
}

/** Envoy's local reply for a body over its limit, in ESP's JSON form. */
export const bodyTooLarge = (): GatewayError => new GatewayError(413, 'Payload Too Large', 'body_too_large');

/** Thrown inside a streamed body to stop sending it; the exchange has answered 413 already. */
export class BodyTooLarge extends Error {
  constructor() {
    super('request body over --max-request-body-bytes');
  }
}
