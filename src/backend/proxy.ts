import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { RequestContext } from '../context.ts';
import { Errors, GatewayError } from '../errors.ts';
import { sendError } from '../http/answer.ts';
import { checkTransferEncoding, withoutResponseHopByHop } from './hop-by-hop.ts';
import { Origins, type Origin } from './origins.ts';
import type { BackendTls } from '../tls/backend-tls.ts';
import type { BackendTlsOverrides } from '../tls/backend-tls-overrides.ts';
import type { TunnelSlots } from './websocket.ts';
import { readSmallBody, READ_WHOLE_BOUND, StreamedBody } from './request-body.ts';
import { retriesFailure, retriesStatus, retryPolicy, type RetryPolicy } from './retry-policy.ts';
import { classify, failureAnswer, Failures, type UpstreamFailure } from './upstream-errors.ts';
import { compressResponse, type ResponseEncoder } from './compression.ts';
import type { HeaderRules } from './header-rules.ts';
import { bodyTooLarge, DEFAULT_BUFFER_LIMIT, type BodyLimit } from './body-limit.ts';
import type { AttemptSpan } from '../tracing/request-trace.ts';

/** ESPv2's default --backend_retry_ons. */
export const DEFAULT_RETRY_ONS: readonly string[] = ['reset', 'connect-failure', 'refused-stream'];

export interface ProxyEvents {
  /** An upstream failure the gateway answered for (kind: a bounded label: timeout, connect_refused, reset, protocol, ...). */
  onUpstreamError?: (req: IncomingMessage, kind: string, err: Error) => void;
  /** Configuration warnings at start (an unknown retry-on value). */
  onWarning?: (msg: string, fields?: Record<string, unknown>) => void;
  readonly retryOns?: readonly string[];
  readonly retryNum?: number;
  readonly perTryTimeoutMs?: number | undefined;
  readonly maxConnections?: number;
  readonly maxPending?: number;
  /** --validate report|enforce (src/validation/); undefined (off): no check, no cost. */
  readonly contract?: ContractHooks | undefined;
  /** --enable-response-compression: gzip, br (and zstd) by Accept-Encoding; off: not a single check per response. */
  readonly compression?: boolean;
  /** --add/append-request/response-header, --enable-operation-name-header; undefined when none is set. */
  readonly headerRules?: HeaderRules | undefined;
  /** --max-request-body-bytes and the buffering bound (src/backend/body-limit.ts). */
  readonly bodyLimit?: BodyLimit | undefined;
  /** --ssl-backend-client-*: TLS credentials for https backends. */
  readonly backendTls?: BackendTls | undefined;
  /** x-endpoints-tls: backends' own credentials. */
  readonly backendTlsOverrides?: BackendTlsOverrides | undefined;
}

/** What the proxy asks the traffic validation, when it is on. */
export interface ContractHooks {
  /** The request body already read whole (to be validated), forwarded as is; undefined: read it as usual. */
  requestBody(req: IncomingMessage): Buffer | undefined;
  /** The final response head: undefined passes it untouched, an error is answered instead, a watch sees the body. */
  response(req: IncomingMessage, status: number, headers: Record<string, string | string[] | undefined>): ResponseWatch | GatewayError | undefined;
}

export interface ResponseWatch {
  /** True: send neither head nor body until end() passes (enforce); false: they pass as they come. */
  readonly hold: boolean;
  /** The chunks kept while holding, sent unchanged once end() passes. */
  readonly held: readonly Buffer[];
  /** An error (holding only) is answered instead of the response. */
  data(chunk: Buffer): GatewayError | undefined;
  end(): GatewayError | undefined;
}

interface Shared {
  readonly policy: RetryPolicy;
  readonly perTryTimeoutMs: number;
  readonly onUpstreamError: ((req: IncomingMessage, kind: string, err: Error) => void) | undefined;
  readonly contract: ContractHooks | undefined;
  readonly compression: boolean;
  readonly headerRules: HeaderRules | undefined;
  readonly bufferBytes: number;
  readonly maxBodyBytes: number;
}

const kExchange = Symbol('exchange');
type Tagged = ServerResponse & { [kExchange]?: Exchange };

const ABANDONED = new Error('try abandoned');
const NOT_READ = new Error('request body could not be read');

/**
 * One try of an exchange: undici's handler. A try is abandoned (dead) when
 * the exchange moves on (retry, deadline, client gone); its late callbacks
 * then do nothing, so a stale try can never write to the client.
 */
