-- clear_active_stream + clear_cancel_flag: a stream ended on its owner. Records the outcome in the short-lived done
-- marker (so a late cancel answers already_completed) and confirms the stop to every replica waiting on it.
-- KEYS[1] live registration <prefix>{sid}:m:<mid>
-- KEYS[2] session live set  <prefix>{sid}:live
-- KEYS[3] cancel flag       <prefix>{sid}:c:<mid>
-- KEYS[4] done marker       <prefix>{sid}:d:<mid>
-- ARGV[1] message id, ARGV[2] owner, ARGV[3] outcome, ARGV[4] TTL in seconds,
-- ARGV[5] node channel prefix ('' = do not publish), ARGV[6] session id, ARGV[7] how the stop reached the owner
-- The done marker becomes "outcome\towner\tvia", except that a 'cancelled' marker stays: a message that was
-- stopped stays stopped, whatever finishes later under its ids (a refused reconnect that the client left).
-- Publishes to each waiter's node channel: "C\t<cancelId>\t<sid>\t<mid>\t<outcome>\t<owner>\t<via>".
-- Returns the waiters ("node\tcancelId") when ARGV[5] is '' (the caller publishes: sharded Pub/Sub in a cluster,
-- where a script may not publish to another slot's channel), else the number of waiters confirmed.
local live = redis.call('GET', KEYS[1])
if (not live) or string.match(live, '^[^\t]*') == ARGV[2] then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[1])
end
local done = redis.call('GET', KEYS[4])
if ARGV[3] == 'cancelled' or (not done) or string.match(done, '^[^\t]*') ~= 'cancelled' then
  redis.call('SET', KEYS[4], ARGV[3] .. '\t' .. ARGV[2] .. '\t' .. ARGV[7], 'EX', tonumber(ARGV[4]))
end
local waiters = redis.call('LRANGE', KEYS[3], 0, -1)
redis.call('DEL', KEYS[3])
if ARGV[5] ~= '' then
  for _, w in ipairs(waiters) do
    local node, id = string.match(w, '^([^\t]*)\t(.*)$')
    if node then
      redis.call('PUBLISH', ARGV[5] .. node,
        'C\t' .. id .. '\t' .. ARGV[6] .. '\t' .. ARGV[1] .. '\t' .. ARGV[3] .. '\t' .. ARGV[2] .. '\t' .. ARGV[7])
    end
  end
end
if ARGV[5] == '' then return waiters end
return #waiters
