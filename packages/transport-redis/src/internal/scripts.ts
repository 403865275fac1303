// The Lua scripts of the transport. Each runs atomically on the node holding the topic's slot
// (all its keys share the `{topic}` hash tag). Times come from the server's clock (TIME).

/**
 * Takes redeliveries for one consumer: first nacked entries whose due time passed (from the
 * group's delayed set), then entries idle for at least `minIdle` ms (XAUTOCLAIM, e.g. of a crashed
 * consumer). Entries still waiting for a nack delay are taken over without being redelivered
 * (`JUSTID`, delivery count unchanged) and stay delayed. Claimed entries are returned with their
 * delivery count (the attempt). Entries trimmed away meanwhile are dropped from the PEL.
 *
 * KEYS: stream, delayed set. ARGV: group, consumer, minIdle, count, cursor.
 * Returns { nextCursor, entries ({id, fields}…), counts, msUntilNextDue (-1: none) }.
 */
export const CLAIM_SCRIPT = `
local stream, delayed = KEYS[1], KEYS[2]
local group, consumer = ARGV[1], ARGV[2]
local count = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out, n = {}, 0
local function take(id)
  local claimed = redis.call('XCLAIM', stream, group, consumer, 0, id)
  local e = claimed[1]
  if e and e[2] then
    n = n + 1
    out[n] = e
  elseif e then
    redis.call('XACK', stream, group, id)
  end
end
local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, count)
for _, id in ipairs(due) do
  redis.call('ZREM', delayed, id)
  take(id)
end
local cursor = ARGV[5]
if n < count then
  local r = redis.call('XAUTOCLAIM', stream, group, consumer, ARGV[3], cursor, 'COUNT', count - n, 'JUSTID')
  cursor = r[1]
  for _, id in ipairs(r[2]) do
    if not redis.call('ZSCORE', delayed, id) then take(id) end
  end
end
local counts = {}
for i = 1, n do
  local id = out[i][1]
  local p = redis.call('XPENDING', stream, group, id, id, 1)
  counts[i] = (p[1] and p[1][4]) or 1
end
local nextDue = -1
local first = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
if first[2] then
  nextDue = tonumber(first[2]) - now
  if nextDue < 0 then nextDue = 0 end
end
return { cursor, out, counts, nextDue }
`;

/**
 * Nacks one delivery: when the entry is still pending for this consumer with the delivery count
 * of that delivery (so a stale delivery cannot nack a newer one), schedules it in the group's
 * delayed set at server time + delay. The entry stays in the PEL until it is claimed again.
 *
 * KEYS: stream, delayed set. ARGV: group, consumer, id, delayMs, deliveryCount. Returns 1 or 0.
 */
export const NACK_SCRIPT = `
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])
if not p[1] or tonumber(p[1][4]) ~= tonumber(ARGV[5]) then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[3])
return 1
`;

/**
 * Deletes consumers of a group that hold no pending entries and were idle for at least `minIdle`
 * ms, never `self`. Atomic: a consumer that read an entry a moment ago is not deleted.
 *
 * KEYS: stream. ARGV: group, minIdle, self. Returns the deleted names.
 */
export const CLEANUP_SCRIPT = `
local consumers = redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
local minIdle = tonumber(ARGV[2])
local deleted = {}
for _, c in ipairs(consumers) do
  local name, pending, idle
  for i = 1, #c, 2 do
    if c[i] == 'name' then name = c[i + 1]
    elseif c[i] == 'pending' then pending = tonumber(c[i + 1])
    elseif c[i] == 'idle' then idle = tonumber(c[i + 1]) end
  end
  if name and name ~= ARGV[3] and pending == 0 and idle and idle >= minIdle then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
    deleted[#deleted + 1] = name
  end
end
return deleted
`;