class Attempt implements Dispatcher.DispatchHandler {
  readonly ex: Exchange;
  controller: Dispatcher.DispatchController | undefined = undefined;
  dead = false;
  /** Its client span, for a sampled request (src/tracing/). */
  span: AttemptSpan | undefined = undefined;

  constructor(ex: Exchange) {
    this.ex = ex;
  }

  kill(): void {
    this.dead = true;
    this.span?.fail('abandoned');
    this.controller?.abort(ABANDONED);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.dead) controller.abort(ABANDONED);
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>): void {
    if (this.dead) controller.abort(ABANDONED);
    else this.ex.head(this, status, headers);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.dead) return;
    const ex = this.ex;
    ex.ctx.responseBytes += chunk.length;
    if (ex.encoder !== undefined) return ex.writeEncoded(controller, chunk);
    const res = ex.res;
    // Backpressure: stop reading the backend until the client has drained.
    if (!res.write(chunk)) {
      controller.pause();
      if (!ex.drainHooked) {
        ex.drainHooked = true;
        res.on('drain', onDrain);
      }
    }
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    if (this.dead) return;
    this.span?.end();
    this.ex.end(trailers);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.dead) return;
    const f = classify(err);
    this.span?.fail(f.kind);
    this.ex.fail(f, err);
  }
}

/** An Attempt whose response body a contract watch sees (--validate); holding, it is sent only once judged. */
class CheckedAttempt extends Attempt {
  watch: ResponseWatch | undefined = undefined;

  override onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const w = this.watch;
    if (this.dead || w === undefined) return super.onResponseData(controller, chunk);
    const refusal = w.data(chunk);
    if (refusal !== undefined) {
      this.kill();
      this.ex.refuse(refusal);
    } else if (!w.hold) super.onResponseData(controller, chunk);
  }

  override onResponseEnd(controller: Dispatcher.DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    const w = this.watch;
    if (this.dead || w === undefined) return super.onResponseEnd(controller, trailers);
    const refusal = w.end();
    if (refusal === undefined && !w.hold) return super.onResponseEnd(controller, trailers);
    // The response is complete: this try does nothing more, and has nothing left to abort.
    this.dead = true;
    this.span?.end();
    if (refusal !== undefined) this.ex.refuse(refusal);
    else this.ex.release(this, w, trailers);
  }
}

/** One client request's trip to its backend, across tries. */
class Exchange {
  readonly req: IncomingMessage;
  readonly res: Tagged;
  readonly ctx: RequestContext;
  readonly shared: Shared;
  readonly origin: Origin;
  readonly opts: Dispatcher.DispatchOptions;
  body: StreamedBody | Buffer | null = null;
  attempt: Attempt | undefined = undefined;
  tries = 0;
  /** The response head has been written: no retry, no JSON answer, only a cut. */
  started = false;
  /** Nothing more to do: answered, ended, or the client left. */
  finished = false;
  drainHooked = false;
  tryTimer: NodeJS.Timeout | undefined = undefined;
  /** A response head held until its body is judged (--validate enforce). */
  heldHead: [number, Record<string, string | string[] | undefined>] | undefined = undefined;
  /** --enable-response-compression: the encoder the body goes through, piped to the client. */
  encoder: ResponseEncoder | undefined = undefined;

  constructor(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, shared: Shared, origin: Origin) {
    this.req = req;
    this.res = res as Tagged;
    this.ctx = ctx;
    this.shared = shared;
    this.origin = origin;
    this.opts = { path: req.url!, method: req.method as Dispatcher.HttpMethod, headers: req.headers, body: null };
  }

  /** The body as it arrives; past --max-request-body-bytes the exchange answers 413 (or is cut, once started). */
  streamedBody(): StreamedBody {
    const max = bodyLimit(this.ctx, this.shared);
    return new StreamedBody(this.req, this.shared.bufferBytes, max, max === Infinity ? undefined : () => this.tooLarge());
  }

  private tooLarge(): void {
    if (this.finished) return;
    this.attempt?.kill();
    if (this.started) {
      this.finished = true;
      this.res.destroy();
    } else this.refuse(bodyTooLarge());
  }

