-- GET /api/auth/ok: the cheapest answer, so what remains is the request pipeline itself.
local here = os.getenv("BENCH_LUA_DIR") or debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
if here:sub(-1) ~= "/" then here = here .. "/" end
local common = dofile(here .. "common.lua")

local req

function setup(thread) common.setup(thread) end

function init(args)
  req = wrk.format("GET", "/api/auth/ok")
end

function request()
  return req
end

done = common.done
