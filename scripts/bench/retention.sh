#!/usr/bin/env bash
# What outbox retention costs durable callback ingest (see README, "Replay and retention"), measured
# in one run: the same wrk load against two fresh stores, one after the other.
#
#   scripts/bench/retention.sh                         # SQLite, 2 wrk threads, 64 connections, 20 s each
#   ENGINE=postgres scripts/bench/retention.sh         # PostgreSQL 15 on 127.0.0.1:5432 (scripts/test-postgres)
#
# 1. the anchor: subscriber-sync serve --outbox-retention 0, which keeps every event;
# 2. subscriber-sync serve --outbox-retention 1s: an event may be deleted one second after it was
#    recorded, so the emitter's lease holder deletes (500 rows per statement, rounds of at most
#    250 ms, every second) all through the measurement, on the database that commits the callbacks.
# Both: a callback token (every Sign verified), an events file, --reconcile-interval 0, every
# request adds two subscribers never seen before (Benchmarks/wrk/callback.lua). The claim (the
# issue): deletion runs in small batches, so a callback never waits more than 50 ms on it. wrk
# cannot see a single callback's wait, so the script judges the claim from the two latency
# distributions: met when the max latency with retention is at most the max without + 50 ms.
# That deletion really ran during the measurement is read from subscriber_sync_outbox_oldest_sequence
# on /metrics just before and just after it; the store and the event file are checked against what
# wrk saw, as in scripts/bench/ingest.sh.
#
# Environment: ENGINE (sqlite | postgres), DURATION (20s), CONNECTIONS (64), WARMUP (2s), RETENTION
# (1s), KEEP_PORT (18280), PRUNE_PORT (18281), BENCH_TMPDIR (TMPDIR or /tmp; must be a real disk,
# not tmpfs, or syncs are free), KEEP_TMP=1 to keep the stores, events and logs. PostgreSQL: the
# role subscriber_sync (PGPASSWORD, default subscriber_sync) and the databases ss_bench_retention_keep
# and ss_bench_retention_prune, created afresh (and dropped at the end unless KEEP_TMP=1).
# Prints a Markdown report on stdout (progress on stderr). Exit status 0 after a measurement that
# passed its sanity checks, whether or not the target is met; 2 when a sanity check failed.
set -euo pipefail
cd "$(dirname "$0")/../.."

ENGINE=${ENGINE:-sqlite}
DURATION=${DURATION:-20s}
CONNECTIONS=${CONNECTIONS:-64}
WARMUP=${WARMUP:-2s}
RETENTION=${RETENTION:-1s}
THREADS=2
KEEP_PORT=${KEEP_PORT:-18280}
PRUNE_PORT=${PRUNE_PORT:-18281}
SDKAPPID=1400000000
SCRIPT=Benchmarks/wrk/callback.lua
BIN=.build-release/release
case "$ENGINE" in
  sqlite|postgres) ;;
  *) echo "ENGINE must be sqlite or postgres, got '$ENGINE'" >&2; exit 1 ;;
esac

if ! command -v swift >/dev/null && [ -x /opt/swift/usr/bin/swift ]; then
  export PATH=/opt/swift/usr/bin:$PATH
fi

# --- tools -------------------------------------------------------------------------------------
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
if ! command -v wrk >/dev/null; then
  echo "== installing wrk" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -qq wrk >/dev/null 2>&1 || { $sudo apt-get update -qq && $sudo apt-get install -y -qq wrk; }