  dispatchTry(): void {
    this.tries++;
    const a = this.shared.contract === undefined ? new Attempt(this) : new CheckedAttempt(this);
    this.attempt = a;
    const t = this.ctx.trace;
    if (t !== undefined) a.span = t.attempt(this.req.headers, this.tries, this.ctx.rule!, this.opts.method);
    const b = this.body;
    // undici accepts async iterables as bodies (its types list only streams).
    this.opts.body = (b instanceof StreamedBody ? b.forTry() : b) as Dispatcher.DispatchOptions['body'];
    if (this.shared.perTryTimeoutMs > 0) this.tryTimer = setTimeout(onTryTimeout, this.shared.perTryTimeoutMs, a);
    try {
      this.origin.pool.dispatch(this.opts, a);
    } catch (err) {
      // undici validates the request synchronously (a header it refuses).
      a.dead = true;
      a.span?.fail(Failures.protocol.kind);
      this.fail(Failures.protocol, err as Error);
    }
  }

  private canRetry(): boolean {
    if (this.tries > this.shared.policy.num || this.ctx.timedOut || this.res.destroyed) return false;
    const b = this.body;
    return !(b instanceof StreamedBody) || b.replayable;
  }

  head(a: Attempt, status: number, backendHeaders: Record<string, string | string[] | undefined>): void {
    a.span?.status(status);
    if (status < 200) {
      // 102/103 are informational and not forwarded; below 100 is not HTTP.
      if (status >= 100) return;
      a.kill();
      this.fail(Failures.badStatus, new Error(`backend status ${status}`));
      return;
    }
    if (status > 599) {
      a.kill();
      this.fail(Failures.badStatus, new Error(`backend status ${status}`));
      return;
    }
    if (this.shared.policy.num > 0 && retriesStatus(this.shared.policy, status) && this.canRetry()) {
      a.span?.fail('retried');
      a.kill();
      clearTimeout(this.tryTimer);
      this.dispatchTry();
      return;
    }
    clearTimeout(this.tryTimer);
    const headers = withoutResponseHopByHop(backendHeaders);
    if (this.shared.contract !== undefined && this.checkHead(a as CheckedAttempt, status, headers)) return;
    this.sendHead(a, status, headers);
  }

  /** --validate: true when the head is not to be sent now (refused, or held until its body is judged). */
  private checkHead(a: CheckedAttempt, status: number, headers: Record<string, string | string[] | undefined>): boolean {
    const w = this.shared.contract!.response(this.req, status, headers);
    if (w === undefined) return false;
    if (w instanceof GatewayError) {
      a.kill();
      this.refuse(w);
      return true;
    }
    a.watch = w;
    if (!w.hold) return false;
    this.heldHead = [status, headers];
    // Nothing was sent, but the backend has answered: never retried, as once started.
    this.started = true;
    return true;
  }

  /** --validate enforce: the held response passed; it goes out as the backend sent it. */
  release(a: Attempt, w: ResponseWatch, trailers: Record<string, string | string[] | undefined>): void {
    const [status, headers] = this.heldHead!;
    this.started = false;
    this.sendHead(a, status, headers);
    if (!this.started) return;
    for (const chunk of w.held) {
      this.ctx.responseBytes += chunk.length;
      if (this.encoder !== undefined) this.encoder.write(chunk);
      else this.res.write(chunk);
    }
    this.end(trailers);
  }

