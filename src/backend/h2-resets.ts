import { subscribe } from 'node:diagnostics_channel';
import type { ClientHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';

/**
 * An HTTP/2 backend that resets a stream (RST_STREAM) before END_STREAM has
 * cut its response short, whatever the error code. Node's http2 reports
 * INTERNAL_ERROR and the like as stream errors, but takes NO_ERROR and CANCEL
 * as a normal end of the body, and undici then completes the response: the
 * client would get a truncated body as a whole one. Envoy takes any such
 * reset as a reset. Node tells of a stream's close on the
 * `http2.client.stream.close` channel, synchronously, before it ends the
 * readable side itself: if that side has not ended by then, no END_STREAM
 * came, and the stream is failed with an error (undici's onResponseError,
 * then the proxy's cut, log and count). Only streams on backend connections
 * the gateway opened are touched.
 */

const kGatewayBackend = Symbol('endpoints-gateway backend connection');

/** Marks a backend connection (from our undici connectors) as one whose streams are watched. */
export function markBackendSocket(socket: Socket): void {
  (socket as Socket & { [kGatewayBackend]?: true })[kGatewayBackend] = true;
}

const NAMES: Record<number, string> = { 0: 'NGHTTP2_NO_ERROR', 8: 'NGHTTP2_CANCEL' };

function ours(stream: ClientHttp2Stream): boolean {
  try {
    // session.socket is Node's proxy of the socket; a symbol read passes through (it throws once unbound).
    return (stream.session?.socket as (Socket & { [kGatewayBackend]?: true }) | undefined)?.[kGatewayBackend] === true;
  } catch {
    return false;
  }
}

function onStreamClose(message: unknown): void {
  const stream = (message as { stream?: ClientHttp2Stream }).stream;
  if (stream === undefined || stream.destroyed || stream.readableEnded || stream.readableAborted) return;
  // Ended by END_STREAM already (EOF is pushed before the close): a complete response.
  if ((stream as unknown as { _readableState?: { ended?: boolean } })._readableState?.ended === true) return;
  // Other codes already surface as stream errors; and nobody left to tell.
  const code = stream.rstCode;
  if ((code !== 0 && code !== 8) || stream.listenerCount('error') === 0 || !ours(stream)) return;
  stream.destroy(
    Object.assign(new Error(`Stream reset by the backend with ${NAMES[code]} before the end of the response`), { code: 'ERR_HTTP2_STREAM_ERROR' }),
  );
}

let watching = false;

/** Starts watching (once per process). */
export function watchH2Resets(): void {
  if (watching) return;
  watching = true;
  subscribe('http2.client.stream.close', onStreamClose);
}
