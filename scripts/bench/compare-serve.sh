#!/usr/bin/env bash
# Interleaved before/after comparison of `subscriber-sync serve` builds under the durable-ingest load
# (see BENCHMARKS.md, "What changed"). Unlike ingest.sh it runs no bare server: it alternates the
# given binaries, round after round, so that the machine's drift between runs hits all of them, and
# prints one line per run with the request rate and the server's CPU per request by thread.
#
#   scripts/bench/compare-serve.sh ROUNDS BIN [BIN ...]
#
# To compare two commits, build each in a worktree of its own:
#   git worktree add /tmp/before <commit> && (cd /tmp/before && swift build -c release)
#   scripts/bench/compare-serve.sh 3 /tmp/before/.build/release/subscriber-sync .build-release/release/subscriber-sync
#
# Each run: a fresh store and events file under BENCH_TMPDIR (default /var/tmp; a real disk), 2 s of
# warm-up, then DURATION (default 8s) of `wrk -t2 -c64` with Benchmarks/wrk/callback.lua; per-thread
# CPU comes from /proc over 5 s starting 2 s into the measurement (so DURATION must be at least
# 8s). Between runs it syncs and waits, so that one run's writeback does not land in the next.
set -euo pipefail
cd "$(dirname "$0")/../.."

[ $# -ge 2 ] || { echo "usage: $0 ROUNDS BIN [BIN ...]" >&2; exit 64; }
rounds=$1; shift
PORT=${PORT:-18090}
DURATION=${DURATION:-8s}
base=${BENCH_TMPDIR:-/var/tmp}
token=bench-callback-token

# Per-thread CPU (cores) of process $1 over $2 seconds, as "<thread name> <cores>" lines.
thread_cpu() {
  local pid=$1 secs=$2 t id
  declare -A start
  for t in /proc/"$pid"/task/*; do id=${t##*/}; start[$id]=$(awk '{print $14 + $15}' "$t/stat"); done
  sleep "$secs"
  for t in /proc/"$pid"/task/*; do
    id=${t##*/}
    awk -v s="${start[$id]:-0}" -v secs="$secs" -v hz="$(getconf CLK_TCK)" -v name="$(cat "$t/comm")" \
      '{ d = $14 + $15 - s; if (d > 0) printf "%s %.4f\n", name, d / secs / hz }' "$t/stat"
  done
}

for _ in $(seq "$rounds"); do
  for bin in "$@"; do
    tmp=$(mktemp -d "$base/compare-serve.XXXXXX")
    request_time=$(date +%s)
    sign=$(printf '%s%s' "$token" "$request_time" | sha256sum | cut -d' ' -f1)
    TENCENT_CALLBACK_TOKEN=$token "$bin" serve --sdkappid 1400000000 --listen "127.0.0.1:$PORT" \
      --database "$tmp/db.sqlite" --events "$tmp/events.jsonl" --request-time-window 3600 >"$tmp/log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.1; done
    wrk -t2 -c64 -d2s -s Benchmarks/wrk/callback.lua "http://127.0.0.1:$PORT" -- 1400000000 "$sign" "$request_time" w >/dev/null
    (sleep 2; thread_cpu "$pid" 5 >"$tmp/threads") &
    cpu_pid=$!
    out=$(wrk -t2 -c64 -d"$DURATION" --latency -s Benchmarks/wrk/callback.lua "http://127.0.0.1:$PORT" -- 1400000000 "$sign" "$request_time" m)
    wait "$cpu_pid"
    kill -TERM "$pid"; wait "$pid" || true
    rps=$(echo "$out" | grep -o 'rps=[0-9.]*' | cut -d= -f2)
    p99=$(echo "$out" | grep -o 'p99_ms=[0-9.]*' | cut -d= -f2)
    # Threads grouped by name without their number (NIO-SGLTN-1-#0 and -#1 count together).
    awk -v rps="$rps" -v p99="$p99" -v bin="$bin" '
      { group = $1; sub(/-#?[0-9]+$/, "", group); cpu[group] += $2; total += $2 }
      END {
        printf "%s requests/s=%.0f p99_ms=%s server_cores=%.2f us/request=%.1f |", bin, rps, p99, total, total * 1e6 / rps
        for (g in cpu) printf " %s=%.1fus", g, cpu[g] * 1e6 / rps
        print ""
      }' "$tmp/threads"
    rm -rf "$tmp"
    sync; sleep 4
  done
done
