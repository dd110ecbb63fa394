-- POST /api/auth/token {"grant_type":"refresh_token","refresh_token":…}: refresh-token rotations,
-- each connection following its own chain. $BENCH_REFRESH_TOKENS holds one refresh token per line,
-- each from a separate password grant (a separate session); $BENCH_WRK_THREADS is wrk's -t.
--
-- A refresh token is single-use: rotating it answers the successor, and presenting an old one
-- later ends the session (reuse detection). So every token is presented exactly once: each thread
-- owns a disjoint share of the tokens in a queue; request() pops one, and response() pushes the
-- successor from a 200 answer's JSON. A thread's connections each have at most one request in
-- flight, so with more tokens than connections the queue never runs dry and no two requests ever
-- carry the same token (nothing relies on the server's refresh grace). A non-200 answer loses its
-- chain (wrk does not say which connection answered); bench/run seeds spare chains for that, and
-- counts every such answer: there should be none.
local here = os.getenv("BENCH_LUA_DIR") or debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
if here:sub(-1) ~= "/" then here = here .. "/" end
local common = dofile(here .. "common.lua")

-- Per-thread counters, globals so that done() can read them with thread:get().
rotations, invalid_grant, other_errors, starved, chains = 0, 0, 0, 0, 0

local queue, head, tail = {}, 1, 0
local function push(token)
  tail = tail + 1
  queue[tail] = token
end

local threads = {}
function setup(thread)
  common.setup(thread)
  threads[#threads + 1] = thread
end

local filler
function init(args)
  local nthreads = tonumber(common.env("BENCH_WRK_THREADS"))
  for idx, token in ipairs(common.lines(common.env("BENCH_REFRESH_TOKENS"))) do
    assert(token:match("^[%w%-_%.]+$"), "bad refresh token line: " .. token)
    if (idx - 1) % nthreads == thread_id then push(token) end
  end
  chains = tail - head + 1
  local conns = tonumber(os.getenv("BENCH_WRK_CONNECTIONS") or "0")
  assert(chains >= math.ceil(conns / nthreads),
    string.format("thread %d has %d refresh chains for %d connections", thread_id, chains,
      math.ceil(conns / nthreads)))
  -- Only sent if the queue ever ran dry (counted as `starved`; it should not happen).
  filler = wrk.format("GET", "/api/auth/ok")
end

function request()
  if head > tail then
    starved = starved + 1
    return filler
  end
  local token = queue[head]
  queue[head] = nil
  head = head + 1
  return wrk.format("POST", "/api/auth/token", { ["Content-Type"] = "application/json" },
    '{"grant_type":"refresh_token","refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  if status == 200 then
    local successor = body and body:match('"refresh_token":"([^"]+)"')
    if successor then
      rotations = rotations + 1
      push(successor)
    end -- else the filler's {"ok":true}
  elseif body and body:find('"invalid_grant"', 1, true) then
    invalid_grant = invalid_grant + 1
  else
    other_errors = other_errors + 1
  end
end

function done(summary, latency, requests)
  local totals = { rotations = 0, invalid_grant = 0, other_errors = 0, starved = 0, chains = 0 }
  for _, thread in ipairs(threads) do
    for k in pairs(totals) do totals[k] = totals[k] + (tonumber(thread:get(k)) or 0) end
  end
  totals.connections = tonumber(os.getenv("BENCH_WRK_CONNECTIONS") or "0") or 0
  totals.threads = #threads
  common.done(summary, latency, requests, totals)
end
