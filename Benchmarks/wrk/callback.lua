-- wrk script for the durable-ingest benchmark (run by scripts/bench/ingest.sh).
--
--   wrk -t2 -c64 -d10s --latency -s Benchmarks/wrk/callback.lua http://127.0.0.1:8080 \
--       -- <SdkAppid> <Sign> <RequestTime> [tag] [CallbackCommand]
--
-- Every request is a signed OfficialAccount.CallbackAfterAddSubscriber carrying two subscribers
-- that no other request carries (a repeated subscriber would be a no-op for the store and would
-- measure nothing), with an EventTime that starts at RequestTime and grows by 1 ms per request
-- within each thread, spread over four official accounts. The caller computes Sign and
-- RequestTime: Sign = lowercase hex SHA-256(token .. RequestTime). `tag` tells runs against the
-- same database apart (warm-up vs. measurement), so that their subscribers never collide either.
-- `CallbackCommand` (default OfficialAccount.CallbackAfterAddSubscriber) names the command in the
-- query and the body alike, e.g. OfficialAccount.CallbackBeforeAddSubscriber for the relay's
-- before-callback benchmark (scripts/bench/forward.sh).
--
-- At the end it prints the WRK_RESULT line of result.lua.

dofile("Benchmarks/wrk/result.lua")

local accounts = { "@TOA#_bench_0", "@TOA#_bench_1", "@TOA#_bench_2", "@TOA#_bench_3" }
local body_format = '{"CallbackCommand":"%s",'
   .. '"Official_Account":"%s","Operator_Account":"bench_admin",'
   .. '"SubscribeAccountList":[{"Subscriber_Account":"%s_a"},{"Subscriber_Account":"%s_b"}],'
   .. '"EventTime":%d}'

function init(args)
   local sdkappid, sign, request_time = args[1], args[2], args[3]
   if sdkappid == nil or sign == nil or request_time == nil then
      error("usage: wrk ... -s callback.lua URL -- <SdkAppid> <Sign> <RequestTime> [tag]")
   end
   tag = args[4] or "r"
   command = args[5] or "OfficialAccount.CallbackAfterAddSubscriber"
   path = "/tencent/callback?SdkAppid=" .. sdkappid
      .. "&CallbackCommand=" .. command
      .. "&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI"
      .. "&Sign=" .. sign .. "&RequestTime=" .. request_time
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   base_time = tonumber(request_time) * 1000
   sent = 0
end

function request()
   sent = sent + 1
   -- e.g. "m1_42": tag, thread, per-thread counter; at most ~20 bytes, Tencent's limit is 32.
   local subscriber = string.format("%s%d_%d", tag, id, sent)
   local account = accounts[(sent + id) % #accounts + 1]
   local body = string.format(body_format, command, account, subscriber, subscriber, base_time + sent)
   return wrk.format(nil, path, nil, body)
end
