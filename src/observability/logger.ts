import { pino, type Logger, type LoggerOptions } from 'pino';

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
  };
  const dest = opts.destination;
  if (dest === undefined) {
    // Batched writes (one write per ~4 KiB of lines, not one per request) on
    // a background flush; pino flushes what is left when the process exits.
    const out = pino.destination({ dest: 1, sync: false, minLength: 4096 });
    setInterval(() => {
      try {
        out.flush();
      } catch {
        /* not open yet, or already ended: the next tick or exit flushes */
      }
    }, 250).unref();
    return pino(options, out);
  }
  if (typeof dest === 'number') return pino(options, pino.destination({ dest, sync: false }));
  return pino(options, dest);
}

/** A logger that drops everything (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
