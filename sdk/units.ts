// Durations and sizes as people write them in configs: `5s`, `250ms`, `2m`, `64k`, `1m`.

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const sizeUnits: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };

export const durationPattern = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/;
export const sizePattern = /^(\d+(?:\.\d+)?)\s*(b|k|kb|m|mb|g|gb)?$/i;

/** Milliseconds from a number (already ms) or a string with a unit. */
export function parseDuration(value: number | string): number {
  if (typeof value === 'number') return value;
  const m = durationPattern.exec(value.trim());
  if (!m) throw new Error(`not a duration: ${value}`);
  return Math.round(Number(m[1]) * durationUnits[m[2]!]!);
}

/** Bytes from a number or a string such as `64k`. */
export function parseSize(value: number | string): number {
  if (typeof value === 'number') return value;
  const m = sizePattern.exec(value.trim());
  if (!m) throw new Error(`not a size: ${value}`);
  return Math.round(Number(m[1]) * sizeUnits[(m[2] ?? '').toLowerCase()]!);
}

export interface BindAddress {
  host: string;
  port: number;
}

/** `127.0.0.1:8080`, `[::1]:8080`, `*:8080` or `:8080` (every address). */
export function parseAddress(value: string): BindAddress | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]\s]*)):(\d{1,5})$/.exec(value.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' || host === '*' ? '0.0.0.0' : host, port };
}

export function formatAddress(a: BindAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
