// Logs: one pino logger for events, and an access log writing one JSON line per
// request or TCP session.
import pino, { type Logger } from 'pino';
import sonicBoom from 'sonic-boom';

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

/** Characters of lines held before they are handed on (a write a line costs a syscall a request). */
const batchBytes = 16 * 1024;
/** The longest a line waits in the batch when traffic is light. */
const batchMs = 1000;
/** Bytes held unwritten at most while the disk does not keep up; lines beyond are dropped and counted. */
const heldBytes = 16 * 1024 * 1024;

/**
 * `sample`: the share of ordinary entries written; entries with an error or a 5xx status
 * always are. Lines read as pino's (`{"level":30,"time":"<ISO>",...}`) but are made here:
 * one JSON.stringify of the entry and a timestamp made once a millisecond (a line costs
 * about two thirds of what pino's per-field serialization did, measured under wrk). They
 * are batched: handed on once 16 KiB are held or a second has passed, and written by
 * sonic-boom (pino's asynchronous destination) off the request path; `onDrop` hears of
 * lines dropped while the disk is 16 MiB behind (at most every 10 s, with how many).
 */
export function createAccessLog(
  setting: boolean | string,
  sample = 1,
  random = Math.random,
  onDrop: (lines: number) => void = () => undefined,
): AccessLog | undefined {
  if (setting === false) return undefined;
  const dest = new sonicBoom.SonicBoom({ dest: setting === true ? 1 : setting, sync: false, mkdir: true, maxLength: heldBytes });
  // Told at most every 10 s, with the lines dropped meanwhile.
  let dropped = 0;
  dest.on('drop', (data: string) => {
    if (dropped === 0)
      setTimeout(() => {
        onDrop(dropped);
        dropped = 0;
      }, 10_000).unref();
    dropped += data.split('\n').length - 1;
  });
  // A write error (a full disk) is the event log's business, never the request's.
  dest.on('error', () => undefined);
  // The batch is kept here, one string a line, and handed to sonic-boom whole: its own
  // batching measures the bytes of everything it holds on every write.
  let batch: string[] = [];
  let held = 0;
  const release = () => {
    if (!batch.length) return;
    const text = batch.join('');
    batch = [];
    held = 0;
    dest.write(text);
  };
  const timer = setInterval(release, batchMs);
  timer.unref();
  const keep = (entry: { error?: unknown; status?: number }) => sample >= 1 || entry.error !== undefined || (entry.status ?? 0) >= 500 || random() < sample;
  let stamped = -1;
  let stamp = '';
  const line = (entry: object): string => {
    const now = Date.now();
    if (now !== stamped) {
      stamped = now;
      stamp = `{"level":30,"time":"${new Date(now).toISOString()}"`;
    }
    const json = JSON.stringify(entry);
    return json.length > 2 ? `${stamp},${json.slice(1)}\n` : `${stamp}}\n`;
  };
  return {
    write: (entry) => {
      if (!keep(entry as { error?: unknown; status?: number })) return;
      const text = line(entry);
      batch.push(text);
      if ((held += text.length) >= batchBytes) release();
    },
    flush: () => {
      release();
      // A file still being opened (sonic-boom opens it asynchronously) writes its buffer once open.
      if ((dest as unknown as { fd: number }).fd >= 0) dest.flushSync();
    },
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(timer);
        release();
        dest.once('close', () => resolve());
        dest.end();
      }),
  };
}

/** What the event log says of access-log lines dropped while the disk fell behind. */
export function accessLogDrops(logger: Logger): (lines: number) => void {
  return (lines) => logger.warn({ lines }, 'access log: lines dropped, the disk is more than 16 MiB behind');
}
