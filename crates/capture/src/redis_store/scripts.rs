//! The Lua scripts of the Redis operation store: one script per state
//! change, so that each change is atomic on the server, with times taken
//! from Redis `TIME` (never from an instance's clock).

use redis::Script;

pub(super) struct Scripts {
    pub(super) register: Script,
    pub(super) complete: Script,
    pub(super) abandon: Script,
    pub(super) claim: Script,
    pub(super) finish: Script,
    pub(super) release: Script,
    pub(super) poll: Script,
    pub(super) adopt: Script,
}

const NOW_MS: &str = "local t = redis.call('TIME')\n\
     local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n";

impl Scripts {
    pub(super) fn new() -> Self {
        Scripts {
            // KEYS: op, early, pending, early index, early sizes, early
            // bytes. ARGV: me, deadline_ms, pending json, member.
            register: Script::new(&format!(
                "{NOW_MS}
                local deadline = string.format('%d', now + tonumber(ARGV[2]))
                local state = redis.call('HGET', KEYS[1], 'state')
                if state then return {{'exists', state}} end
                local early = redis.call('GET', KEYS[2])
                local sz = redis.call('HGET', KEYS[5], ARGV[4])
                if sz then
                  redis.call('HDEL', KEYS[5], ARGV[4])
                  redis.call('ZREM', KEYS[4], ARGV[4])
                  redis.call('DECRBY', KEYS[6], sz)
                end
                if early then
                  redis.call('DEL', KEYS[2])
                  redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'state', 'completed',
                    'deadline_at', deadline, 'pending', ARGV[3], 'completion', early,
                    'created_at', string.format('%d', now))
                  redis.call('ZADD', KEYS[3], deadline, ARGV[4])
                  return {{'completed', early}}
                end
                redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'state', 'pending',
                  'deadline_at', deadline, 'pending', ARGV[3], 'created_at', string.format('%d', now))
                redis.call('ZADD', KEYS[3], deadline, ARGV[4])
                return {{'pending'}}"
            )),
            // KEYS: op, early, early index, early sizes, early bytes.
            // ARGV: completion json, early ttl ms, channel prefix, member,
            // max bytes, max entries, this completion's size.
            // The buffer's members are indexed by expiry so expired ones
            // are uncounted here (up to 1,000 per call).
            complete: Script::new(&format!(
                "{NOW_MS}
                local state = redis.call('HGET', KEYS[1], 'state')
                if state == 'pending' then
                  redis.call('HSET', KEYS[1], 'state', 'completed', 'completion', ARGV[1])
                  local owner = redis.call('HGET', KEYS[1], 'owner')
                  redis.call('PUBLISH', ARGV[3] .. owner, ARGV[4] .. '\\n' .. ARGV[1])
                  return {{'deliver', owner}}
                elseif state then
                  return {{'duplicate', state}}
                end
                local old = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1000)
                for _, m in ipairs(old) do
                  local sz = redis.call('HGET', KEYS[4], m)
                  if sz then
                    redis.call('HDEL', KEYS[4], m)
                    redis.call('DECRBY', KEYS[5], sz)
                  end
                  redis.call('ZREM', KEYS[3], m)
                end
                if redis.call('EXISTS', KEYS[2]) == 1 then return {{'duplicate', 'early'}} end
                local total = tonumber(redis.call('GET', KEYS[5]) or '0')
                local size = tonumber(ARGV[7])
                if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[6])
                    or total + size > tonumber(ARGV[5]) then
                  return {{'full', string.format('%d', total)}}
                end
                redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
                redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), ARGV[4])
                redis.call('HSET', KEYS[4], ARGV[4], size)
                redis.call('INCRBY', KEYS[5], size)
                return {{'buffered'}}"
            )),
            // KEYS: op, pending. ARGV: me, member, done ttl ms.
            abandon: Script::new(
                "local h = redis.call('HMGET', KEYS[1], 'state', 'owner', 'completion')
                if not h[1] then return {'lost'} end
                if h[2] ~= ARGV[1] then return {'moved', h[2]} end
                if h[1] == 'pending' then
                  redis.call('HSET', KEYS[1], 'state', 'lost')
                  redis.call('ZREM', KEYS[2], ARGV[2])
                  redis.call('PEXPIRE', KEYS[1], ARGV[3])
                  return {'lost'}
                end
                if h[1] == 'completed' and h[3] then return {'completed', h[3]} end
                return {'lost'}",
            ),
            // KEYS: claim, op. ARGV: me, instance key prefix, ttl ms.
            claim: Script::new(
                "local state = redis.call('HGET', KEYS[2], 'state')
                if state == 'done' or state == 'failed' or state == 'lost' then return 0 end
                local holder = redis.call('GET', KEYS[1])
                if holder and holder ~= ARGV[1] and redis.call('EXISTS', ARGV[2] .. holder) == 1 then
                  return 0
                end
                redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
                if holder and holder ~= ARGV[1] then
                  redis.call('HSET', KEYS[2], 'claim_taken_from', holder)
                end
                return 1",
            ),
            // KEYS: op, pending, claim. ARGV: me, state, summary json, member, done ttl ms.
            finish: Script::new(&format!(
                "{NOW_MS}
                local owner = redis.call('HGET', KEYS[1], 'owner')
                if owner and owner ~= ARGV[1] then return {{'moved', owner}} end
                redis.call('HSET', KEYS[1], 'state', ARGV[2], 'outcome', ARGV[3],
                  'finished_by', ARGV[1], 'finished_at', string.format('%d', now))
                redis.call('HDEL', KEYS[1], 'completion')
                redis.call('ZREM', KEYS[2], ARGV[4])
                redis.call('PEXPIRE', KEYS[1], ARGV[5])
                redis.call('PEXPIRE', KEYS[3], ARGV[5])
                return {{'ok'}}"
            )),
            // KEYS: op. ARGV: me.
            release: Script::new(
                "local h = redis.call('HMGET', KEYS[1], 'state', 'owner')
                if h[2] == ARGV[1] and (h[1] == 'pending' or h[1] == 'completed') then
                  redis.call('HSET', KEYS[1], 'owner', '', 'released_by', ARGV[1])
                end
                return 1",
            ),
            // KEYS: op. ARGV: me.
            poll: Script::new(
                "local h = redis.call('HMGET', KEYS[1], 'state', 'owner', 'completion')
                if h[1] == 'completed' and h[2] == ARGV[1] and h[3] then return h[3] end
                return false",
            ),
            // KEYS: pending. ARGV: me, key prefix (P:), start, count.
            adopt: Script::new(&format!(
                "{NOW_MS}
                local members = redis.call('ZRANGE', KEYS[1], tonumber(ARGV[3]),
                  tonumber(ARGV[3]) + tonumber(ARGV[4]) - 1)
                local out = {{}}
                for _, m in ipairs(members) do
                  local opk = ARGV[2] .. 'op:' .. m
                  local h = redis.call('HMGET', opk, 'owner', 'state', 'deadline_at', 'pending', 'completion')
                  if not h[1] then
                    redis.call('ZREM', KEYS[1], m)
                  elseif h[1] ~= ARGV[1] and (h[2] == 'pending' or h[2] == 'completed')
                      and (h[1] == '' or redis.call('EXISTS', ARGV[2] .. 'instance:' .. h[1]) == 0) then
                    redis.call('HSET', opk, 'owner', ARGV[1], 'adopted_from', h[1])
                    local remaining = tonumber(h[3] or '0') - now
                    if remaining < 0 then remaining = 0 end
                    table.insert(out, {{m, h[1], h[2], string.format('%d', remaining),
                      h[4] or '{{}}', h[5] or ''}})
                  end
                end
                return {{#members, out}}"
            )),
        }
    }
}
