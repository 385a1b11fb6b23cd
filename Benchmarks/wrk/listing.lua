-- wrk script for the read API's full listing (run by scripts/bench/read-api.sh): one connection
-- pages an account through the Tencent-compatible get_subscriber_info, each request carrying the
-- previous answer's Next, and stops after the last page.
--
--   wrk -t1 -c1 -d120s -s Benchmarks/wrk/listing.lua http://127.0.0.1:8081 \
--       -- <sdkappid> <usersig> <account> <limit>
--
-- It ends wrk (os.exit) after the last page or the first failure, so the caller times the whole
-- listing as wrk's run time. Prints: LISTING pages=<n> subscribers=<n> complete=<0|1> failed=<n>

function init(args)
   local sdkappid, usersig = args[1], args[2]
   account, limit = args[3], tonumber(args[4] or "200")
   if account == nil then error("usage: wrk ... -s listing.lua URL -- <sdkappid> <usersig> <account> <limit>") end
   path = "/v4/official_account_open_http_svc/get_subscriber_info?sdkappid=" .. sdkappid
      .. "&identifier=administrator&usersig=" .. usersig .. "&random=1&contenttype=json"
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   cursor, pages, subscribers, complete, failed = "", 0, 0, 0, 0
end

function request()
   return wrk.format(nil, path, nil, string.format('{"Official_Account":"%s","Limit":%d,"Next":"%s"}', account, limit, cursor))
end

local function finish()
   io.write(string.format("LISTING pages=%d subscribers=%d complete=%d failed=%d\n", pages, subscribers, complete, failed))
   io.stdout:flush()
   os.exit(0)
end

function response(status, headers, body)
   local next_cursor = body:match('"Next":"([^"]*)"')
   if status ~= 200 or next_cursor == nil or not body:find('"ErrorCode":0', 1, true) then
      failed = failed + 1
      finish()
   end
   pages = pages + 1
   -- A plain find per entry: gsub would build a copy of every 28 KB page, which was most of
   -- this client's time, and the client shares the cores with the service it measures. The
   -- pattern starts with the entry's "{", which a page holds once per entry (a '"' ten times).
   local at = body:find('{"Subscriber_Account"', 1, true)
   while at do
      subscribers = subscribers + 1
      at = body:find('{"Subscriber_Account"', at + 21, true)
   end
   if next_cursor == "" then
      complete = 1
      finish()
   end
   cursor = next_cursor
end
