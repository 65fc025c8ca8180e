// The cache key: the request's origin and target (RFC 9111 2), with the query left out
// in whole or in part when the options say so. Headers added to the key by the options
// do not appear here: they act as a Vary every response has (see index.ts).

export interface KeyOptions {
  /** true: the query never matters; a list: these parameters do not. */
  ignore_query: boolean | string[];
}

export type KeyOf = (host: string, target: string) => string;

export function keyFunction(o: KeyOptions): KeyOf {
  const ignored = Array.isArray(o.ignore_query) ? new Set(o.ignore_query) : undefined;
  return (host, target) => {
    const q = target.indexOf('?');
    if (q === -1) return `${host}${target}`;
    if (o.ignore_query === true) return `${host}${target.slice(0, q)}`;
    if (!ignored) return `${host}${target}`;
    const params = new URLSearchParams(target.slice(q + 1));
    for (const name of ignored) params.delete(name);
    const rest = params.toString();
    return `${host}${target.slice(0, q)}${rest ? `?${rest}` : ''}`;
  };
}
