#!/usr/bin/env bash
# Interleaved comparison of `subscriber-sync serve` builds on the read API's full listing (see
# BENCHMARKS.md, "Read API"): the given binaries take turns over one SQLite store, round after
# round, so that the machine's drift hits all of them. One line per listing: pages/s and the serve
# process's CPU per page.
#
#   STORE=/path/store.sqlite scripts/bench/compare-listing.sh ROUNDS BIN [BIN ...]
#
# STORE holds the account '@TOA#_bench' (keep the one read-api.sh fills: KEEP_TMP=1
# BENCH_TMPDIR=/var/tmp scripts/bench/read-api.sh, then STORE=/var/tmp/read-api-bench.*/store.sqlite).
# To compare two commits, build each in a worktree of its own (as for compare-serve.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

[ $# -ge 2 ] && [ -n "${STORE:-}" ] || { echo "usage: STORE=FILE $0 ROUNDS BIN [BIN ...]" >&2; exit 64; }
rounds=$1; shift
READ_PORT=${READ_PORT:-18101}
CALLBACK_PORT=${CALLBACK_PORT:-18103}
SDKAPPID=1400000000
export TENCENT_SECRET_KEY=5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e
export SUBSCRIBER_SYNC_READ_API_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

. scripts/bench/scratch.sh compare-listing
require_free_ports "$READ_PORT" "$CALLBACK_PORT"
usersig=$("$1" usersig --sdkappid "$SDKAPPID" --identifier administrator 2>/dev/null | tail -1)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

for round in $(seq "$rounds"); do
  for bin in "$@"; do
    "$bin" serve --sdkappid "$SDKAPPID" --listen "127.0.0.1:$CALLBACK_PORT" --database "$STORE" --events "$tmp/events.jsonl" \
      --reconcile-interval 0 --read-api-listen "127.0.0.1:$READ_PORT" --log-level notice 2>"$tmp/serve.log" &
    pid=$!; pids+=("$pid")
    for _ in $(seq 300); do grep -q "read API served on" "$tmp/serve.log" && break; sleep 0.1; done
    grep -q "read API served on" "$tmp/serve.log" || { cat "$tmp/serve.log" >&2; exit 1; }
    ticks=$(cpu_ticks "$pid"); started=$(date +%s.%N)
    wrk -t1 -c1 -d600s -s Benchmarks/wrk/listing.lua "http://127.0.0.1:$READ_PORT" -- "$SDKAPPID" "$usersig" '@TOA#_bench' 200 >"$tmp/listing.txt"
    seconds=$(echo "$(date +%s.%N) - $started" | bc -l); ticks=$(( $(cpu_ticks "$pid") - ticks ))
    pages=$(grep -o 'pages=[0-9]*' "$tmp/listing.txt" | cut -d= -f2)
    grep -q 'complete=1' "$tmp/listing.txt" || problem "$bin: the listing did not reach its last page: $(cat "$tmp/listing.txt")"
    printf 'round %d  %s  %.0f pages/s  %.3f ms serve CPU per page\n' "$round" "$bin" "$(echo "$pages / $seconds" | bc -l)" \
      "$(echo "$ticks * 1000 / $(getconf CLK_TCK) / $pages" | bc -l)"
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  done
done
[ ${#problems[@]} -eq 0 ] || exit 2
