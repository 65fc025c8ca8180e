// A TCP session as a plugin sees it.
import type { BackendView, ServerView } from '../types.ts';
import type { TlsInfo } from '../http/context.ts';

let counter = 0;

export class TcpContext {
  readonly id: string;
  backend: BackendView | undefined = undefined;
  server: ServerView | undefined = undefined;
  /** Bytes from the client to the server, and back. */
  bytesIn = 0;
  bytesOut = 0;
  /** ms from accept until the server connection was up, or -1. */
  connectTime = -1;
  /** ms from accept until both sides closed, or -1. */
  duration = -1;
  /** Why the session ended badly, when it did. */
  error: string | undefined = undefined;
  readonly state: Record<string, unknown> = {};

  constructor(
    readonly frontend: string,
    readonly generation: number,
    readonly client: { readonly address: string; readonly port: number },
    readonly local: { readonly address: string; readonly port: number },
    readonly tls: TlsInfo | undefined,
    readonly start: number,
  ) {
    this.id = (++counter).toString(36);
  }
}
