#!/usr/bin/env bash
# The read API's speed, measured side by side in one run (see BENCHMARKS.md, "Read API").
#
#   scripts/bench/read-api.sh                   # SQLite, SUBSCRIBERS=1000000
#   ENGINE=postgres scripts/bench/read-api.sh   # the same store in PostgreSQL on this machine
#
# 1. A store of SUBSCRIBERS subscribers in one account, filled by an unthrottled reconcile from
#    the simulator (so every field is known).
# 2. Full listing: one sequential client (wrk, 1 connection, listing.lua) pages the account through
#    the Tencent-compatible get_subscriber_info with Limit 200, each request carrying the previous
#    Next; timed from wrk's start to its exit after the last page (wrk's start-up included), LISTINGS
#    (3) times. Target: 2,000 pages/s or more (the median), with the serve process's peak RSS growing by at most
#    32 MiB (VmHWM after the listing minus VmRSS before it). Then the same account in one answer
#    without Limit (curl), for its time and RSS.
# 3. Point lookups: GET /v1/official-accounts/{account}/subscribers/{random subscriber} with the
#    bearer token, 2 wrk threads and CONNECTIONS (64) connections, against the bare Hummingbird
#    rate (ack-baseline's GET /stats, same wrk settings), alternated ROUNDS (2) times. Target: at
#    least 0.5x the bare rate (all rounds' lookups against all rounds' bare runs), p99 at most
#    20 ms (the worst round's).
#
# Environment: SUBSCRIBERS, ENGINE (sqlite|postgres), DURATION (10s), CONNECTIONS (64), ROUNDS (2),
# LISTINGS (3), READ_PORT
# (18101), BARE_PORT (18102), BENCH_TMPDIR, KEEP_TMP=1. Prints a Markdown report on stdout; exit 2
# when a sanity check failed.
set -euo pipefail
cd "$(dirname "$0")/../.."

SUBSCRIBERS=${SUBSCRIBERS:-1000000}
ENGINE=${ENGINE:-sqlite}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-2}
LISTINGS=${LISTINGS:-3}
READ_PORT=${READ_PORT:-18101}
BARE_PORT=${BARE_PORT:-18102}
CALLBACK_PORT=${CALLBACK_PORT:-18103}
ACCOUNT='@TOA#_bench'
ACCOUNT_ENCODED='%40TOA%23_bench'
SDKAPPID=1400000000
BIN=.build-release/release
export TENCENT_SECRET_KEY=5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e
export SUBSCRIBER_SYNC_READ_API_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export PGPASSWORD=${PGPASSWORD:-subscriber_sync}

if ! command -v swift >/dev/null && [ -x /opt/swift/usr/bin/swift ]; then export PATH=/opt/swift/usr/bin:$PATH; fi
for tool in wrk curl bc; do
  if ! command -v $tool >/dev/null; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get install -y -qq $tool >/dev/null 2>&1 || { $sudo apt-get update -qq && $sudo apt-get install -y -qq $tool; }
  fi
done

echo "== building release binaries (scratch path .build-release)" >&2
swift build -c release --scratch-path .build-release --product subscriber-sync >&2
swift build -c release --scratch-path .build-release --product ack-baseline >&2

. scripts/bench/scratch.sh read-api-bench
require_free_ports "$READ_PORT" "$BARE_PORT" "$CALLBACK_PORT"

wait_for_log() {  # FILE TEXT: the port after TEXT in FILE (60 s at most)
  local i port
  for i in $(seq 600); do
    port=$(grep -o "$2[0-9]*" "$1" | head -1 | sed 's/.*://') || true
    [ -n "${port:-}" ] && { echo "$port"; return 0; }
    sleep 0.1
  done
  echo "no '$2' in $1" >&2; cat "$1" >&2; return 1
}
field() { sed -n "s/^$1 //p" "$2" | tr ' ' '\n' | sed -n "s/^$3=//p"; }
kib() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"; }

# --- 1. the store ---------------------------------------------------------------------------------
if [ "$ENGINE" = postgres ]; then
  scripts/test-postgres >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo runuser -u postgres -- psql -qAtX -c "DROP DATABASE IF EXISTS ss_bench_read WITH (FORCE)" \
    -c "CREATE DATABASE ss_bench_read OWNER subscriber_sync" >&2
  database="postgres://subscriber_sync@127.0.0.1:5432/ss_bench_read?sslmode=disable"
