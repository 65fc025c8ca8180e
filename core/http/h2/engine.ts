// HTTP/2 for an http frontend's listener (core/gateway.ts): it is offered each connection
// once TLS is done (or at once without TLS) and takes those that speak HTTP/2.
import type { Socket } from 'node:net';
import type { Listener } from '../../gateway.ts';

export class H2Engine {
  constructor(private readonly listener: Listener) {}

  /**
   * Takes `socket` when it speaks HTTP/2 and returns true; false leaves it to HTTP/1.x.
   * An engine that must read first to know (a cleartext preface) returns true and gives
   * the socket, bytes put back, to `http1` when it turns out not to be HTTP/2.
   */
  claims(_socket: Socket, _http1: (socket: Socket) => void): boolean {
    void this.listener;
    return false;
  }

  /** The generation drains: GOAWAY on every session; open streams finish. */
  drain(): void {}

  /** Ends every session at once. */
  kill(): void {}

  /** Settings that may change on a kept listener (a reload's limits). */
  applyLimits(): void {}
}
