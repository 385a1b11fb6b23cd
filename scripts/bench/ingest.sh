#!/usr/bin/env bash
# Durable callback ingest vs. a bare Hummingbird server, measured in one run (see BENCHMARKS.md).
#
#   scripts/bench/ingest.sh                      # 2 wrk threads, 64 connections, 10 s each
#   DURATION=30s CONNECTIONS=128 scripts/bench/ingest.sh
#
# 1. ack-baseline (Benchmarks/AckBaseline): collects the body, decodes it with JSONDecoder, answers
#    the ack. No verification, no storage: the ceiling for this machine.
# 2. subscriber-sync serve with a callback token (so every Sign is verified), a fresh SQLite store
#    (WAL, synchronous=FULL, group commit) and an events file. Every request adds two subscribers
#    never seen before (Benchmarks/wrk/callback.lua), so every request commits two rows and two
#    outbox events; the ack is sent only after the commit.
# Both get the same warm-up and the same wrk command. Targets (the issue): durable requests/s at
# least half the bare rate, durable p99 at most 20 ms. Afterwards the store and the event file are
# checked against what wrk saw, so that the figures are known to measure real, durable work.
#
# Environment: DURATION (10s), CONNECTIONS (64), WARMUP (2s), BARE_PORT (18081), DURABLE_PORT
# (18080), BENCH_TMPDIR (TMPDIR or /tmp; must be a real disk, not tmpfs, or syncs are free),
# KEEP_TMP=1 to keep the database, events and logs.
# Prints a Markdown report on stdout (progress on stderr). Exit status 0 after a measurement that
# passed its sanity checks, whether or not the targets are met; 2 when a sanity check failed.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
WARMUP=${WARMUP:-2s}
THREADS=2
BARE_PORT=${BARE_PORT:-18081}
DURABLE_PORT=${DURABLE_PORT:-18080}
SDKAPPID=1400000000
SCRIPT=Benchmarks/wrk/callback.lua
BIN=.build-release/release

if ! command -v swift >/dev/null && [ -x /opt/swift/usr/bin/swift ]; then
  export PATH=/opt/swift/usr/bin:$PATH
fi

# --- tools -------------------------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
  echo "== installing wrk" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -qq wrk >/dev/null 2>&1 || { $sudo apt-get update -qq && $sudo apt-get install -y -qq wrk; }
fi
command -v wrk >/dev/null || { echo "wrk is not installed and could not be installed" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is required" >&2; exit 1; }

echo "== building release binaries (scratch path .build-release)" >&2
swift build -c release --scratch-path .build-release --product subscriber-sync >&2
swift build -c release --scratch-path .build-release --product ack-baseline >&2

# --- scratch directory and cleanup ---------------------------------------------------------------
. scripts/bench/scratch.sh ingest-bench
require_real_disk
require_free_ports "$BARE_PORT" "$DURABLE_PORT"

# Signing, wait_for, field and the CPU accounting.
. scripts/bench/callback-load.sh

# Runs warm-up and measurement against the server $3 on port $1, output files named after $2.
run_wrk() {
  local port=$1 name=$2 pid=$3
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" --latency -s "$SCRIPT" "http://127.0.0.1:$port" \
      -- "$SDKAPPID" "$sign" "$request_time" w >"$tmp/$name-warmup.txt"
  local busy0 server0 children0 start busy1 server1 children1 end
  # With perf, count the server's fsync/fdatasync calls per thread during the measurement
  # (in-kernel counters, no measurable cost). The commit thread syncs the WAL once per group
  # commit (which also carries the emitter's checkpoints); other threads sync the event file once
  # per emitter batch and the WAL and database file for background checkpoints. Requests per
  # commit-thread sync shows how many callbacks share a commit.
  local perf_pid=""
  if [ "$name" = durable ] && [ -n "$perf_ok" ]; then
    perf stat --per-thread -x, -e syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync -p "$pid" -o "$tmp/$name-syncs.txt" &
    perf_pid=$!; pids+=("$perf_pid"); sleep 0.2
  fi
  times >"$tmp/times"; children0=$(children_ticks); busy0=$(busy_ticks); server0=$(proc_ticks "$pid"); start=$(date +%s.%N)
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$SCRIPT" "http://127.0.0.1:$port" \
      -- "$SDKAPPID" "$sign" "$request_time" m >"$tmp/$name.txt"
  end=$(date +%s.%N); busy1=$(busy_ticks); server1=$(proc_ticks "$pid"); times >"$tmp/times"; children1=$(children_ticks)
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
  # "other" is user+system time of every other process and kernel thread (a compiler, but also
  # kernel writeback); irq is interrupt time, steal is time the hypervisor gave elsewhere.
  awk -v hz="$HZ" -v s="$start" -v e="$end" -v b0="$busy0" -v b1="$busy1" -v srv=$((server1 - server0)) -v w=$((children1 - children0)) \
    'BEGIN { d = (e - s) * hz; split(b0, x, " "); split(b1, y, " ")
             o = y[1] - x[1] - srv - w; if (o < 0) o = 0
             printf "CPU server=%.2f wrk=%.2f other=%.2f irq=%.2f steal=%.2f\n", srv / d, w / d, o / d, (y[2] - x[2]) / d, (y[3] - x[3]) / d }' >>"$tmp/$name.txt"
  check_wrk_output "$name"
}

