-- Shared by the wrk scripts: numbers the threads (`id`) and prints one machine-readable line for
-- the shell scripts at the end:
--   WRK_RESULT requests=<responses> non2xx=<n> sent=<requests started> rps=<r> p50_ms=<x> p99_ms=<y> ...
-- `sent` (each thread's global) counts requests handed to the socket, including those still in
-- flight when wrk stopped.

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

function done(summary, latency, requests)
   local total_sent = 0
   for _, thread in ipairs(threads) do
      total_sent = total_sent + (thread:get("sent") or 0)
   end
   local e = summary.errors
   local seconds = summary.duration / 1e6
   io.write(string.format(
      "WRK_RESULT requests=%d non2xx=%d sent=%d rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f"
         .. " connect_errors=%d read_errors=%d write_errors=%d timeouts=%d seconds=%.3f\n",
      summary.requests, e.status, total_sent, summary.requests / seconds,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
      latency.max / 1000, e.connect, e.read, e.write, e.timeout, seconds))
end
