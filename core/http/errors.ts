// Error answers are short and plain: a status line a person can read, nothing more.
import { STATUS_CODES } from 'node:http';

const bodies = new Map<number, Buffer>();

export function statusText(status: number): string {
  return STATUS_CODES[status] ?? 'Error';
}

export function errorBody(status: number): Buffer {
  let body = bodies.get(status);
  if (!body) bodies.set(status, (body = Buffer.from(`${status} ${statusText(status)}\n`)));
  return body;
}