fi
command -v wrk >/dev/null || { echo "wrk is not installed and could not be installed" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is required" >&2; exit 1; }
if [ "$ENGINE" = postgres ]; then
  export PGPASSWORD=${PGPASSWORD:-subscriber_sync}
  echo "== PostgreSQL: scripts/test-postgres" >&2
  scripts/test-postgres
fi

echo "== building release binaries (scratch path .build-release)" >&2
swift build -c release --scratch-path .build-release --product subscriber-sync >&2

# --- scratch directory, stores and cleanup ------------------------------------------------------
. scripts/bench/scratch.sh retention-bench
require_real_disk
require_free_ports "$KEEP_PORT" "$PRUNE_PORT"

pg_admin() { $sudo runuser -u postgres -- psql -qAtX -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" "$@"; }
store_for() {  # $1 = keep | prune
  if [ "$ENGINE" = postgres ]; then
    echo "postgres://subscriber_sync@127.0.0.1:5432/ss_bench_retention_$1?sslmode=disable"
  else
    echo "$tmp/$1.sqlite"
  fi
}
fresh_store() {  # $1 = keep | prune: an empty store (SQLite: serve creates the file in $tmp)
  [ "$ENGINE" = postgres ] || return 0
  pg_admin -c "DROP DATABASE IF EXISTS ss_bench_retention_$1 WITH (FORCE)" -c "CREATE DATABASE ss_bench_retention_$1 OWNER subscriber_sync"
  "$BIN/subscriber-sync" export --database "$(store_for "$1")" >/dev/null 2>"$tmp/$1-schema.log" \
    || { cat "$tmp/$1-schema.log" >&2; echo "could not create the store $(store_for "$1")" >&2; exit 1; }
}
if [ "$ENGINE" = postgres ]; then
  # scratch.sh's cleanup stops the servers first; the databases go after them.
  trap 'cleanup; if [ "${KEEP_TMP:-0}" != 1 ]; then pg_admin -c "DROP DATABASE IF EXISTS ss_bench_retention_keep WITH (FORCE)" -c "DROP DATABASE IF EXISTS ss_bench_retention_prune WITH (FORCE)" || true; fi' EXIT
  engine_label="PostgreSQL $(pg_admin -c 'SHOW server_version' | cut -d' ' -f1) on 127.0.0.1:5432, one replica"
else
  engine_label="SQLite (WAL, synchronous=FULL, group commit), scratch on $fstype"
fi

# Signing, wait_for, field and the CPU accounting.
. scripts/bench/callback-load.sh

# --- helpers -----------------------------------------------------------------------------------
# The oldest sequence still in the outbox, from /metrics on port $1 (the callback listener: no
# --metrics-listen); empty when the gauge is missing or /metrics does not answer.
oldest_sequence() {
  { curl -s --max-time 10 "http://127.0.0.1:$1/metrics" || true; } \
    | awk '$1 ~ /^subscriber_sync_outbox_oldest_sequence({.*})?$/ { printf "%d", $2; exit }'
}

# PostgreSQL's processes (the server's backends among them), or 0 for SQLite.
db_ticks() {
  if [ "$ENGINE" = postgres ]; then
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk '$2 == "(postgres)" { t += $14 + $15 } END { print t + 0 }'
  else
    echo 0
  fi
}

# Starts serve for run $1 (keep | prune) on port $2 with --outbox-retention $3; sets server_pid.
start_server() {
  local name=$1 port=$2 retention=$3
  fresh_store "$name"
  echo "== $name: subscriber-sync serve --outbox-retention $retention on :$port, store $(store_for "$name")" >&2
  TENCENT_CALLBACK_TOKEN=$token "$BIN/subscriber-sync" serve --sdkappid "$SDKAPPID" \
    --listen "127.0.0.1:$port" --database "$(store_for "$name")" --events "$tmp/$name-events.jsonl" \
    --request-time-window 3600 --reconcile-interval 0 --outbox-retention "$retention" --log-level info \
    >"$tmp/$name.log" 2>&1 &
  server_pid=$!; pids+=("$server_pid")
  wait_for "http://127.0.0.1:$port/healthz" 200 || { cat "$tmp/$name.log" >&2; exit 1; }
  # The token is really checked: a wrong Sign is refused (and stores nothing).
  wait_for "http://127.0.0.1:$port/tencent/callback?$query&Sign=$(printf '%064d' 0)" 401 "$sample_body"
}

# Warm-up and measurement against the server $3 on port $1, output files named after $2; the
# outbox's oldest sequence is read just before and just after the measurement.
run_wrk() {
  local port=$1 name=$2 pid=$3
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" --latency -s "$SCRIPT" "http://127.0.0.1:$port" \
      -- "$SDKAPPID" "$sign" "$request_time" w >"$tmp/$name-warmup.txt"
  local oldest0 oldest1 busy0 server0 db0 children0 start busy1 server1 db1 children1 end
  oldest0=$(oldest_sequence "$port")
  times >"$tmp/times"; children0=$(children_ticks); busy0=$(busy_ticks); server0=$(proc_ticks "$pid"); db0=$(db_ticks); start=$(date +%s.%N)
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$SCRIPT" "http://127.0.0.1:$port" \
      -- "$SDKAPPID" "$sign" "$request_time" m >"$tmp/$name.txt"
  end=$(date +%s.%N); busy1=$(busy_ticks); server1=$(proc_ticks "$pid"); db1=$(db_ticks); times >"$tmp/times"; children1=$(children_ticks)
  oldest1=$(oldest_sequence "$port")
  # The event file's lines number the events emitted so far (sequences start at 1, without gaps).
  local emitted; emitted=$( [ -f "$tmp/$name-events.jsonl" ] && wc -l <"$tmp/$name-events.jsonl" || echo 0)
  echo "OLDEST before=${oldest0:-none} after=${oldest1:-none} emitted=$emitted" >>"$tmp/$name.txt"
  # "other" is user+system time of every other process and kernel thread (a compiler, a test
  # run, kernel writeback); db is PostgreSQL's processes (0 on SQLite, whose work is the server's).
  awk -v hz="$HZ" -v s="$start" -v e="$end" -v b0="$busy0" -v b1="$busy1" -v srv=$((server1 - server0)) \
      -v w=$((children1 - children0)) -v db=$((db1 - db0)) \
    'BEGIN { d = (e - s) * hz; split(b0, x, " "); split(b1, y, " "); if (db < 0) db = 0
             o = y[1] - x[1] - srv - w - db; if (o < 0) o = 0
             printf "CPU server=%.2f wrk=%.2f db=%.2f other=%.2f irq=%.2f steal=%.2f\n", srv / d, w / d, db / d, o / d, (y[2] - x[2]) / d, (y[3] - x[3]) / d }' >>"$tmp/$name.txt"
  check_wrk_output "$name"
  echo "   outbox oldest sequence: ${oldest0:-none} -> ${oldest1:-none}" >&2
}

# Stops the server $2 of run $1 and checks that every acknowledged callback landed, exactly once:
# in the store (export) and in the event file (which retention never touches).
stop_and_check() {
  local name=$1 pid=$2 status=0
  kill -TERM "$pid"; wait "$pid" || status=$?
  [ "$status" -eq 0 ] || problem "$name: subscriber-sync exited with status $status after SIGTERM (log: $tmp/$name.log)"
  if grep -qE ' (error|critical) ' "$tmp/$name.log"; then
    problem "$name: subscriber-sync logged errors:"; grep -E ' (error|critical) ' "$tmp/$name.log" | head -5 >&2
  fi
  local rows events acked sent
  rows=$("$BIN/subscriber-sync" export --database "$(store_for "$name")" | wc -l)
  events=$( [ -f "$tmp/$name-events.jsonl" ] && wc -l <"$tmp/$name-events.jsonl" || echo 0)
  acked=$(( $(field "$tmp/$name-warmup.txt" requests) - $(field "$tmp/$name-warmup.txt" non2xx) \
          + $(field "$tmp/$name.txt" requests) - $(field "$tmp/$name.txt" non2xx) ))
  sent=$(( $(field "$tmp/$name-warmup.txt" sent) + $(field "$tmp/$name.txt" sent) ))
  # wrk stops with up to CONNECTIONS requests per run written but unanswered; the server may have
  # committed those too. So: 2 x acked <= events <= 2 x sent, and rows == events (all distinct).
  if [ "$rows" -ne "$events" ]; then
    problem "$name: MISMATCH: $rows subscribed rows but $events event lines (expected equal: every request adds 2 new subscribers)"
  fi
  if [ "$events" -lt $((2 * acked)) ]; then
    problem "$name: MISMATCH: $events event lines < 2 x $acked acknowledged requests: acknowledged callbacks are missing"
  elif [ "$events" -gt $((2 * sent)) ]; then
    problem "$name: MISMATCH: $events event lines > 2 x $sent requests sent"
  elif [ $((events % 2)) -ne 0 ]; then
    problem "$name: MISMATCH: odd number of event lines ($events); every request adds exactly 2 subscribers"
  fi
  echo "STORE rows=$rows events=$events acked=$acked sent=$sent" >>"$tmp/$name.txt"
}

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); $engine_label" >&2
echo "== wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency -s $SCRIPT (warm-up $WARMUP)" >&2

