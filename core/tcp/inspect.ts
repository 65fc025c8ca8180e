// TCP inspection: read a connection's first bytes, only as many as the registered
// detectors need to say what protocol it is (a TLS ClientHello, an HTTP request line,
// an SSH banner...), within a delay. A client that stays silent (the server speaks
// first: SMTP, MySQL) is given up on at the delay and routed on what is known.
import type { Socket } from 'node:net';
import type { Detected, Detector } from '../../sdk/views.ts';

/** More than this and no detector has decided: not a protocol we know (a TLS ClientHello may reach 64 KiB plus record headers). */
const maxInspected = 72 * 1024;

/**
 * Reads from `client` (paused) until a detector recognises the bytes, none wants more,
 * the client ends, or `delay` ms pass; then pauses it and calls `done` once with every
 * byte read (for the server, or to unshift before a hand-off) and what was detected.
 */
export function inspect(
  client: Socket,
  detectors: ReadonlyMap<string, Detector>,
  delay: number,
  done: (head: Buffer, detected: Detected | undefined) => void,
): void {
  let head: Buffer = Buffer.alloc(0);
  let finished = false;
  const finish = (detected: Detected | undefined) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    client.off('data', onData);
    client.off('end', onEnd);
    client.pause();
    done(head, detected);
  };
  const decide = (final: boolean) => {
    let more = false;
    for (const detect of detectors.values()) {
      let r: ReturnType<Detector>;
      try {
        r = detect(head);
      } catch {
        continue; // a broken detector does not take the connection down
      }
      if (r === 'more') more = true;
      else if (r) return finish(r);
    }
    if (!more || final || head.length >= maxInspected) finish(undefined);
  };
  const onData = (chunk: Buffer) => {
    head = head.length ? Buffer.concat([head, chunk]) : chunk;
    decide(false);
  };
  const onEnd = () => decide(true);
  const timer = setTimeout(() => finish(undefined), delay);
  client.on('data', onData);
  client.once('end', onEnd);
  client.resume();
}
