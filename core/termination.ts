// A failure of the client's making, as the HTTP lifecycle sees it: the termination
// letters and the rules for reading them are the SDK's (sdk/termination.ts, the README's
// table).
import type { Phase } from '../sdk/termination.ts';

/**
 * A failure of the client's making on a request's path: its body broke its framing or
 * grew past the limit, it went away, it went silent. Whatever consumes the body (a pool,
 * a plugin) sees it as the body's error; it is never charged to a server.
 */
export class ClientFault extends Error {
  constructor(
    message: string,
    /** `C` gone, `c` silent, `P` refused (malformed or too large). */
    readonly who: 'C' | 'c' | 'P',
    /** The answer when the client can still read one (400, 408, 413); 0: none. */
    readonly status: number,
    /** Where the request was, when its side knows better than the lifecycle (`B`: its body was still arriving). */
    readonly phase?: Phase,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ClientFault';
  }
}

export function isClientFault(err: unknown): err is ClientFault {
  return err instanceof ClientFault;
}
