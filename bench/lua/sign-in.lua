-- POST /api/auth/sign-in/email {email,password}, cycling through the users in $BENCH_USERS
-- (tab-separated: email, password, name). No cookie and no Origin header, like an API client.
local here = os.getenv("BENCH_LUA_DIR") or debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
if here:sub(-1) ~= "/" then here = here .. "/" end
local common = dofile(here .. "common.lua")

local reqs, n, i = {}, 0, 0

function setup(thread) common.setup(thread) end

function init(args)
  for _, line in ipairs(common.lines(common.env("BENCH_USERS"))) do
    local email, password = line:match("^([^\t]+)\t([^\t]+)")
    assert(email, "bad user line: " .. line)
    -- The seeder only makes emails and passwords from [A-Za-z0-9.@-], so no JSON escaping is needed.
    local body = string.format('{"email":"%s","password":"%s"}', email, password)
    reqs[#reqs + 1] = wrk.format("POST", "/api/auth/sign-in/email",
      { ["Content-Type"] = "application/json" }, body)
  end
  n = #reqs
  i = ((thread_id or 0) * 37) % n
end

function request()
  i = i % n + 1
  return reqs[i]
end

done = common.done