else
  database="$tmp/store.sqlite"
fi
echo "== filling the store ($ENGINE) with $SUBSCRIBERS subscribers from the simulator" >&2
"$BIN/subscriber-sync" simulator --listen 127.0.0.1:0 --sdkappid "$SDKAPPID" --calls-per-second 1000000 \
  --account "$ACCOUNT:$SUBSCRIBERS" --log-level notice 2>"$tmp/simulator.log" &
sim_pid=$!; pids+=("$sim_pid")
sim_port=$(wait_for_log "$tmp/simulator.log" "listening on 127.0.0.1:")
"$BIN/subscriber-sync" reconcile --sdkappid "$SDKAPPID" --api-base-url "http://127.0.0.1:$sim_port" --api-rate-limit 10000 \
  --official-account "$ACCOUNT" --database "$database" --max-removal-ratio 1 --events "$tmp/reconcile-events.jsonl" \
  --log-level warning 2>"$tmp/reconcile.log" || { tail -20 "$tmp/reconcile.log" >&2; exit 1; }
kill -TERM "$sim_pid"; wait "$sim_pid" 2>/dev/null || true
# The fill wrote about a gigabyte (store and events); its writeback is not the read API's cost.
rm -f "$tmp/reconcile-events.jsonl"
sync

echo "== serve with the read API on :$READ_PORT" >&2
"$BIN/subscriber-sync" serve --sdkappid "$SDKAPPID" --listen "127.0.0.1:$CALLBACK_PORT" --database "$database" \
  --events "$tmp/events.jsonl" --reconcile-interval 0 --read-api-listen "127.0.0.1:$READ_PORT" --log-level notice 2>"$tmp/serve.log" &
serve_pid=$!; pids+=("$serve_pid")
wait_for_log "$tmp/serve.log" "read API served on 127.0.0.1:" >/dev/null
usersig=$("$BIN/subscriber-sync" usersig --sdkappid "$SDKAPPID" --identifier administrator 2>/dev/null | tail -1)
compatible="http://127.0.0.1:$READ_PORT/v4/official_account_open_http_svc/get_subscriber_info?sdkappid=$SDKAPPID&identifier=administrator&usersig=$usersig&random=1&contenttype=json"
first=$(curl -s -X POST -H 'Content-Type: application/json' --data "{\"Official_Account\":\"$ACCOUNT\",\"Limit\":1,\"Next\":\"\"}" "$compatible")
echo "$first" | grep -q "\"SubscriberNum\":$SUBSCRIBERS," || { echo "unexpected first page: $first" >&2; exit 1; }

# --- 2. the full listing ------------------------------------------------------------------------
# LISTINGS (3) listings one after the other; the median is judged, every one is printed. The
# RSS growth is the peak over all of them against the RSS before the first.
rss_before=$(kib "$serve_pid" VmRSS)
listing_times=()
for listing in $(seq "$LISTINGS"); do
  echo "== full listing $listing of $LISTINGS, Limit 200, one sequential client" >&2
  started=$(date +%s.%N)
  wrk -t1 -c1 -d600s -s Benchmarks/wrk/listing.lua "http://127.0.0.1:$READ_PORT" -- "$SDKAPPID" "$usersig" "$ACCOUNT" 200 >"$tmp/listing.txt"
  listing_times+=("$(echo "$(date +%s.%N) - $started" | bc -l)")
  grep -q '^LISTING ' "$tmp/listing.txt" || { cat "$tmp/listing.txt" >&2; exit 1; }
  [ "$(field LISTING "$tmp/listing.txt" complete)" = 1 ] || problem "listing $listing did not reach its last page: $(cat "$tmp/listing.txt")"
  [ "$(field LISTING "$tmp/listing.txt" subscribers)" = "$SUBSCRIBERS" ] || problem "listing $listing returned $(field LISTING "$tmp/listing.txt" subscribers) subscribers"
