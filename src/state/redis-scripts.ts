// The Redis store's scripts: each runs atomically in Redis, so a reserve is one round trip that no
// other gateway's reserve can interleave with, and a settle applies once. The batch script reads
// the time from Redis (TIME), so gateways whose clocks disagree still share one window. The
// arithmetic is window.ts's, line for line. The batch script gets its keys inside its JSON
// batches, prefixed by the store (REDIS_PREFIX): it serves one Redis, not a Redis Cluster, whose
// scripts must declare every key up front.
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
 * One turn of the event loop's work for Redis, in one script call: first the settlements of the
 * requests that closed in it, then the reserves of the requests admitted in it, one after another:
 * each reserve sees the counters as the ones before it left them, exactly as separate calls would,
 * and no other gateway's call comes between. The batches travel as JSON arguments and the answer
 * as one string: a client library's work grows with the arguments and the reply elements it
 * encodes and decodes, and a batch has hundreds of them, while one call costs the client about as
 * much as a whole small batch.
 * ARGV[1], settlements: `[[id, [[kind 'r'|'b', key, used - reserved, window it landed in, window
 * ms], ...], [lease key, ...]], ...]`: a reservation no longer waiting (settled already, or
 * expired) changes nothing. ARGV[2], reserves: `[[id, wait ms (0: never settled), [[kind, key,
 * limit, amount, window ms or period end], ...], [[key, limit, ttl ms], ...]], ...]`; an empty id
 * peeks: it reads the counters and writes nothing. Keys come with their prefix; ARGV[3] is the
 * prefix, for a reservation's own key (`o:<id>`).
 * Returns per reserve, comma-separated, one after another: ok, refused index (1-based, leases
 * after charges), retry after ms, each charge's window start (0 for a budget), then each charge's
 * remaining and reset ms.
 */
