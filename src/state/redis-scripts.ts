// The Redis store's scripts: each runs atomically in Redis, so a reserve is one round trip that no
// other gateway's reserve can interleave with, and a settle applies once. The batch script reads
// the time from Redis (TIME), so gateways whose clocks disagree still share one window. The
// arithmetic is window.ts's, line for line. The batch script gets its keys inside its JSON
// batches, prefixed by the store (REDIS_PREFIX): it serves one Redis, not a Redis Cluster, whose
// scripts must declare every key up front.
//
// Keys: a rate is a hash {s: current sub-window's start, p: previous count, c: current count,
// w: window ms}; a budget is a counter per period (`b:<key>:<period>`) that expires when the period
// ends; a lease is a sorted set of holder ids scored by expiry; the reservations waiting for their
// settlement are one sorted set (`o`) of ids scored by when they stop waiting (RESERVATION_TTL_MS).
// ZMSCORE needs Redis 6.2 or later.

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * One turn of the event loop's work for Redis, in one script call: first the settlements of the
 * requests that closed in it, then the reserves of the requests admitted in it, one after another:
 * each reserve sees the counters as the ones before it left them, exactly as separate calls would,
 * and no other gateway's call comes between. Each counter the call touches is read once, changed in
 * the script, and written back once at its end: what Redis runs grows with the counters a call
 * touches, not with its requests (most of a call's requests share their key's counters). The
 * batches travel as JSON arguments and the answer as one string: a client library's work grows with
 * the arguments and the reply elements it encodes and decodes, and a batch has hundreds of them,
 * while one call costs the client about as much as a whole small batch.
 * ARGV[1], the counters the call names, each once: `[[kind 'r'|'b', key, limit, window ms or
 * period end], ...]`; the settlements and reserves name them by their place in it (from 1), which
 * keeps the arguments short: Redis's JSON decoder costs it more than the rest of the script.
 * ARGV[2], settlements: `[[id, [counter, used - reserved, window it landed in (0 for a budget),
 * ...], [lease key, ...]], ...]`: a reservation no longer waiting (settled already, or expired)
 * changes nothing. ARGV[3], reserves: `[[id, wait ms (0: never settled), [counter, amount, ...],
 * [lease key, limit, ttl ms, ...]], ...]`; an empty id peeks: it reads the counters and writes
 * nothing. Keys come with their prefix; ARGV[4] is the prefix, for the set of reservations waiting
 * for their settlement (`o`).
 */
