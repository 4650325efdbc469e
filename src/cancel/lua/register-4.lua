-- register_active_stream: records a live stream and its owner, and says whether a cancel was already waiting.
-- KEYS[1] live registration   <prefix>{sid}:m:<mid>
-- KEYS[2] session's live set  <prefix>{sid}:live
-- KEYS[3] cancel flag         <prefix>{sid}:c:<mid>
-- KEYS[4] done marker         <prefix>{sid}:d:<mid>
-- ARGV[1] message id, ARGV[2] "owner\ttraceparent", ARGV[3] TTL in seconds
-- Returns 0 (registered), 1 (registered, but a cancel flag waits: stop it at once) or 2 (not registered: this
-- message was stopped before; a client reconnecting with its ids must not start it again).
if redis.call('GET', KEYS[4]) == 'cancelled' then return 2 end
local ttl = tonumber(ARGV[3])
redis.call('SET', KEYS[1], ARGV[2], 'EX', ttl)
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('DEL', KEYS[4])
return redis.call('EXISTS', KEYS[3])
