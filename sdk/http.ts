// HTTP facts a plugin needs to agree with the gateway on. The kernel uses the same
// values, so a plugin that filters headers filters exactly what the gateway does.

/**
 * Header fields that describe one connection, not the message: the gateway never passes
 * them on (RFC 9110 7.6.1), never sends them on an HTTP/2 stream (RFC 9113 8.2.2), and
 * frames messages and answers `Expect: 100-continue` itself, hop by hop. Lower case.
 * Fields a message's own `Connection` header names are hop-by-hop too.
 */
export const hopByHop: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'http2-settings',
]);