export const BATCH_SCRIPT = `${NOW}
local counters = cjson.decode(ARGV[1])
local waiting = ARGV[4] .. 'o'
-- written as whole numbers: Lua writes a number past 14 digits in the exponent form, which Redis
-- would not count from again
local function int(v) return string.format('%d', v) end

-- each counter as this call reads and changes it, by key, and the keys in the order first read
local rates, budgets, slots = {}, {}, {}
local rateKeys, budgetKeys, slotKeys = {}, {}, {}

local function rateOf(k)
  local r = rates[k]
  if r == nil then
    local h = redis.call('HMGET', k, 's', 'p', 'c', 'w')
    r = { exists = h[1] ~= false, s = tonumber(h[1]), p = tonumber(h[2]) or 0, c = tonumber(h[3]) or 0, w = tonumber(h[4]), changed = false, fresh = false }
    rates[k] = r
    rateKeys[#rateKeys + 1] = k
  end
  return r
end

-- the counter in the current sub-window of w: a stored one of another length starts over
local function roll(r, w)
  local ws = now - (now % w)
  if r.w ~= w then
    r.w, r.s, r.p, r.c, r.fresh = w, ws, 0, 0, true
  elseif r.s ~= ws then
    if r.s == ws - w then r.p = r.c else r.p = 0 end
    r.s, r.c, r.fresh = ws, 0, true
  end
end

local function budgetOf(k)
  local b = budgets[k]
  if b == nil then
    local v = redis.call('GET', k)
    b = { exists = v ~= false, v = tonumber(v or '0'), read = tonumber(v or '0'), endsAt = 0 }
    budgets[k] = b
    budgetKeys[#budgetKeys + 1] = k
  end
  return b
end

-- a lease key's holders: expired ones dropped, counted once; the ones this call adds, written at its end
local function slotsOf(k)
  local l = slots[k]
  if l == nil then
    redis.call('ZREMRANGEBYSCORE', k, '-inf', now)
    l = { n = redis.call('ZCARD', k), add = {}, ttl = 0 }
    slots[k] = l
    slotKeys[#slotKeys + 1] = k
  end
  return l
end

local settlements = cjson.decode(ARGV[2])
if #settlements > 0 then
  local ids, freed = {}, {}
  for r = 1, #settlements do
    ids[r] = settlements[r][1]
    -- freeing a holder is idempotent by itself
    local leases = settlements[r][3]
    for j = 1, #leases do
      local list = freed[leases[j]]
      if list == nil then list = {} freed[leases[j]] = list end
      list[#list + 1] = ids[r]
    end
  end
  for k, list in pairs(freed) do redis.call('ZREM', k, unpack(list)) end
  -- the counters move only for a reservation still waiting: one settled already, or expired, is not
  local expiries = redis.call('ZMSCORE', waiting, unpack(ids))
  redis.call('ZREM', waiting, unpack(ids))
  for r = 1, #settlements do
    if expiries[r] and tonumber(expiries[r]) > now then
      local charges = settlements[r][2]
      for i = 1, #charges, 3 do
        local named, delta = counters[charges[i]], charges[i + 1]
        local k = named[2]
        if named[1] == 'b' then
          -- a period that ended has expired, and its spend no longer bounds anything
          local b = budgetOf(k)
          if b.exists then b.v = math.max(0, b.v + delta) end
        else
          local landed, w = charges[i + 2], named[4]
          local c = rateOf(k)
          if c.exists and c.w == w then
            roll(c, w)
            -- the window the reservation landed in, if it still counts
            if landed == c.s then
              c.c, c.changed = math.max(0, c.c + delta), true
            elseif landed == c.s - w then
              c.p, c.changed = math.max(0, c.p + delta), true
            end
          end
        end
      end
    end
  end
end

local batch = cjson.decode(ARGV[3])
local out = {}
local function put(v) out[#out + 1] = int(v) end

-- one request's charges, in tables reused from one request to the next (entries past nc are stale)
local kind, limit, amount, span, prev, curr, start, counter = {}, {}, {}, {}, {}, {}, {}, {}
local nc = 0
-- the reservations admitted that wait for their settlement: [expiry, id, ...], and the longest wait
local admitted, longest = {}, 0

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

local function reserve(id, wait, charges, leases)
  nc = #charges / 2
  local nl = #leases / 3
  for i = 1, nc do
    local named = counters[charges[2 * i - 1]]
    kind[i], limit[i], amount[i], span[i] = named[1], named[3], charges[2 * i], named[4]
    if kind[i] == 'r' then
      local r = rateOf(named[2])
      roll(r, span[i])
      prev[i], curr[i], start[i], counter[i] = r.p, r.c, r.s, r
    else
      local b = budgetOf(named[2])
      curr[i], start[i], counter[i] = b.v, 0, b
    end
  end

  -- an empty id is a peek: the counters as they are, nothing checked or written
  if id == '' then return answer(1, 0, 0) end
  for i = 1, nc do
    local retry = retryAfter(i)
    if retry ~= nil then return answer(0, i, retry) end
  end
  for j = 1, nl do
    if slotsOf(leases[3 * j - 2]).n >= leases[3 * j - 1] then return answer(0, nc + j, -1) end
  end

  for i = 1, nc do
    local c = counter[i]
    if kind[i] == 'r' then
      c.c, c.changed = c.c + amount[i], true
      curr[i] = c.c
    else
      c.v = c.v + amount[i]
      curr[i] = c.v
      -- made by this charge: it lives until its period ends
      if not c.exists then c.endsAt = span[i] end
    end
  end
  for j = 1, nl do
    local l = slots[leases[3 * j - 2]]
    local ttl = leases[3 * j]
    l.n = l.n + 1
    l.add[#l.add + 1] = now + ttl
    l.add[#l.add + 1] = id
    if ttl > l.ttl then l.ttl = ttl end
  end
  -- a reservation that will never be settled (its amounts are exact: requests alone) waits for nothing
  if wait > 0 then
    admitted[#admitted + 1] = now + wait
    admitted[#admitted + 1] = id
    if wait > longest then longest = wait end
  end
  return answer(1, 0, 0)
end

for r = 1, #batch do
  local request = batch[r]
  reserve(request[1], request[2], request[3], request[4])
end

-- every counter this call changed, written once
for _, k in ipairs(rateKeys) do
  local r = rates[k]
  if r.changed and r.fresh then
    -- a new sub-window: the whole counter, alive for the two windows it can count in
    redis.call('HSET', k, 's', int(r.s), 'p', int(r.p), 'c', int(r.c), 'w', int(r.w))
    redis.call('PEXPIRE', k, 2 * r.w)
  elseif r.changed then
    redis.call('HSET', k, 'p', int(r.p), 'c', int(r.c))
  end
end
for _, k in ipairs(budgetKeys) do
  local b = budgets[k]
  if b.v ~= b.read then
    if b.exists then
      redis.call('SET', k, int(b.v), 'KEEPTTL')
    else
      redis.call('SET', k, int(b.v))
      redis.call('PEXPIREAT', k, b.endsAt)
    end
  end
end
for _, k in ipairs(slotKeys) do
  local l = slots[k]
  if #l.add > 0 then
    redis.call('ZADD', k, unpack(l.add))
    if redis.call('PTTL', k) < l.ttl then redis.call('PEXPIRE', k, l.ttl) end
  end
end
if #admitted > 0 then
  redis.call('ZREMRANGEBYSCORE', waiting, '-inf', now)
  redis.call('ZADD', waiting, unpack(admitted))
  if redis.call('PTTL', waiting) < longest then redis.call('PEXPIRE', waiting, longest) end
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
