-- wrk script for the benchmark (bench/wrk.ts): prints one JSON line of figures when the run is done,
-- and with arguments `rotate THREADS PREFIX COUNT WIDTH SUFFIX` sends request i to PREFIX .. i mod COUNT
-- (zero-padded to WIDTH) .. SUFFIX, so a run goes through COUNT distinct API keys.
-- Without `rotate` no request() function is defined, so wrk sends its one pre-built request at full speed.

local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  if args[1] == "rotate" then
    local step, prefix, count, width, suffix = tonumber(args[2]), args[3], tonumber(args[4]), tonumber(args[5]), args[6]
    -- Threads interleave (thread t of T sends keys t, t+T, t+2T, ...), so every key is used early on.
    local i = index
    local fmt = "%s%0" .. width .. "d%s"
    request = function()
      local path = string.format(fmt, prefix, i % count, suffix)
      i = i + step
      return wrk.format("GET", path)
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
