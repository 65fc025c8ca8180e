// Logs: one pino logger for events, and an access log writing one JSON line per
// request or TCP session.
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination: number | string = 2): Logger {
  return pino({ level, base: { pid: process.pid } }, pino.destination({ dest: destination, sync: false }));
}

export interface AccessLog {
  write(entry: object): void;
  /** Writes out what is buffered (at once if the file is open; else once it is). */
  flush(): void;
  /** Writes out everything and closes the file. */
  close(): Promise<void>;
}

/** What a plugin may add to a request's (or session's) access-log line, by name. */
export type LogFields = Record<string, string | number | boolean>;

/**
 * The names the gateway writes in access-log lines itself, and pino's own: a plugin's
 * field may not take one, so it can neither hide nor forge what the gateway says.
 */
const reservedNames: ReadonlySet<string> = new Set([
  'level',
  'time',
  'msg',
  'gen',
  'frontend',
  'route',
  'backend',
  'server',
  'client',
  'method',
  'path',
  'http_version',
  'status',
  'bytes_in',
  'bytes_out',
  'ttfb_ms',
  'total_ms',
  'queue_ms',
  'plugins_ms',
  'connect_ms',
  'retries',
  'termination',
  'error',
  'mode',
  'protocol',
  'handoff',
  '__proto__',
]);

/** `fields` with `name: value` added; made on the first field, so a line no plugin adds to costs nothing. */
export function withLogField(fields: LogFields | undefined, name: string, value: string | number | boolean): LogFields {
  if (reservedNames.has(name))
    throw new TypeError(`access-log field "${name}" is written by the gateway itself: choose another name (e.g. prefixed with the plugin's)`);
  (fields ??= {})[name] = value;
  return fields;
}

/** `sample`: the share of ordinary entries written; entries with an error or a 5xx status always are. */
export function createAccessLog(setting: boolean | string, sample = 1, random = Math.random): AccessLog | undefined {
  if (setting === false) return undefined;
  const dest = pino.destination({ dest: setting === true ? 1 : setting, sync: false, mkdir: true });
  const logger = pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime, messageKey: 'msg' }, dest);
  const keep = (entry: { error?: unknown; status?: number }) => sample >= 1 || entry.error !== undefined || (entry.status ?? 0) >= 500 || random() < sample;
  return {
    write: (entry) => keep(entry as { error?: unknown; status?: number }) && logger.info(entry),
    flush: () => {
      // A file still being opened (sonic-boom opens it asynchronously) writes its buffer once open.
      if ((dest as unknown as { fd: number }).fd >= 0) dest.flushSync();
    },
    close: () =>
      new Promise<void>((resolve) => {
        dest.once('close', () => resolve());
        dest.end();
      }),
  };
}