# --- 1. the anchor: retention off ----------------------------------------------------------------
start_server keep "$KEEP_PORT" 0
run_wrk "$KEEP_PORT" keep "$server_pid"
stop_and_check keep "$server_pid"

# --- 2. retention on, deleting during the measurement -------------------------------------------
start_server prune "$PRUNE_PORT" "$RETENTION"
run_wrk "$PRUNE_PORT" prune "$server_pid"
stop_and_check prune "$server_pid"

# --- sanity: did retention delete during the measurement, and only there? ------------------------
kv() { sed -n "s/^$2 //p" "$1" | tr ' ' '\n' | sed -n "s/^$3=//p"; }
keep0=$(kv "$tmp/keep.txt" OLDEST before); keep1=$(kv "$tmp/keep.txt" OLDEST after)
prune0=$(kv "$tmp/prune.txt" OLDEST before); prune1=$(kv "$tmp/prune.txt" OLDEST after)
deleted=0
if [ "$prune0" = none ] || [ "$prune1" = none ]; then
  problem "prune: subscriber_sync_outbox_oldest_sequence missing from /metrics (before: $prune0, after: $prune1)"
else
  deleted=$((prune1 - prune0))
  [ "$deleted" -gt 0 ] || problem "prune: the outbox's oldest sequence did not move during the measurement ($prune0 -> $prune1): nothing was deleted, so the run measured no retention"
