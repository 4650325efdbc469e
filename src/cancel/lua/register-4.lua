-- register_active_stream: records a live stream and its owner, and says whether a cancel was already waiting.
-- KEYS[1] live registration   <prefix>{sid}:m:<mid>
-- KEYS[2] session's live set  <prefix>{sid}:live
-- KEYS[3] cancel flag         <prefix>{sid}:c:<mid>
-- KEYS[4] done marker         <prefix>{sid}:d:<mid>
-- ARGV[1] message id, ARGV[2] "owner\ttraceparent", ARGV[3] TTL in seconds
-- Returns 1 when a cancel flag exists (the stream must stop at once), else 0.
local ttl = tonumber(ARGV[3])
redis.call('SET', KEYS[1], ARGV[2], 'EX', ttl)
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('DEL', KEYS[4])
return redis.call('EXISTS', KEYS[3])
