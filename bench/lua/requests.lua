-- Cycles through the requests of $BENCH_REQUESTS, one per line, tab-separated:
--   METHOD <tab> PATH <tab> BODY (or -) <tab> "Name: value" <tab> "Name: value" ...
-- (lib/organizations.py writes them: pages of list-members, has-permission questions).
local here = os.getenv("BENCH_LUA_DIR") or debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
if here:sub(-1) ~= "/" then here = here .. "/" end
local common = dofile(here .. "common.lua")

local reqs, n, i = {}, 0, 0

function setup(thread) common.setup(thread) end

function init(args)
  for _, line in ipairs(common.lines(common.env("BENCH_REQUESTS"))) do
    local fields = {}
    for field in (line .. "\t"):gmatch("([^\t]*)\t") do fields[#fields + 1] = field end
    assert(#fields >= 3, "bad request line: " .. line)
    local headers = {}
    for k = 4, #fields do
      local name, value = fields[k]:match("^([^:]+):%s*(.*)$")
      assert(name, "bad header: " .. fields[k])
      headers[name] = value
    end
    local body = nil
    if fields[3] ~= "-" then
      body = fields[3]
      headers["Content-Type"] = "application/json"
    end
    reqs[#reqs + 1] = wrk.format(fields[1], fields[2], headers, body)
  end
  n = #reqs
  i = ((thread_id or 0) * 37) % n
end

function request()
  i = i % n + 1
  return reqs[i]
end

done = common.done
