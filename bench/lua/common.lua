-- Shared by the wrk scripts of bench/run: reading the data files the seeder wrote, and a done()
-- that writes the run's figures as one JSON object to $BENCH_RESULT (wrk's own text summary still
-- goes to stdout, which bench/run keeps in its log).

local common = {}

function common.lines(path)
  local out = {}
  local f = assert(io.open(path, "r"), "cannot open " .. tostring(path))
  for line in f:lines() do
    if line ~= "" then out[#out + 1] = line end
  end
  f:close()
  assert(#out > 0, "no lines in " .. path)
  return out
end

function common.env(name)
  local v = os.getenv(name)
  assert(v and v ~= "", name .. " must be set")
  return v
end

-- Give each wrk thread its own id, so threads start at different places in the request list.
local next_id = 0
function common.setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
end

-- `extra` (optional): a table of name -> number added to the JSON object (a script's own counters).
function common.done(summary, latency, requests, extra)
  local e = summary.errors
  local secs = summary.duration / 1e6
  local more = ""
  if extra then
    local names = {}
    for k in pairs(extra) do names[#names + 1] = k end
    table.sort(names)
    for _, k in ipairs(names) do more = more .. string.format(',"%s":%d', k, extra[k]) end
  end
  local out = string.format(
    '{"requests":%d,"duration_s":%.3f,"rps":%.2f,"bytes":%d,' ..
    '"latency_ms":{"min":%.3f,"mean":%.3f,"p50":%.3f,"p90":%.3f,"p99":%.3f,"max":%.3f},' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}%s}',
    summary.requests, secs, summary.requests / secs, summary.bytes,
    latency.min / 1000, latency.mean / 1000, latency:percentile(50) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.connect, e.read, e.write, e.status, e.timeout, more)
  local path = os.getenv("BENCH_RESULT")
  if path and path ~= "" then
    local f = assert(io.open(path, "w"))
    f:write(out, "\n")
    f:close()
  else
    io.write(out, "\n")
  end
end

return common