fi
if [ "$keep0" = none ] || [ "$keep1" = none ]; then
  problem "keep: subscriber_sync_outbox_oldest_sequence missing from /metrics (before: $keep0, after: $keep1)"
elif [ "$keep0" != "$keep1" ]; then
  problem "keep: the outbox's oldest sequence moved ($keep0 -> $keep1) with --outbox-retention 0"
fi
# The emitter's own account: its "deleted emitted events" lines, over the whole prune run.
rounds=$(grep -c 'deleted emitted events older than the outbox retention' "$tmp/prune.log" || true)
logged=$({ grep 'deleted emitted events older than the outbox retention' "$tmp/prune.log" || true; } | sed -n 's/.* events=\([0-9]*\).*/\1/p' | awk '{ n += $1 } END { print n + 0 }')
if grep -q 'deleted emitted events older than the outbox retention' "$tmp/keep.log"; then
  problem "keep: the emitter logged deletions with --outbox-retention 0"
fi

# --- report ------------------------------------------------------------------------------------
row() {  # $1 label, $2 name
  local f="$tmp/$2.txt"
  printf '| %s | %.0f | %.2f ms | %.2f ms | %.2f ms | %s | %s | %s → %s | %s / %s / %s / %s |\n' "$1" "$(field "$f" rps)" \
    "$(field "$f" p50_ms)" "$(field "$f" p99_ms)" "$(field "$f" max_ms)" "$(field "$f" requests)" "$(field "$f" non2xx)" \
    "$(kv "$f" OLDEST before)" "$(kv "$f" OLDEST after)" "$(cpu "$f" server)" "$(cpu "$f" wrk)" "$(cpu "$f" db)" "$(cpu "$f" other)"
}
keep_p99=$(field "$tmp/keep.txt" p99_ms); prune_p99=$(field "$tmp/prune.txt" p99_ms)
keep_max=$(field "$tmp/keep.txt" max_ms); prune_max=$(field "$tmp/prune.txt" max_ms)
d_p99=$(awk -v a="$prune_p99" -v b="$keep_p99" 'BEGIN { printf "%+.2f", a - b }')
d_max=$(awk -v a="$prune_max" -v b="$keep_max" 'BEGIN { printf "%+.2f", a - b }')
verdict=$(awk -v a="$prune_max" -v b="$keep_max" 'BEGIN { print (a <= b + 50 ? "met" : "NOT met") }')

echo
echo "\`wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency -s $SCRIPT\` ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, warm-up $WARMUP; $engine_label)"
echo
echo "| serve | requests/s | p50 | p99 | max | responses | non-2xx | outbox oldest seq. before → after | CPU cores: server / wrk / db / other |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
row "\`--outbox-retention 0\` (keeps everything; the anchor)" keep
row "\`--outbox-retention $RETENTION\` (deletes all through the run)" prune
echo
prune_emitted=$(kv "$tmp/prune.txt" OLDEST emitted)
retained=0; [ "$prune1" = none ] || retained=$((prune_emitted - prune1 + 1))
echo "- deleted during the measurement: **$deleted events** (oldest sequence moved by $deleted); the emitter" \
     "logged $rounds deletion rounds, $logged events, over the whole run; at the end $retained emitted events were" \
     "still stored, $(awk -v r="$retained" -v p="$(field "$tmp/prune.txt" rps)" 'BEGIN { printf "%.1f", (p > 0 ? r / (2 * p) : 0) }') s of" \
     "ingest at the measured rate (window: $RETENTION)"
echo "- max added latency from retention: p99 with retention − p99 without = **$d_p99 ms**; max: **$d_max ms**"
echo "- target \"a callback never waits more than 50 ms on a deletion\": **$verdict** — a judgement from the" \
     "latency distributions (max with retention $prune_max ms ≤ max without $keep_max ms + 50 ms?), not a direct measurement of any wait"
echo "- stores after each run (warm-up + measurement): keep $(kv "$tmp/keep.txt" STORE rows) rows / $(kv "$tmp/keep.txt" STORE events) events for" \
     "$(kv "$tmp/keep.txt" STORE acked) acked requests; prune $(kv "$tmp/prune.txt" STORE rows) rows / $(kv "$tmp/prune.txt" STORE events) events" \
     "for $(kv "$tmp/prune.txt" STORE acked) acked (every acked callback stored and emitted once, 2 subscribers each)"
report_disturbances keep prune
report_problems
