-- wrk script for the read API's point lookups (run by scripts/bench/read-api.sh).
--
--   wrk -t2 -c64 -d10s --latency -s Benchmarks/wrk/lookup.lua http://127.0.0.1:8081 \
--       -- <path prefix> <count> [bearer token]
--
-- Each request GETs <path prefix> followed by a random one of <count> subscribers named as the
-- simulator seeds them (user + 8 digits), e.g. /v1/official-accounts/%40TOA%23_bench/subscribers/.
-- With <count> 0 it GETs <path prefix> alone (the bare server's /stats). Prints the WRK_RESULT line
-- of result.lua.

dofile("Benchmarks/wrk/result.lua")

function init(args)
   prefix, count, token = args[1], tonumber(args[2] or "0"), args[3]
   if prefix == nil then error("usage: wrk ... -s lookup.lua URL -- <path prefix> <count> [token]") end
   if token ~= nil and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
   math.randomseed(os.time() * 1000 + id)
   sent = 0
end

function request()
   sent = sent + 1
   if count == 0 then return wrk.format("GET", prefix) end
   return wrk.format("GET", prefix .. string.format("user%08d", math.random(0, count - 1)))
end
