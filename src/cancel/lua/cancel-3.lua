-- set_cancel_flag for one stream, decided in one atomic step against its registration and its done marker.
-- KEYS[1] live registration <prefix>{sid}:m:<mid>
-- KEYS[2] cancel flag       <prefix>{sid}:c:<mid>   (a list of waiters "node\tcancelId", capped at 16)
-- KEYS[3] done marker       <prefix>{sid}:d:<mid>
-- ARGV[1] waiter "node\tcancelId", ARGV[2] TTL in seconds, ARGV[3] node channel prefix ('' = do not publish),
-- ARGV[4] session id, ARGV[5] message id
-- Returns {'live', "owner\ttrace\tstarted"} (flag set, owner woken on its channel; the caller then hands the cancel
-- to the owner's inbox: deliver-2.lua), {'done', "outcome\towner\tvia"} or {'pending'}.
local live = redis.call('GET', KEYS[1])
if not live then
  local done = redis.call('GET', KEYS[3])
  if done then return {'done', done} end
end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], -16, -1)
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[2]))
if not live then return {'pending'} end
if ARGV[3] ~= '' then
  local owner = string.match(live, '^[^\t]*')
  redis.call('PUBLISH', ARGV[3] .. owner, 'W\t' .. ARGV[4] .. '\t' .. ARGV[5] .. '\t' .. ARGV[1])
end
return {'live', live}
