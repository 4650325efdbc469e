-- set_cancel_flag for every live stream of a session (that started before a given time).
-- KEYS[1] the session's live set <prefix>{sid}:live; the other keys of the session are built from ARGV[1] and
--         share its hash tag, so they are in the same slot.
-- ARGV[1] session key base "<prefix>{sid}:", ARGV[2] waiter "node\tcancelId", ARGV[3] TTL in seconds,
-- ARGV[4] node channel prefix ('' = do not publish), ARGV[5] session id,
-- ARGV[6] started-before bound in ms since the epoch ('0': every stream; a cancel passes the time it was received,
--         so a stream started after it is left alone even when this step runs late or was held)
-- Returns a flat list {mid, "owner\ttrace\tstarted", mid, ...} of the streams flagged.
local out = {}
local ttl = tonumber(ARGV[3])
local before = tonumber(ARGV[6])
for _, mid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local live = redis.call('GET', ARGV[1] .. 'm:' .. mid)
  if live then
    local started = tonumber(string.match(live, '^[^\t]*\t[^\t]*\t(%d+)') or '0')
    if before == 0 or started <= before then
      local flag = ARGV[1] .. 'c:' .. mid
      redis.call('RPUSH', flag, ARGV[2])
      redis.call('LTRIM', flag, -16, -1)
      redis.call('EXPIRE', flag, ttl)
      if ARGV[4] ~= '' then
        local owner = string.match(live, '^[^\t]*')
        redis.call('PUBLISH', ARGV[4] .. owner, 'W\t' .. ARGV[5] .. '\t' .. mid .. '\t' .. ARGV[2])
      end
      out[#out + 1] = mid
      out[#out + 1] = live
    end
  else
    redis.call('SREM', KEYS[1], mid)
  end
end
return out