perf_ok=""
if command -v perf >/dev/null && perf stat -e syscalls:sys_enter_fdatasync -- true >/dev/null 2>&1; then perf_ok=1; fi


echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), scratch on $fstype" >&2
echo "== wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency -s $SCRIPT (warm-up $WARMUP)" >&2

# --- 1. bare Hummingbird -----------------------------------------------------------------------
echo "== bare: ack-baseline on :$BARE_PORT" >&2
"$BIN/ack-baseline" --listen "127.0.0.1:$BARE_PORT" >"$tmp/bare.log" 2>&1 &
bare_pid=$!; pids+=("$bare_pid")
wait_for "http://127.0.0.1:$BARE_PORT/tencent/callback" 200 "$sample_body"
run_wrk "$BARE_PORT" bare "$bare_pid"
kill -TERM "$bare_pid"; wait "$bare_pid" || true

# --- 2. durable subscriber-sync ----------------------------------------------------------------
echo "== durable: subscriber-sync serve on :$DURABLE_PORT, store in $tmp" >&2
TENCENT_CALLBACK_TOKEN=$token "$BIN/subscriber-sync" serve --sdkappid "$SDKAPPID" \
  --listen "127.0.0.1:$DURABLE_PORT" --database "$tmp/db.sqlite" --events "$tmp/events.jsonl" \
  --request-time-window 3600 >"$tmp/durable.log" 2>&1 &
durable_pid=$!; pids+=("$durable_pid")
wait_for "http://127.0.0.1:$DURABLE_PORT/healthz" 200
# The token is really checked: a wrong Sign is refused (and stores nothing).
wait_for "http://127.0.0.1:$DURABLE_PORT/tencent/callback?$query&Sign=$(printf '%064d' 0)" 401 "$sample_body"
run_wrk "$DURABLE_PORT" durable "$durable_pid"
kill -TERM "$durable_pid"
durable_status=0; wait "$durable_pid" || durable_status=$?
[ "$durable_status" -eq 0 ] || problem "subscriber-sync exited with status $durable_status after SIGTERM (log: $tmp/durable.log)"
if grep -qE ' (error|critical) ' "$tmp/durable.log"; then
  problem "subscriber-sync logged errors:"; grep -E ' (error|critical) ' "$tmp/durable.log" | head -5 >&2
fi

# --- sanity: did every acknowledged callback land, exactly once? --------------------------------
rows=$("$BIN/subscriber-sync" export --database "$tmp/db.sqlite" | wc -l)
events=$( [ -f "$tmp/events.jsonl" ] && wc -l <"$tmp/events.jsonl" || echo 0)
acked=$(( $(field "$tmp/durable-warmup.txt" requests) - $(field "$tmp/durable-warmup.txt" non2xx) \
        + $(field "$tmp/durable.txt" requests) - $(field "$tmp/durable.txt" non2xx) ))
