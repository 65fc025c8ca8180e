// The fields of draft-ietf-httpapi-ratelimit-headers-11 (May 2026): RateLimit-Policy
// (`"default";q=100;w=60`: the quota q per window w seconds) and RateLimit
// (`"default";r=42;t=17`: r left, within the next t seconds). Structured Field lists,
// so several policies (a frontend's and a route's) add up in one field.
import type { Decision, Policy } from './algorithms.ts';

const seconds = (ms: number) => Math.max(0, Math.ceil(ms / 1000));

/** The policy item: a token bucket is `burst` per the time it takes to fill, its sustained rate. */
export function policyItem(name: string, policy: Policy): string {
  const [q, w] = policy.algorithm === 'sliding_window' ? [policy.limit, policy.window] : [policy.burst, policy.burst / policy.rate];
  return `"${name}";q=${q};w=${Math.max(1, Math.round(w / 1000))}`;
}

/**
 * The service limit item. Refused, `t` is the Retry-After: the draft asks that
 * Retry-After not point before the end of the effective window.
 */
export function limitItem(name: string, d: Decision): string {
  return d.allowed ? `"${name}";r=${d.remaining};t=${seconds(d.reset)}` : `"${name}";r=0;t=${retryAfter(d)}`;
}

/** Retry-After in whole seconds, at least 1. */
export function retryAfter(d: Decision): number {
  return Math.max(1, seconds(d.retryAfter));
}

/** Adds an item to a list field that may already hold others (the server's, another instance's). */
export function appendItem(existing: string | string[] | undefined, item: string): string {
  if (existing === undefined || existing === '') return item;
  return `${Array.isArray(existing) ? existing.join(', ') : existing}, ${item}`;
}
