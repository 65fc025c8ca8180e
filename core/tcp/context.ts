// The kernel's record of one TCP session: it implements the session as plugins see it
// (sdk/context.ts), and keeps writable what the kernel records.
import type { BackendView, Detected, ServerView } from '../../sdk/views.ts';
import type { RouteView } from '../../sdk/routes.ts';
import type { FailedTry, TcpContext as PluginTcpContext, TlsInfo } from '../../sdk/context.ts';
import { withLogField, type LogFields } from '../log.ts';

let counter = 0;

export class TcpContext implements PluginTcpContext {
  readonly kind = 'tcp' as const;
  readonly id: string;
  /** The route taken, once chosen (the frontend's fallback when none matched). */
  route: RouteView | undefined = undefined;
  /** What inspecting the first bytes found (protocol, SNI, ALPN, Host), when the frontend inspects. */
  detected: Detected | undefined = undefined;
  backend: BackendView | undefined = undefined;
  server: ServerView | undefined = undefined;
  /** Bytes from the client to the server, and back. */
  bytesIn = 0;
  bytesOut = 0;
  /** ms from accept until the server connection was up, or -1. */
  connectTime = -1;
  /** ms from accept until both sides closed, or -1. */
  duration = -1;
  /** ms waiting in the backend's queue for a server slot. */
  queueTime = 0;
  /** Further servers tried after a connection failed. */
  retries = 0;
  /** Why the session ended badly, when it did. */
  error: string | undefined = undefined;
  /** Tries that failed before the last one (a connection refused, then another server): each server, and why. */
  failedTries: readonly FailedTry[] = [];
  readonly state: Record<string, unknown> = {};
  #logFields: LogFields | undefined = undefined;

  constructor(
    readonly frontend: string,
    readonly generation: number,
    readonly client: { readonly address: string; readonly port: number },
    readonly local: { readonly address: string; readonly port: number },
    /** Set from the ClientHello when inspection reads one (TLS passes through untouched). */
    public tls: TlsInfo | undefined,
    readonly start: number,
  ) {
    this.id = (++counter).toString(36);
  }

  /** Adds `name: value` to this session's access-log line, as `HttpContext.setLogField` does for a request. */
  setLogField(name: string, value: string | number | boolean): void {
    this.#logFields = withLogField(this.#logFields, name, value);
  }

  /** What plugins added to the access-log line, if anything. */
  get logFields(): Readonly<LogFields> | undefined {
    return this.#logFields;
  }
}
