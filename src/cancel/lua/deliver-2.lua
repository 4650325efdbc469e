-- Hands cancels to the replica that owns the streams: appends them to its inbox, the one key its poll reads, so a
-- poll costs what was cancelled for that replica, not what it holds. The flag in the session's keys stays the truth.
-- KEYS[1] the owner's inbox     <prefix>{@node}:inbox  (a Redis stream; entries {c = "sid\tmid"})
-- KEYS[2] the owner's heartbeat <prefix>{@node}:hb
-- ARGV[1] TTL in seconds, ARGV[2] the inbox's length bound (approximate trim), ARGV[3..] "sid\tmid" entries
-- Returns 1 when the owner's heartbeat is there (it is live), 0 when it is gone (its registrations are not live;
-- the entries are kept all the same, for an owner that was only cut off from Redis for a while).
for i = 3, #ARGV do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'c', ARGV[i])
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
return redis.call('EXISTS', KEYS[2])
