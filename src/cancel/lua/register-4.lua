-- register_active_stream: records a live stream and its owner, and says whether a cancel was already waiting.
-- KEYS[1] live registration   <prefix>{sid}:m:<mid>
-- KEYS[2] session's live set  <prefix>{sid}:live
-- KEYS[3] cancel flag         <prefix>{sid}:c:<mid>
-- KEYS[4] done marker         <prefix>{sid}:d:<mid>  ("outcome\towner\tvia")
-- ARGV[1] message id, ARGV[2] "owner\ttraceparent\tstarted at ms", ARGV[3] TTL in seconds,
-- ARGV[4] '1' when the owner writes again a registration it made before (a refresh, or Redis lost its state)
-- Returns 0 (registered), 1 (registered, but a cancel flag waits: stop it at once), 2 (not registered: this
-- message was stopped before; a client reconnecting with its ids must not start it again) or 3 (not registered:
-- written again, but the stream's done marker is there, so it has ended; a late write never brings it back).
local done = redis.call('GET', KEYS[4])
if done then
  if ARGV[4] == '1' then return 3 end
  if string.match(done, '^[^\t]*') == 'cancelled' then return 2 end
end
local ttl = tonumber(ARGV[3])
redis.call('SET', KEYS[1], ARGV[2], 'EX', ttl)
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ttl)
if done then redis.call('DEL', KEYS[4]) end
return redis.call('EXISTS', KEYS[3])
