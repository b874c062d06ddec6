"""Presence kept in Redis for every worker: the Lua scripts.

``<prefix>:room:<id>`` (user -> connections) and ``<prefix>:users``
(user -> connections) hold the totals of every worker; ``<prefix>:w:<worker>``
what each worker contributes and ``<prefix>:workers`` when each
registration expires. Each change is one script, so a user joins or
leaves a room (``user_joined``/``user_left``) exactly once cluster-wide,
whichever workers their connections are on.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["field", "register"]

# Lua shared by the scripts. Fields of a worker's hash are JSON arrays:
# ["r", room, user] (connections in a room) or ["u", user] (connections).
_LUA = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function put(prefix, wkey, field, new)
  local old = tonumber(redis.call('HGET', wkey, field) or '0')
  if old == new then return 0 end
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
  local before = total - (new - old)
  if before <= 0 and total > 0 then return 1 end
  if before > 0 and total <= 0 then return -1 end
  return 0
end
local function note(out, field, moved)
  if moved == 0 then return end
  local f = cjson.decode(field)
  if f[1] ~= 'r' then return end
  table.insert(out, moved > 0 and 'user_joined' or 'user_left')
  table.insert(out, f[2])
  table.insert(out, f[3])
end
local function reap(prefix, workers, dead, out)
  for _, w in ipairs(dead) do
    local wkey = prefix .. ':w:' .. w
    local have = redis.call('HGETALL', wkey)
    for i = 1, #have, 2 do
      note(out, have[i], put(prefix, wkey, have[i], 0))
    end
    redis.call('DEL', wkey)
    redis.call('ZREM', workers, w)
  end
end
local prefix, worker, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local workers, wkey = KEYS[1], KEYS[2]
local out = {}
"""

# One change of this worker: ARGV[4] field, ARGV[5] count. Returns
# {registered anew (1/0), kind, room, user, ...}.
_SET = """
local fresh = 0
if not redis.call('ZSCORE', workers, worker) then
  redis.call('ZADD', workers, now_ms() + ttl, worker)
  fresh = 1
end
note(out, ARGV[4], put(prefix, wkey, ARGV[4], tonumber(ARGV[5])))
table.insert(out, 1, fresh)
return out
"""

# Replace this worker's contribution by ARGV[4], {field: count}.
_RESYNC = """
local want = cjson.decode(ARGV[4])
local have = redis.call('HGETALL', wkey)
for i = 1, #have, 2 do
  if want[have[i]] == nil then
    note(out, have[i], put(prefix, wkey, have[i], 0))
  end
end
for field, count in pairs(want) do
  note(out, field, put(prefix, wkey, field, count))
end
redis.call('ZADD', workers, now_ms() + ttl, worker)
return out
"""

# Renew this worker, remove the expired ones. {registered anew, ...}.
_HEARTBEAT = """
local fresh = redis.call('ZADD', workers, now_ms() + ttl, worker)
reap(prefix, workers, redis.call('ZRANGEBYSCORE', workers, '-inf', now_ms()),
     out)
table.insert(out, 1, fresh)
return out
"""

# This worker stops: remove its contribution.
_LEAVE = """
reap(prefix, workers, {worker}, out)
return out
"""


def field(room_id: str | None, user_id: str) -> str:
    """A worker's hash field: connections of a user in a room, or in all."""
    parts = ["u", user_id] if room_id is None else ["r", room_id, user_id]
    return json.dumps(parts, ensure_ascii=False, separators=(",", ":"))


def register(client: Any) -> dict[str, Any]:
    """The scripts, callable on ``client`` (EVALSHA, loaded when missing)."""
    bodies = {"set": _SET, "resync": _RESYNC, "heartbeat": _HEARTBEAT}
    bodies["leave"] = _LEAVE
    return {name: client.register_script(_LUA + body) for name, body in bodies.items()}
