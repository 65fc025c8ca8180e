// Logs: one pino logger for events, and an access log writing one JSON line per
// request or TCP session.
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination: number | string = 2): Logger {
  return pino({ level, base: { pid: process.pid } }, pino.destination({ dest: destination, sync: false }));
}

export interface AccessLog {
  write(entry: object): void;
  flush(): void;
}

export function createAccessLog(setting: boolean | string): AccessLog | undefined {
  if (setting === false) return undefined;
  const dest = pino.destination({ dest: setting === true ? 1 : setting, sync: false, mkdir: true });
  const logger = pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime, messageKey: 'msg' }, dest);
  return {
    write: (entry) => logger.info(entry),
    flush: () => dest.flushSync(),
  };
}