done
hwm_after=$(kib "$serve_pid" VmHWM)
listing_seconds=$(printf '%s\n' "${listing_times[@]}" | sort -n | sed -n "$(( (LISTINGS + 1) / 2 ))p")
listing_rates=$(for t in "${listing_times[@]}"; do printf '%.0f ' "$(echo "$(field LISTING "$tmp/listing.txt" pages) / $t" | bc -l)"; done)

echo "== the same account in one answer without Limit" >&2
rss_before_whole=$(kib "$serve_pid" VmRSS)
whole_seconds=$(curl -s -o "$tmp/whole.json" -w '%{time_total}' -X POST -H 'Content-Type: application/json' \
  --data "{\"Official_Account\":\"$ACCOUNT\",\"Next\":\"\"}" "$compatible")
hwm_whole=$(kib "$serve_pid" VmHWM)
whole_count=$(grep -o '"Subscriber_Account"' "$tmp/whole.json" | wc -l)
[ "$whole_count" = "$SUBSCRIBERS" ] || problem "the answer without Limit held $whole_count subscribers"
whole_mib=$(echo "$(stat -c %s "$tmp/whole.json") / 1048576" | bc -l)

# --- 3. point lookups against the bare server ---------------------------------------------------
"$BIN/ack-baseline" --listen "127.0.0.1:$BARE_PORT" >"$tmp/bare.log" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$BARE_PORT/stats" && break; sleep 0.1; done
lookups() {  # NAME PORT PREFIX COUNT [TOKEN]
  wrk -t2 -c2 -d2s -s Benchmarks/wrk/lookup.lua "http://127.0.0.1:$2" -- "$3" "$4" "${5:-}" >/dev/null
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s Benchmarks/wrk/lookup.lua "http://127.0.0.1:$2" -- "$3" "$4" "${5:-}" >"$tmp/$1.txt"
  grep -q '^WRK_RESULT ' "$tmp/$1.txt" || { cat "$tmp/$1.txt" >&2; exit 1; }
  [ "$(field WRK_RESULT "$tmp/$1.txt" non2xx)" = 0 ] || problem "$1: $(field WRK_RESULT "$tmp/$1.txt" non2xx) non-2xx answers"
}
# Alternated, ROUNDS times: this machine's speed drifts by a third over a minute, and one bare run
# followed by one lookup run compares two different moments.
for round in $(seq "$ROUNDS"); do
  echo "== point lookups, round $round of $ROUNDS: bare Hummingbird, then the read API ($CONNECTIONS connections, $DURATION)" >&2
  lookups "bare-round-$round" "$BARE_PORT" /stats 0
  lookups "lookup-round-$round" "$READ_PORT" "/v1/official-accounts/$ACCOUNT_ENCODED/subscribers/" "$SUBSCRIBERS" "$SUBSCRIBER_SYNC_READ_API_TOKEN"
done

# One connection, one request at a time: the latency each adds, apart from throughput.
sequential() {  # NAME PORT PATH [TOKEN]
  wrk -t1 -c1 -d4s --latency -s Benchmarks/wrk/lookup.lua "http://127.0.0.1:$2" -- "$3" 0 "${4:-}" >"$tmp/$1.txt"
  grep -q '^WRK_RESULT ' "$tmp/$1.txt" || { cat "$tmp/$1.txt" >&2; exit 1; }
}
echo "== one connection: bare GET, a point lookup, a native page of 200" >&2
sequential bare-1 "$BARE_PORT" /stats
sequential lookup-1 "$READ_PORT" "/v1/official-accounts/$ACCOUNT_ENCODED/subscribers/user00000001" "$SUBSCRIBER_SYNC_READ_API_TOKEN"
sequential page-1 "$READ_PORT" "/v1/official-accounts/$ACCOUNT_ENCODED/subscribers?limit=200&after=dXNlcjAwMDUwMDAw" "$SUBSCRIBER_SYNC_READ_API_TOKEN"

bare_sum=0; lookup_sum=0; worst_p99=0
for round in $(seq "$ROUNDS"); do
  bare_sum=$(echo "$bare_sum + $(field WRK_RESULT "$tmp/bare-round-$round.txt" rps)" | bc -l)
  lookup_sum=$(echo "$lookup_sum + $(field WRK_RESULT "$tmp/lookup-round-$round.txt" rps)" | bc -l)
  p99=$(field WRK_RESULT "$tmp/lookup-round-$round.txt" p99_ms)
  if [ "$(echo "$p99 > $worst_p99" | bc -l)" = 1 ]; then worst_p99=$p99; fi