export const BATCH_SCRIPT = `${NOW}
local prefix = ARGV[3]
local settlements = cjson.decode(ARGV[1])
for r = 1, #settlements do
  local id, charges, leases = settlements[r][1], settlements[r][2], settlements[r][3]
  -- freeing a holder is idempotent by itself; the counters move only for a reservation still waiting
  for j = 1, #leases do redis.call('ZREM', leases[j], id) end
  if redis.call('DEL', prefix .. 'o:' .. id) == 1 then
    for i = 1, #charges do
      local kind, k, delta = charges[i][1], charges[i][2], charges[i][3]
      if delta ~= 0 and kind == 'b' then
        -- a period that ended has expired, and its spend no longer bounds anything: a counter this
        -- made again (no expiry: it was absent) goes again
        local v = redis.call('INCRBY', k, delta)
        if v == delta and redis.call('PTTL', k) == -1 then redis.call('DEL', k) elseif v < 0 then redis.call('SET', k, 0, 'KEEPTTL') end
      elseif delta ~= 0 then
        local landed, w = charges[i][4], charges[i][5]
        local h = redis.call('HMGET', k, 's', 'p', 'c', 'w')
        local s = tonumber(h[1])
        if s ~= nil and tonumber(h[4]) == w then
          local ws = now - (now % w)
          local p, c = tonumber(h[2]), tonumber(h[3])
          local rolled = s ~= ws
          if rolled then
            if s == ws - w then p = c else p = 0 end
            c, s = 0, ws
          end
          -- the window the reservation landed in, if it still counts
          if landed == s then c = math.max(0, c + delta) elseif landed == s - w then p = math.max(0, p + delta) end
          redis.call('HSET', k, 's', s, 'p', p, 'c', c)
          -- a new sub-window's counter lives for the two windows it counts in, as a reserve's does:
          -- the reserves after it see it current and add without renewing its expiry
          if rolled then redis.call('PEXPIRE', k, 2 * w) end
        end
      end
    end
  end
end

local batch = cjson.decode(ARGV[2])
local out = {}
local function put(v) out[#out + 1] = string.format('%d', v) end

-- one request's charges, in tables reused from one request to the next (entries past nc are stale)
local kind, key, limit, amount, span, prev, curr, start, fresh = {}, {}, {}, {}, {}, {}, {}, {}, {}
-- budgets: charged while read (to spare a read), and whether that charge made the counter
local charged, made = {}, {}
local nc = 0

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
  put(ok)
  put(index)
  put(retry)
  for i = 1, nc do put(start[i]) end
  for i = 1, nc do
    if kind[i] == 'b' then
      put(math.max(0, limit[i] - curr[i]))
      put(math.max(0, span[i] - now))
    else
      local w, p, c = span[i], prev[i], curr[i]
      local e = now - start[i]
      put(math.max(0, math.floor((limit[i] * w - p * (w - e) - c * w) / w)))
      local reset = 0
      if c > 0 then reset = 2 * w - e elseif p > 0 then reset = w - e end
      put(reset)
    end
  end
end

-- a refused request leaves its budgets as they were
local function undo()
  for i = 1, nc do
    if kind[i] == 'b' and charged[i] then
      if made[i] then redis.call('DEL', key[i]) else redis.call('DECRBY', key[i], amount[i]) end
    end
  end
end

local function reserve(id, wait, charges, leases)
  nc = #charges
  local nl = #leases
  for i = 1, nc do
    local c = charges[i]
    kind[i], key[i], limit[i], amount[i], span[i] = c[1], c[2], c[3], c[4], c[5]
    if kind[i] == 'r' then
      local w = span[i]
      local ws = now - (now % w)
      local h = redis.call('HMGET', key[i], 's', 'p', 'c', 'w')
      local s, p, cu = tonumber(h[1]), tonumber(h[2]) or 0, tonumber(h[3]) or 0
      -- fresh: the stored sub-window is not this one (rolled, new, or another window length)
      fresh[i] = tonumber(h[4]) ~= w or s ~= ws
      if tonumber(h[4]) ~= w then
        p, cu = 0, 0
      elseif s ~= ws then
        if s == ws - w then p = cu else p = 0 end
        cu = 0
      end
      prev[i], curr[i], start[i] = p, cu, ws
    elseif id == '' or amount[i] == 0 then
      curr[i] = tonumber(redis.call('GET', key[i]) or '0')
      charged[i], start[i] = false, 0
    else
      -- charged at once, and taken back below if the request is refused
      local v = redis.call('INCRBY', key[i], amount[i])
      curr[i] = v - amount[i]
      charged[i], start[i] = true, 0
      made[i] = v == amount[i] and redis.call('PTTL', key[i]) == -1
    end
  end

  -- an empty id is a peek: the counters as they are, nothing checked or written
  if id == '' then return answer(1, 0, 0) end
  for i = 1, nc do
    local retry = retryAfter(i)
    if retry ~= nil then
      undo()
      return answer(0, i, retry)
    end
  end
  for j = 1, nl do
    local k = leases[j][1]
    redis.call('ZREMRANGEBYSCORE', k, '-inf', now)
    if redis.call('ZCARD', k) >= leases[j][2] then
      undo()
      return answer(0, nc + j, -1)
    end
  end

  for i = 1, nc do
    if kind[i] == 'r' then
      curr[i] = curr[i] + amount[i]
      if fresh[i] then
        -- a new sub-window: the whole counter, alive for the two windows it can count in
        redis.call('HSET', key[i], 's', start[i], 'p', prev[i], 'c', curr[i], 'w', span[i])
        redis.call('PEXPIRE', key[i], 2 * span[i])
      else
        redis.call('HINCRBY', key[i], 'c', amount[i])
      end
    elseif charged[i] then
      curr[i] = curr[i] + amount[i]
      -- made by this charge: it lives until its period ends
      if made[i] then redis.call('PEXPIREAT', key[i], span[i]) end
    else
      curr[i] = redis.call('INCRBY', key[i], amount[i])
      if curr[i] == amount[i] and redis.call('PTTL', key[i]) == -1 then redis.call('PEXPIREAT', key[i], span[i]) end
    end
  end
  for j = 1, nl do
    local k, ttl = leases[j][1], leases[j][3]
    redis.call('ZADD', k, now + ttl, id)
    if redis.call('PTTL', k) < ttl then redis.call('PEXPIRE', k, ttl) end
  end
  -- a reservation that will never be settled (its amounts are exact: requests alone) waits for nothing
  if wait > 0 then redis.call('SET', prefix .. 'o:' .. id, '1', 'PX', wait) end
  return answer(1, 0, 0)
end

for r = 1, #batch do
  local request = batch[r]
  reserve(request[1], request[2], request[3], request[4])
end
return table.concat(out, ',')
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
