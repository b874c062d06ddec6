"""Presence kept in Redis for every worker: one Lua script.

``<prefix>:room:<id>`` and ``<prefix>:users`` (user -> connections) hold
the totals of every worker; ``<prefix>:w:<worker>`` what each worker
contributes, and ``<prefix>:workers`` when each registration expires.
Every change is one run of the script, so a user joins or leaves a room
(``user_joined``/``user_left``) exactly once cluster-wide, whichever
workers their connections are on.
"""

from __future__ import annotations

import json

__all__ = ["SCRIPT", "field"]

# ARGV: prefix, worker id, TTL (ms), mode, {field: count} as JSON. Modes:
# "patch" sets the fields given, "replace" also removes the others,
# "leave" removes this worker. Renews this worker and removes the expired
# ones (their connections leave). Returns {registered anew (1/0), kind,
# room, user, kind, room, user, ...}: the rooms users joined or left.
SCRIPT = """
local prefix, worker, ttl, mode = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local workers, mine = prefix .. ':workers', prefix .. ':w:' .. worker
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local out = {}
local function put(wkey, field, new)
  local old = tonumber(redis.call('HGET', wkey, field) or '0')
  if old == new then return end
  if new == 0 then
    redis.call('HDEL', wkey, field)
  else
    redis.call('HSET', wkey, field, new)
  end
  local f = cjson.decode(field)
  local key, member = prefix .. ':users', f[2]
  if f[1] == 'r' then key, member = prefix .. ':room:' .. f[2], f[3] end
  local total = redis.call('HINCRBY', key, member, new - old)
  if total <= 0 then redis.call('HDEL', key, member) end
  if f[1] == 'r' and (total > 0) ~= (total - new + old > 0) then
    table.insert(out, total > 0 and 'user_joined' or 'user_left')
    table.insert(out, f[2])
    table.insert(out, f[3])
  end
end
local function reap(w)
  local wkey = prefix .. ':w:' .. w
  local have = redis.call('HGETALL', wkey)
  for i = 1, #have, 2 do put(wkey, have[i], 0) end
  redis.call('DEL', wkey)
  redis.call('ZREM', workers, w)
end
local fresh = 0
if mode == 'leave' then
  reap(worker)
else
  fresh = redis.call('ZADD', workers, now + ttl, worker)
  for _, w in ipairs(redis.call('ZRANGEBYSCORE', workers, '-inf', now)) do
    reap(w)
  end
  local want = cjson.decode(ARGV[5])
  if mode == 'replace' then
    local have = redis.call('HGETALL', mine)
    for i = 1, #have, 2 do
      if want[have[i]] == nil then put(mine, have[i], 0) end
    end
  end
  for field, count in pairs(want) do put(mine, field, count) end
end
table.insert(out, 1, fresh)
return out
"""


def field(room_id: str | None, user_id: str) -> str:
    """A worker's hash field: connections of a user in a room, or in all."""
    parts = ["u", user_id] if room_id is None else ["r", room_id, user_id]
    return json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
