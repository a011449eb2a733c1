// The Redis store's two scripts: each runs atomically in Redis, so a reserve is one round trip that
// no other gateway's reserve can interleave with, and a settle applies once. Both read the time
// from Redis (TIME), so gateways whose clocks disagree still share one window. The arithmetic is
// window.ts's, line for line; keys arrive prefixed by ioredis (keyPrefix).
//
// Keys: a rate is a hash {s: current sub-window's start, p: previous count, c: current count,
// w: window ms}; a budget is a counter per period (`b:<key>:<period>`) that expires when the period
// ends; a lease is a sorted set of holder ids scored by expiry; a reservation waiting for its
// settlement is `o:<id>` (see RESERVATION_TTL_MS).

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * Reserves a batch of requests (those admitted in one turn of the event loop), one after another
 * in one script call: each sees the counters as the ones before it left them, exactly as separate
 * calls would, and no other gateway's reserve comes between. ARGV[1]: how many. Then per request,
 * KEYS: one per charge, one per lease, then the reservation's own; ARGV: charges, leases, id, then
 * per charge kind ('r' or 'b'), limit, amount, window ms (rate) or period end (budget), then per
 * lease limit and ttl ms, then how long the reservation waits for its settlement (0: it never
 * will). An empty id peeks: it reads the counters and writes nothing.
 * Returns, per request one after another: ok, refused index (1-based, leases after charges), retry
 * after ms, each charge's window start (0 for a budget), then each charge's remaining and reset ms.
 */
export const RESERVE_SCRIPT = `${NOW}
local out = {}

local function reserve(ki, ai)
  local nc = tonumber(ARGV[ai])
  local nl = tonumber(ARGV[ai + 1])
  local id = ARGV[ai + 2]
  local kind, limit, amount, span, prev, curr, start = {}, {}, {}, {}, {}, {}, {}
  for i = 1, nc do
    local a = ai + 3 + (i - 1) * 4
    local k = KEYS[ki + i - 1]
    kind[i] = ARGV[a]
    limit[i] = tonumber(ARGV[a + 1])
    amount[i] = tonumber(ARGV[a + 2])
    span[i] = tonumber(ARGV[a + 3])
    if kind[i] == 'r' then
      local w = span[i]
      local ws = now - (now % w)
      local h = redis.call('HMGET', k, 's', 'p', 'c', 'w')
      local s, p, c = tonumber(h[1]), tonumber(h[2]) or 0, tonumber(h[3]) or 0
      if tonumber(h[4]) ~= w then
        p, c = 0, 0
      elseif s ~= ws then
        if s == ws - w then p = c else p = 0 end
        c = 0
      end
      prev[i], curr[i], start[i] = p, c, ws
    else
      curr[i] = tonumber(redis.call('GET', k) or '0')
      start[i] = 0
    end
  end

  local function retryAfter(i)
    local l, a, c = limit[i], amount[i], curr[i]
    if kind[i] == 'b' then
      if c + a <= l then return nil end
      if a > l then return -1 end
      return math.max(0, span[i] - now)
    end
    local w, p = span[i], prev[i]
    local e = now - start[i]
    if p * (w - e) <= (l - a - c) * w then return nil end
    if a > l then return -1 end
    local room = l - a - c
    if room >= 0 then return w - math.floor(room * w / p) - e end
    return w - e + w - math.floor((l - a) * w / c)
  end

  local function answer(ok, index, retry)
    out[#out + 1] = ok
    out[#out + 1] = index
    out[#out + 1] = retry
    for i = 1, nc do out[#out + 1] = start[i] end
    for i = 1, nc do
      if kind[i] == 'b' then
        out[#out + 1] = math.max(0, limit[i] - curr[i])
        out[#out + 1] = math.max(0, span[i] - now)
      else
        local w, p, c = span[i], prev[i], curr[i]
        local e = now - start[i]
        out[#out + 1] = math.max(0, math.floor((limit[i] * w - p * (w - e) - c * w) / w))
        local reset = 0
        if c > 0 then reset = 2 * w - e elseif p > 0 then reset = w - e end
        out[#out + 1] = reset
      end
    end
  end

  -- an empty id is a peek: the counters as they are, nothing checked or written
  if id == '' then return answer(1, 0, 0) end
  for i = 1, nc do
    local retry = retryAfter(i)
    if retry ~= nil then return answer(0, i, retry) end
  end
  for j = 1, nl do
    local k = KEYS[ki + nc + j - 1]
    redis.call('ZREMRANGEBYSCORE', k, '-inf', now)
    if redis.call('ZCARD', k) >= tonumber(ARGV[ai + 3 + nc * 4 + (j - 1) * 2]) then return answer(0, nc + j, -1) end
  end

  for i = 1, nc do
    local k = KEYS[ki + i - 1]
    if kind[i] == 'r' then
      curr[i] = curr[i] + amount[i]
      redis.call('HSET', k, 's', start[i], 'p', prev[i], 'c', curr[i], 'w', span[i])
      redis.call('PEXPIRE', k, 2 * span[i])
    else
      curr[i] = redis.call('INCRBY', k, amount[i])
      redis.call('PEXPIREAT', k, span[i])
    end
  end
  for j = 1, nl do
    local k = KEYS[ki + nc + j - 1]
    local ttl = tonumber(ARGV[ai + 3 + nc * 4 + (j - 1) * 2 + 1])
    redis.call('ZADD', k, now + ttl, id)
    if redis.call('PTTL', k) < ttl then redis.call('PEXPIRE', k, ttl) end
  end
  -- a reservation that will never be settled (its amounts are exact: requests alone) waits for nothing
  local wait = tonumber(ARGV[ai + 3 + nc * 4 + nl * 2])
  if wait > 0 then redis.call('SET', KEYS[ki + nc + nl], '1', 'PX', wait) end
  return answer(1, 0, 0)
end

local ki, ai = 1, 2
for r = 1, tonumber(ARGV[1]) do
  local nc = tonumber(ARGV[ai])
  local nl = tonumber(ARGV[ai + 1])
  reserve(ki, ai)
  ki = ki + nc + nl + 1
  ai = ai + 3 + nc * 4 + nl * 2 + 1
end
return out
`;

