// The Redis store, for several gateway machines: each decision is one Lua script,
// atomic in Redis, on Redis's own clock (TIME), so gateways with drifting clocks agree.
// The scripts are algorithms.ts in Lua. ioredis is loaded only when a config asks for it.
import type { Logger } from '../../../sdk/index.ts';
import type { Decision, Policy } from '../algorithms.ts';
import type { LimitStore } from './store.ts';

const now = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/** KEYS[1] the client's cell; ARGV limit, window (ms). Returns allowed, remaining, retryAfter, reset. */
const slidingWindow = `${now}
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local start = now - (now % window)
local cell = redis.call('HMGET', KEYS[1], 's', 'c', 'p')
local s = tonumber(cell[1]) or start
local c = tonumber(cell[2]) or 0
local p = tonumber(cell[3]) or 0
if s ~= start then
  if start - s == window then p = c else p = 0 end
  c = 0
  s = start
end
local elapsed = now - start
local used = p * (1 - elapsed / window) + c
local reset = window - elapsed
local allowed = 0
local remaining = 0
local retry = 0
if used + 1 <= limit then
  c = c + 1
  allowed = 1
  remaining = math.max(0, math.floor(limit - used - 1))
end
if allowed == 0 or remaining == 0 then
  -- windowWait in algorithms.ts: the first whole ms at which one more request fits
  local wait
  if c + 1 <= limit then
    local at = elapsed
    if p > 0 then at = math.max(elapsed, math.ceil(window * (1 - (limit - c - 1) / p))) end
    while at < window and p * (1 - at / window) + c + 1 > limit do at = at + 1 end
    wait = at - elapsed
  else
    local at = math.max(0, math.ceil(window * (1 - (limit - 1) / c)))
    while at < window and c * (1 - at / window) + 1 > limit do at = at + 1 end
    wait = window - elapsed + at
  end
  reset = math.max(reset, wait)
  if allowed == 0 then retry = wait end
end
redis.call('HSET', KEYS[1], 's', s, 'c', c, 'p', p)
redis.call('PEXPIRE', KEYS[1], window * 2)
return { allowed, remaining, retry, reset }
`;

/** KEYS[1] the client's bucket; ARGV rate (tokens per ms), burst. */
const tokenBucket = `${now}
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cell = redis.call('HMGET', KEYS[1], 't', 'a')
local tokens = tonumber(cell[1]) or burst
local at = tonumber(cell[2]) or now
-- tokenBucket in algorithms.ts: refilled from the last request that took a token; a refusal changes nothing
local function tokensAt(t) return math.min(burst, tokens + math.max(0, t - at) * rate) end
local left = tokensAt(now)
local allowed = 0
local retry = 0
if left >= 1 then
  left = left - 1
  allowed = 1
  -- Every digit kept (tostring keeps 14), so the next call refills from exactly this
  redis.call('HSET', KEYS[1], 't', string.format('%.17g', left), 'a', now)
else
  retry = math.ceil((1 - left) / rate)
  while tokensAt(now + retry) < 1 do retry = retry + 1 end
  while retry > 1 and tokensAt(now + retry - 1) >= 1 do retry = retry - 1 end
end
local reset = math.max(retry, math.ceil((burst - left) / rate))
if allowed == 1 then redis.call('PEXPIRE', KEYS[1], reset + 1000) end
return { allowed, math.floor(left), retry, reset }
`;

export interface RedisOptions {
  url: string;
  prefix: string;
}

type Reply = [number, number, number, number];
type Decide = (key: string, a: number, b: number) => Promise<Reply>;

export async function redisStore(policy: Policy, o: RedisOptions, log: Logger): Promise<LimitStore> {
  const { Redis } = await import('ioredis');
  // Connects on the first request (so `tapgate check` opens no connection); commands wait
  // for it in ioredis's queue, bounded by the plugin's timeout. No retrying a command:
  // a late answer is worth nothing to a request that already passed.
  const redis = new Redis(o.url, { lazyConnect: true, maxRetriesPerRequest: 0, keyPrefix: o.prefix });
  let reported = false;
  redis.on('error', (err: Error) => {
    if (!reported) log.warn({ err: err.message }, 'rate-limit: redis connection error');
    reported = true;
  });
  redis.on('ready', () => (reported = false));
  redis.defineCommand('rateLimit', { numberOfKeys: 1, lua: policy.algorithm === 'sliding_window' ? slidingWindow : tokenBucket });
  const decide = (redis as unknown as { rateLimit: Decide }).rateLimit.bind(redis);
  const [a, b] = policy.algorithm === 'sliding_window' ? [policy.limit, policy.window] : [policy.rate, policy.burst];
  return {
    sync: false,
    take: async (key): Promise<Decision> => {
      const [allowed, remaining, retryAfter, reset] = await decide(key, a, b);
      return { allowed: allowed === 1, remaining, retryAfter, reset };
    },
    close: () => void redis.disconnect(),
  };
}
