-- GET /api/auth/get-session (or $BENCH_PATH, e.g. /api/auth/list-sessions), cycling through the
-- sessions in $BENCH_SESSIONS: one header line per session, "Name: value"
-- ("Authorization: Bearer <token>" or "Cookie: <name>=<value>").
local here = os.getenv("BENCH_LUA_DIR") or debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
if here:sub(-1) ~= "/" then here = here .. "/" end
local common = dofile(here .. "common.lua")

local reqs, n, i = {}, 0, 0

function setup(thread) common.setup(thread) end

function init(args)
  local path = os.getenv("BENCH_PATH")
  if not path or path == "" then path = "/api/auth/get-session" end
  for _, line in ipairs(common.lines(common.env("BENCH_SESSIONS"))) do
    local name, value = line:match("^([^:]+):%s*(.*)$")
    assert(name, "bad session line: " .. line)
    reqs[#reqs + 1] = wrk.format("GET", path, { [name] = value })
  end
  n = #reqs
  i = ((thread_id or 0) * 37) % n
end

function request()
  i = i % n + 1
  return reqs[i]
end

done = common.done
