-- The batched safety poll: ONE call per replica per interval for all its live streams. Reports which streams carry
-- a cancel flag. On a refresh tick (every few polls: often enough to keep a TTL of minutes alive) it also refreshes
-- the TTL of each registration and of its session set, and reports the registrations that are gone (Redis
-- restarted empty, or evicted them: the replica registers them again).
-- KEYS: three per stream, in order: live registration, session live set, cancel flag
-- ARGV[1] TTL in seconds, ARGV[2] '1' on a refresh tick
-- Returns {cancelled indices (0-based)}, {missing indices}
local ttl = tonumber(ARGV[1])
local refresh = ARGV[2] == '1'
local cancelled, missing = {}, {}
for i = 1, #KEYS, 3 do
  local n = (i - 1) / 3
  if refresh then
    if redis.call('EXPIRE', KEYS[i], ttl) == 0 then missing[#missing + 1] = n end
    redis.call('EXPIRE', KEYS[i + 1], ttl)
  end
  if redis.call('EXISTS', KEYS[i + 2]) == 1 then cancelled[#cancelled + 1] = n end
end
return {cancelled, missing}