  /** --validate enforce: the contract's refusal instead of the backend's response. */
  refuse(err: GatewayError): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.tryTimer);
    clearTimeout(this.ctx.timer);
    sendError(this.res, this.ctx, err);
  }

  private sendHead(a: Attempt, status: number, headers: Record<string, string | string[] | undefined>): void {
    const res = this.res;
    const shared = this.shared;
    if (shared.headerRules !== undefined) shared.headerRules.response(headers);
    if (shared.compression) this.encoder = compressResponse(this.req.headers['accept-encoding'], this.req.method, status, headers);
    try {
      // Kept readable through getHeader (the access log's response size); writeHead sends it once.
      const cl = headers['content-length'];
      if (cl !== undefined) res.setHeader('content-length', cl);
      // A cookie the gateway set on this response (a refreshed sign-in session) joins the backend's own.
      const ours = res.getHeader('set-cookie');
      if (ours !== undefined && headers['set-cookie'] !== undefined) headers['set-cookie'] = [...[headers['set-cookie']].flat(), ...[ours].flat().map(String)];
      res.writeHead(status, headers as Record<string, string | string[]>);
    } catch (err) {
      // A value Node refuses to send (a control byte): nothing was written yet.
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      this.encoder?.destroy();
      this.encoder = undefined;
      a.kill();
      this.fail(Failures.badHeader, err as Error);
      return;
    }
    this.started = true;
    this.encoder?.start(res);
  }

  /** Compressing: the body goes through the encoder; a full encoder pauses the backend until it drains. */
  writeEncoded(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const enc = this.encoder!;
    if (!enc.write(chunk)) {
      controller.pause();
      enc.onDrain(() => this.attempt?.controller?.resume());
    }
  }

  end(trailers: Record<string, string | string[] | undefined>): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.ctx.timer);
    const res = this.res;
    // Trailers can only ride on a chunked response; otherwise they are dropped.
    if (res.chunkedEncoding) {
      for (const _ in trailers) {
        try {
          res.addTrailers(trailers as Record<string, string>);
        } catch {
          // A trailer Node refuses is dropped, never a crash.
        }
        break;
      }
    }
    // The encoder ends the response once its last bytes are out.
    if (this.encoder !== undefined) this.encoder.end();
    else res.end();
  }

  fail(f: UpstreamFailure, err: Error): void {
    if (this.finished) return;
    clearTimeout(this.tryTimer);
    if (!this.started && retriesFailure(this.shared.policy, f) && this.canRetry()) {
      // Counted apart: the exchange's own outcome is reported once, by its last try.
      this.shared.onUpstreamError?.(this.req, 'retried', err);
      this.dispatchTry();
      return;
    }
    this.shared.onUpstreamError?.(this.req, f.kind, err);
    this.finished = true;
    clearTimeout(this.ctx.timer);
    if (this.started) this.res.destroy();
    else if (f === Failures.perTryTimeout) sendError(this.res, this.ctx, Errors.upstreamTimeout());
    else sendError(this.res, this.ctx, failureAnswer(f, this.tries > 1));
  }
}

function onDrain(this: Tagged): void {
  this[kExchange]?.attempt?.controller?.resume();
}

function onTryTimeout(a: Attempt): void {
  const ex = a.ex;
  if (a !== ex.attempt || ex.finished || ex.started) return;
  a.span?.fail(Failures.perTryTimeout.kind);
  a.kill();
  ex.fail(Failures.perTryTimeout, new Error('per-try timeout'));
}

function onDeadline(ex: Exchange): void {
  if (ex.finished) return;
  ex.finished = true;
  ex.ctx.timedOut = true;
  clearTimeout(ex.tryTimer);
  ex.attempt?.span?.fail('timeout');
  ex.attempt?.kill();
  ex.shared.onUpstreamError?.(ex.req, 'timeout', new Error('deadline exceeded'));
  if (!ex.started) sendError(ex.res, ex.ctx, Errors.upstreamTimeout());
  else ex.res.destroy();
}

// Shared listener (no closure per request): the response is over, answered or abandoned.
function onClose(this: Tagged): void {
  const ex = this[kExchange];
  if (ex === undefined) return;
  this[kExchange] = undefined;
  clearTimeout(ex.ctx.timer);
  clearTimeout(ex.tryTimer);
  ex.origin.inFlight--;
  // The client left, or the response is done: the encoder's memory goes now.
  ex.encoder?.destroy();
  if (!ex.finished) {
    // The client left first: stop the backend exchange too.
    ex.finished = true;
    ex.attempt?.kill();
  }
}

function onSmallBody(this: Exchange, body: Buffer): void {
  if (this.finished) return;
  this.body = body;
  this.dispatchTry();
}

function onSmallBodyError(this: Exchange): void {
  if (this.finished) return;
  this.finished = true;
  clearTimeout(this.ctx.timer);
  this.shared.onUpstreamError?.(this.req, 'client_body', NOT_READ);
  sendError(this.res, this.ctx, Errors.badRequest());
}

const BAD_TE = Errors.badRequest();
const UNSUPPORTED_TE = new GatewayError(501, 'Not Implemented', 'unsupported_transfer_encoding');

/**
 * The forwarding stage: one keep-alive undici pool per backend origin, bodies
 * streamed both ways with backpressure, Envoy's header policy, limits and
 * reset reasons, ESPv2's retries. The pipeline has already rewritten req.url
 * and the headers (hop-by-hop removed); here we frame the body, pick the
 * origin and bound the exchange by the backend's deadline. Whatever the
 * backend sends, the client gets its response, ESP's JSON 502/503/504, or a
 * cut connection once a response had started: never a thrown error.
 */