sent=$(( $(field "$tmp/durable-warmup.txt" sent) + $(field "$tmp/durable.txt" sent) ))
# wrk stops with up to CONNECTIONS requests per run written but unanswered; the server may have
# committed those too. So: 2 x acked <= events <= 2 x sent, and rows == events (all distinct).
unanswered=$(( (events - 2 * acked) ))
if [ "$rows" -ne "$events" ]; then
  problem "MISMATCH: $rows subscribed rows but $events event lines (expected equal: every request adds 2 new subscribers)"
fi
if [ "$events" -lt $((2 * acked)) ]; then
  problem "MISMATCH: $events event lines < 2 x $acked acknowledged requests: acknowledged callbacks are missing"
elif [ "$events" -gt $((2 * sent)) ]; then
  problem "MISMATCH: $events event lines > 2 x $sent requests sent"
elif [ $((events % 2)) -ne 0 ]; then
  problem "MISMATCH: odd number of event lines ($events); every request adds exactly 2 subscribers"
fi

# --- report ------------------------------------------------------------------------------------
fmt_rps() { printf '%.0f' "$1"; }
bare_rps=$(field "$tmp/bare.txt" rps); durable_rps=$(field "$tmp/durable.txt" rps)
# Three decimals, and the target judged on the unrounded ratio: 0.4991 is not "0.50, met".
ratio=$(awk -v d="$durable_rps" -v b="$bare_rps" 'BEGIN { printf "%.3f", (b > 0 ? d / b : 0) }')
durable_p99=$(field "$tmp/durable.txt" p99_ms)
ratio_ok=$(awk -v d="$durable_rps" -v b="$bare_rps" 'BEGIN { print (b > 0 && d >= 0.5 * b ? "met" : "NOT met") }')
p99_ok=$(awk -v p="$durable_p99" 'BEGIN { print (p <= 20 ? "met" : "NOT met") }')
row() {
  printf '| %s | %s | %.2f ms | %.2f ms | %.2f ms | %s | %s | %s / %s / %s / %s |\n' "$1" "$(fmt_rps "$(field "$2" rps)")" \
    "$(field "$2" p50_ms)" "$(field "$2" p99_ms)" "$(field "$2" max_ms)" "$(field "$2" requests)" "$(field "$2" non2xx)" \
    "$(cpu "$2" server)" "$(cpu "$2" wrk)" "$(cpu "$2" irq)" "$(cpu "$2" other)"
}

echo
echo "\`wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency -s $SCRIPT\` ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, warm-up $WARMUP)"
echo
echo "| server | requests/s | p50 | p99 | max | responses | non-2xx | CPU cores: server / wrk / irq / other |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
row "bare Hummingbird (ack-baseline: decode + ack)" "$tmp/bare.txt"
row "durable (subscriber-sync: verify + commit + ack)" "$tmp/durable.txt"
echo
echo "- durable / bare requests/s: **$ratio** (target ≥ 0.5: $ratio_ok)"
echo "- durable p99: **$durable_p99 ms** (target ≤ 20 ms: $p99_ok)"
echo "- store after the durable run (warm-up + measurement): $rows subscribed rows, $events event lines;" \
     "$acked requests acknowledged (2 × $acked = $((2 * acked))), $sent sent;" \
     "$((unanswered / 2)) committed but unanswered when wrk stopped (at most $((sent - acked)) were in flight)"
if [ -s "$tmp/durable-syncs.txt" ]; then
  # Lines: <thread name>-<tid>,<count>,,<event>,...
  commit_syncs=$(awk -F, '/sys_enter_f/ && $1 ~ /^commit-queue-/ { n += $2 } END { print n + 0 }' "$tmp/durable-syncs.txt")
  other_syncs=$(awk -F, '/sys_enter_f/ && $1 !~ /^commit-queue-/ { n += $2 } END { print n + 0 }' "$tmp/durable-syncs.txt")
  echo "- durable measurement: $commit_syncs syncs on the commit thread (group commits, carrying the emitter's" \
       "checkpoints) and $other_syncs on other threads (the event file after each emitter batch, background WAL" \
       "checkpoints); $(awk -v r="$(field "$tmp/durable.txt" requests)" -v n="$commit_syncs" \
       'BEGIN { printf "%.1f", (n > 0 ? r / n : 0) }') acknowledged requests per commit-thread sync"
fi
report_disturbances bare durable
report_problems
