import { pino, type Logger, type LoggerOptions } from 'pino';
import { JSON_SYNTAX, redactSecrets, secretNames } from './redact.ts';

export type { Logger };

/** pino levels → Cloud Logging severities, so log lines are classified there. */
const SEVERITY: Record<string, string> = {
  trace: 'DEBUG',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARNING',
  error: 'ERROR',
  fatal: 'CRITICAL',
};

/**
 * Unwritten output past which access-log lines are dropped. Other lines
 * (warnings, errors) still go in until {@link LOG_BUFFER_LIMIT}: when something
 * has to go, the per-request lines go first.
 */
export const ACCESS_LOG_BUFFER_LIMIT = 4 * 1024 * 1024;
/** The bound on unwritten output (sonic-boom's `maxLength`): past it every line is dropped. */
export const LOG_BUFFER_LIMIT = 8 * 1024 * 1024;
/** Below this the output has caught up, and the drops so far are reported. */
const CAUGHT_UP = ACCESS_LOG_BUFFER_LIMIT / 4;

let droppedTotal = 0;

/** Log lines dropped since the process started because the log output (stdout) was not keeping up. */
export function droppedLogLines(): number {
  return droppedTotal;
}

/** What the access log asks the logger's own output before formatting a line. */
export interface LogOutput {
  /** True when the line should not be written (the output is backed up); the drop is counted. */
  shedAccessLine(): boolean;
  /** Gives up on what is still unwritten, so that exiting does not wait for a reader that never comes. */
  abandon(): void;
  /** Hands a batch of whole lines, already encoded, to the output (it keeps the buffer until written). */
  writeBytes(batch: Buffer): void;
}

const outputs = new WeakMap<Logger, LogOutput>();

/** The bounded output of a logger made by {@link createLogger} on a file descriptor; undefined for any other. */
export function logOutputOf(logger: Logger): LogOutput | undefined {
  return outputs.get(logger);
}

/** Lines that are not access-log lines (errors, upstream failures) can quote a URL too. */
const LINE_SECRETS = secretNames();
function redactLine(line: string): string {
  return redactSecrets(line, LINE_SECRETS, JSON_SYNTAX);
}

/**
 * Structured JSON logs that Cloud Logging understands (`severity`, `message`).
 * pino writes asynchronously (sonic-boom), so logging never blocks a request.
 */
export function createLogger(opts: { level?: string; destination?: NodeJS.WritableStream | number } = {}): Logger {
  const options: LoggerOptions = {
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    messageKey: 'message',
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ severity: SEVERITY[label] ?? 'DEFAULT' }),
    },
    hooks: { streamWrite: redactLine },
  };
  const dest = opts.destination ?? 1;
  if (typeof dest !== 'number') return pino(options, dest);

  // Batched writes (one write per ~4 KiB of lines) on a background flush
  // (every 250 ms, below); pino flushes what is left when the process exits.
  // The access log batches further on its own (lineWriter). When the fd stops
  // taking data (nobody reads the pipe), sonic-boom would buffer without
  // bound: `maxLength` makes it drop lines instead.
  //
  // The output holds bytes, not strings: the access log hands it batches it
  // encoded itself as it went (lineWriter). A string batch cost sonic-boom a
  // Buffer.byteLength over the whole batch on every write (and another over
  // what it already held), then an encoding copy: over half the access log's
  // CPU per request (npm run bench profiles). pino's own lines, a few per
  // minute, are encoded one by one on their way in.
  const out = pino.destination({ dest, sync: false, minLength: 4096, maxWrite: ACCESS_LOG_BATCH * 2, maxLength: LOG_BUFFER_LIMIT, contentMode: 'buffer' });
  // sonic-boom's types know only its string mode. Looked up on each call: pino replaces out.write after EPIPE.
  const writeOut = (bytes: Buffer): void => void out.write(bytes as unknown as string);
  const toBytes = { write: (line: string) => void (abandoned || writeOut(Buffer.from(line))), flush: (cb: (err?: Error) => void) => out.flush(cb) };
  const logger = pino(options, toBytes);
  // sonic-boom has no public accessor for what it holds unwritten.
  const buffered = (): number => (out as unknown as { _len?: number })._len ?? 0;

  let dropping = 0; // lines dropped since the output last caught up
  let abandoned = false;
  const dropped = (): void => {
    droppedTotal++;
    if (++dropping === 1) {
      // Goes in behind the lines already held, so it is read where the gap starts.
      logger.warn(
        { bufferedBytes: buffered(), limitBytes: ACCESS_LOG_BUFFER_LIMIT },
        'log output is not keeping up (is stdout read?): dropping access-log lines until it catches up',
      );
    }
  };
  out.on('drop', dropped);
  outputs.set(logger, {
    shedAccessLine() {
      if (buffered() < ACCESS_LOG_BUFFER_LIMIT) return false;
      dropped();
      return true;
    },
    abandon() {
      // Also unregisters pino's exit-time flushSync, which would spin on EAGAIN for ever.
      abandoned = true;
      out.destroy(); // a no-op when already destroyed
    },
    writeBytes(batch) {
      // Once abandoned the output is gone; what comes later is dropped.
      if (!abandoned) writeOut(batch);
    },
  });

  setInterval(() => {
    if (abandoned) return;
    try {
      out.flush();
    } catch {
      /* not open yet, or already ended: the next tick or exit flushes */
    }
    if (dropping > 0 && buffered() < CAUGHT_UP) {
      logger.warn({ droppedLines: dropping, droppedLinesTotal: droppedTotal }, `log output caught up; ${dropping} log lines were dropped`);
      dropping = 0;
    }
  }, 250).unref();
  return logger;
}