export function createBackendProxy(events: ProxyEvents = {}) {
  const origins = new Origins({ maxConnections: events.maxConnections ?? 1024, maxPending: events.maxPending ?? 1024, tls: events.backendTls, overrides: events.backendTlsOverrides });
  const shared: Shared = {
    policy: retryPolicy(events.retryOns ?? DEFAULT_RETRY_ONS, events.retryNum ?? 1, events.onWarning),
    perTryTimeoutMs: events.perTryTimeoutMs ?? 0,
    onUpstreamError: events.onUpstreamError,
    contract: events.contract,
    compression: events.compression === true,
    headerRules: events.headerRules,
    bufferBytes: events.bodyLimit?.bufferBytes ?? DEFAULT_BUFFER_LIMIT,
    maxBodyBytes: events.bodyLimit?.maxBytes ?? Infinity,
  };

  /** Forwards a request the chain passed (req.url and headers already the backend's). Throws only on a bug. */
  function forward(req: IncomingMessage, res: ServerResponse): void {
    // The client left while the chain ran: its 'close' has fired already, nothing to forward.
    if (res.destroyed) return;
    const ctx = req.gw!;
    const rule = ctx.rule!;
    const headers = req.headers;
    ctx.upstreamStartNs = process.hrtime.bigint();

    // Framing: undici frames what it sends itself.
    let streamed = false;
    const te = headers['transfer-encoding'];
    if (te !== undefined) {
      const verdict = checkTransferEncoding(te);
      if (verdict !== 'ok') {
        sendError(res, ctx, verdict === 'malformed' ? BAD_TE : UNSUPPORTED_TE);
        return;
      }
      delete headers['transfer-encoding'];
      streamed = true;
    }
    // Node answered any 100-continue itself; undici refuses to send Expect.
    if (headers.expect !== undefined) delete headers.expect;
    // An upgrade never reaches this stage (the server's 'upgrade' event takes it).
    if (headers.upgrade !== undefined) delete headers.upgrade;
    if (headers.connection !== undefined) delete headers.connection;

    if (shared.headerRules !== undefined) shared.headerRules.request(headers, ctx.op);
    const cl = headers['content-length'];
    if (cl !== undefined && Number(cl) > bodyLimit(ctx, shared)) {
      sendError(res, ctx, bodyTooLarge());
      return;
    }

    const origin = origins.get(rule);
    if (origin.inFlight >= origin.limit) {
      // Envoy's circuit breaker: a full queue answers at once rather than at the deadline.
      shared.onUpstreamError?.(req, 'overflow', new Error('backend connection queue full'));
      sendError(res, ctx, failureAnswer(Failures.overflow, false));
      return;
    }
    const ex = new Exchange(req, res, ctx, shared, origin);
    origin.inFlight++;
    (res as Tagged)[kExchange] = ex;
    // on, not once (no wrapper to make and remove per request): onClose runs its work only the first time.
    res.on('close', onClose);
    // The deadline may have started before (a body read for validation): what is left of it.
    const spent = ctx.deadlineStartNs === 0n ? 0 : Number(process.hrtime.bigint() - ctx.deadlineStartNs) / 1e6;
    ctx.timer = setTimeout(onDeadline, Math.max(0, rule.deadlineMs - spent), ex);

    if (shared.contract !== undefined) {
      const read = shared.contract.requestBody(req);
      if (read !== undefined) {
        if (read.length > bodyLimit(ctx, shared)) return ex.refuse(bodyTooLarge());
        ex.body = read;
        ex.dispatchTry();
        return;
      }
    }
    if (streamed) {
      ex.body = ex.streamedBody();
    } else if (cl !== undefined && cl !== '0') {
      if (Number(cl) <= READ_WHOLE_BOUND) {
        // Small enough to keep whole: read it first, and every try can resend it.
        readSmallBody(req).then(onSmallBody.bind(ex), onSmallBodyError.bind(ex));
        return;
      }
      ex.body = ex.streamedBody();
    }
    ex.dispatchTry();
  }

  return {
    forward,
    /** Closes every backend pool (after the listener has drained). */
    close: (): Promise<void> => origins.close(),
    /** The per-origin connection budget, shared with WebSocket tunnels (createUpgradeHandler's `slots`). */
    slots: origins as TunnelSlots,
  };
}

/** The most a request body may hold here: the operation's own limit (x-endpoints-max-request-body-bytes), else --max-request-body-bytes. */
function bodyLimit(ctx: RequestContext, shared: Shared): number {
  return ctx.op?.maxRequestBodyBytes ?? shared.maxBodyBytes;
}