/**
 * Settles a batch of reservations (those closing in one turn of the event loop): one script call,
 * however many. ARGV[1]: how many. Then per reservation, KEYS: its own, one per charge, one per
 * lease; ARGV: charges, leases, id, then per charge kind, used - reserved, the window it landed in
 * and the window's ms (0 and 0 for a budget). Returns per reservation 1, or 0 when it was no longer
 * waiting (settled already, or expired).
 */
export const SETTLE_SCRIPT = `${NOW}
local out = {}
local ki, ai = 1, 2
for r = 1, tonumber(ARGV[1]) do
  local nc = tonumber(ARGV[ai])
  local nl = tonumber(ARGV[ai + 1])
  local id = ARGV[ai + 2]
  -- freeing a holder is idempotent by itself; the counters move only for a reservation still waiting
  for j = 1, nl do redis.call('ZREM', KEYS[ki + nc + j], id) end
  if redis.call('DEL', KEYS[ki]) == 0 then
    out[r] = 0
  else
    for i = 1, nc do
      local a = ai + 3 + (i - 1) * 4
      local delta = tonumber(ARGV[a + 1])
      local k = KEYS[ki + i]
      if delta ~= 0 and ARGV[a] == 'b' then
        -- a period that ended has expired, and its spend no longer bounds anything
        if redis.call('EXISTS', k) == 1 and redis.call('INCRBY', k, delta) < 0 then redis.call('SET', k, 0, 'KEEPTTL') end
      elseif delta ~= 0 then
        local landed, w = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
        local h = redis.call('HMGET', k, 's', 'p', 'c', 'w')
        local s = tonumber(h[1])
        if s ~= nil and tonumber(h[4]) == w then
          local ws = now - (now % w)
          local p, c = tonumber(h[2]), tonumber(h[3])
          if s ~= ws then
            if s == ws - w then p = c else p = 0 end
            c, s = 0, ws
          end
          -- the window the reservation landed in, if it still counts
          if landed == s then c = math.max(0, c + delta) elseif landed == s - w then p = math.max(0, p + delta) end
          redis.call('HSET', k, 's', s, 'p', p, 'c', c)
        end
      end
    end
    out[r] = 1
  end
  ki = ki + 1 + nc + nl
  ai = ai + 3 + nc * 4
end
return out
`;

/**
 * A versioned value's write, if its version is still the one the writer read. KEYS: the version
 * (`v:<key>`), the value (`d:<key>`). ARGV: expected version, value, ttl ms. Returns 1 when
 * written (the version then expected + 1), 0 when another write came first.
 */
export const COMPARE_AND_SET_SCRIPT = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current ~= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('SET', KEYS[1], current + 1, 'PX', ARGV[3])
return 1
`;
