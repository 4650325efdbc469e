-- The batched safety poll: ONE call per replica per interval, reading only this replica's own keys (one hash slot),
-- so its cost does not depend on the number of live streams. It
--  1. refreshes the replica's heartbeat (the liveness of all its registrations at once),
--  2. checks the replica's state marker: gone (Redis restarted empty, evicted it) or another epoch means Redis may
--     have lost the replica's registrations, and the replica writes them again, paced,
--  3. drops the inbox entries the previous poll read (up to the cursor) and reads the next ones.
-- KEYS[1] heartbeat <prefix>{@node}:hb, KEYS[2] state marker <prefix>{@node}:epoch, KEYS[3] inbox <prefix>{@node}:inbox
-- ARGV[1] this process's epoch, ARGV[2] heartbeat TTL in ms, ARGV[3] marker TTL in seconds,
-- ARGV[4] cursor (last entry id read, '0-0' for none), ARGV[5] most entries read per call
-- Returns {lost (0/1), {id, "sid\tmid", id, "sid\tmid", ...}}. With the marker lost the inbox is read from its start.
redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
local lost = redis.call('GET', KEYS[2]) ~= ARGV[1]
redis.call('SET', KEYS[2], ARGV[1], 'EX', tonumber(ARGV[3]))
local from = '-'
if not lost and ARGV[4] ~= '0-0' then
  redis.call('XTRIM', KEYS[3], 'MINID', ARGV[4])
  from = '(' .. ARGV[4]
end
local out = {}
for _, e in ipairs(redis.call('XRANGE', KEYS[3], from, '+', 'COUNT', tonumber(ARGV[5]))) do
  out[#out + 1] = e[1]
  out[#out + 1] = e[2][2]
end
return {lost and 1 or 0, out}