/** Lines handed to {@link lineWriter} and not yet given to the logger's output, per logger. */
const pendingLines = new WeakMap<Logger, () => void>();

/** Access-log bytes handed to the logger's output at once (or after ACCESS_LOG_DELAY_MS). */
const ACCESS_LOG_BATCH = 32 * 1024;
const ACCESS_LOG_DELAY_MS = 100;
/** Room past a full batch, so that the line that fills it still goes in whole. */
const BATCH_SLACK = 8 * 1024;

/**
 * A writer of pre-formatted JSON lines (the access log) to the logger's own
 * output, in batches of 32 KiB or 100 ms. A write to a pipe costs about the
 * same CPU whatever its size up to the pipe's 64 KiB (the wake-ups dominate:
 * 40-60 µs on a loaded 2-core machine): one write per request cost more CPU
 * than formatting the line (npm run bench profiles). Each line is encoded
 * into the batch's buffer as it comes, so the batch is never measured or
 * copied again on its way out. Other lines (warnings, errors) go out as
 * before, within 250 ms. {@link flushLogs} hands over what is still held.
 */
export function lineWriter(logger: Logger): (line: string) => void {
  const output = outputs.get(logger);
  // A logger on a stream of the embedder's (tests, library use) gets each line as it is made.
  if (output === undefined) {
    const stream = (logger as unknown as Record<symbol, { write(s: string): unknown }>)[pino.symbols.streamSym]!;
    return (line) => void stream.write(line);
  }
  let batch = Buffer.allocUnsafe(ACCESS_LOG_BATCH + BATCH_SLACK);
  let used = 0;
  let timer: NodeJS.Timeout | undefined;
  const handOver = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (used === 0) return;
    // The output keeps this buffer until it is written: the next batch gets a new one.
    const full = batch.subarray(0, used);
    batch = Buffer.allocUnsafe(ACCESS_LOG_BATCH + BATCH_SLACK);
    used = 0;
    output.writeBytes(full);
  };
  pendingLines.set(logger, handOver);
  return (line) => {
    // At most 3 bytes per UTF-16 unit: a line that might not fit starts a new batch.
    if (line.length * 3 > batch.length - used) {
      handOver();
      // Longer than any batch (many logged headers): it goes out on its own.
      if (line.length * 3 > batch.length) return output.writeBytes(Buffer.from(line));
    }
    used += batch.write(line, used);
    if (used >= ACCESS_LOG_BATCH) handOver();
    else if (timer === undefined) timer = setTimeout(handOver, ACCESS_LOG_DELAY_MS).unref();
  };
}

/**
 * Writes out what the logger holds, for at most `timeoutMs`: at exit, a log
 * output nobody reads (a stalled stdout pipe) must not keep the process alive.
 * Past the deadline the unwritten lines are dropped.
 */
export function flushLogs(logger: Logger, timeoutMs: number): Promise<void> {
  pendingLines.get(logger)?.();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      outputs.get(logger)?.abandon();
      resolve();
    }, timeoutMs);
    logger.flush(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** A logger that drops everything (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