done
ratio=$(echo "$lookup_sum / $bare_sum" | bc -l)
pages_per_s=$(echo "$(field LISTING "$tmp/listing.txt" pages) / $listing_seconds" | bc -l)
growth=$(echo "($hwm_after - $rss_before) / 1024" | bc -l)
growth_whole=$(echo "($hwm_whole - $rss_before_whole) / 1024" | bc -l)
verdict() { if [ "$(echo "$1" | bc -l)" = 1 ]; then echo met; else echo "NOT met"; fi; }

echo "## Read API ($ENGINE, $SUBSCRIBERS subscribers; $(nproc) cores)"
echo
echo "| measure | figure | anchor | target |"
echo "|---|---|---|---|"
printf '| full listing, Limit 200, 1 sequential client (median of %s) | %.0f pages/s (%s pages in %s s; each: %s) | Tencent allows 200 calls/s | >= 2,000 pages/s: %s |\n' \
  "$LISTINGS" "$pages_per_s" "$(field LISTING "$tmp/listing.txt" pages)" "$(printf '%.2f' "$listing_seconds")" "${listing_rates% }" "$(verdict "$pages_per_s >= 2000")"
printf '| peak RSS growth during the listing | %.1f MiB (%.1f -> %.1f MiB peak) | RSS before: %.1f MiB | <= 32 MiB: %s |\n' \
  "$growth" "$(echo "$rss_before / 1024" | bc -l)" "$(echo "$hwm_after / 1024" | bc -l)" "$(echo "$rss_before / 1024" | bc -l)" "$(verdict "$growth <= 32")"
printf '| one answer without Limit (%.0f MiB of JSON) | %.2f s, peak RSS growth %.1f MiB | the listing above | constant memory |\n' \
  "$whole_mib" "$whole_seconds" "$growth_whole"
for round in $(seq "$ROUNDS"); do
  printf '| point lookups, %s connections, round %s | %.0f req/s, p50 %s ms, p99 %s ms | bare Hummingbird GET just before: %.0f req/s, p99 %s ms | %.2fx |\n' \
    "$CONNECTIONS" "$round" "$(field WRK_RESULT "$tmp/lookup-round-$round.txt" rps)" "$(field WRK_RESULT "$tmp/lookup-round-$round.txt" p50_ms)" \
    "$(field WRK_RESULT "$tmp/lookup-round-$round.txt" p99_ms)" "$(field WRK_RESULT "$tmp/bare-round-$round.txt" rps)" \
    "$(field WRK_RESULT "$tmp/bare-round-$round.txt" p99_ms)" "$(echo "$(field WRK_RESULT "$tmp/lookup-round-$round.txt" rps) / $(field WRK_RESULT "$tmp/bare-round-$round.txt" rps)" | bc -l)"
done
printf '| point lookups, all %s rounds | %.0f req/s, worst p99 %s ms | bare Hummingbird GET: %.0f req/s | >= 0.5x: %.2fx %s; p99 <= 20 ms: %s |\n' \
  "$ROUNDS" "$(echo "$lookup_sum / $ROUNDS" | bc -l)" "$worst_p99" "$(echo "$bare_sum / $ROUNDS" | bc -l)" "$ratio" "$(verdict "$ratio >= 0.5")" \
  "$(verdict "$worst_p99 <= 20")"
printf '| one connection: point lookup / native page of 200 | p50 %s ms / %s ms | bare Hummingbird GET: p50 %s ms | (the per-request latency behind the listing) |\n' \
  "$(field WRK_RESULT "$tmp/lookup-1.txt" p50_ms)" "$(field WRK_RESULT "$tmp/page-1.txt" p50_ms)" "$(field WRK_RESULT "$tmp/bare-1.txt" p50_ms)"
echo
if [ ${#problems[@]} -gt 0 ]; then
  printf 'sanity checks failed:\n'; printf -- '- %s\n' "${problems[@]}"; exit 2
fi
