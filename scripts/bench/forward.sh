#!/usr/bin/env bash
# The callback relay's cost, measured side by side in one run (see BENCHMARKS.md, "Callback relay").
#
#   scripts/bench/forward.sh                     # 2 wrk threads, 64 connections, 10 s each
#   DURATION=30s CONNECTIONS=128 scripts/bench/forward.sh
#
# A fast local target: ack-baseline (Benchmarks/AckBaseline), which decodes the body, answers the
# ack and counts what it acknowledged (GET /stats).
# 1. After-callbacks. The same durable ingest as scripts/bench/ingest.sh (signed
#    OfficialAccount.CallbackAfterAddSubscriber, two new subscribers each, SQLite, events file):
#    a. subscriber-sync serve without --forward;
#    b. the same with --forward to the target: every callback also commits a forward job in its
#       transaction, and the forwarder delivers them meanwhile, one at a time (the default);
#    c. the same with --forward-concurrency 8;
#    d. the same with --forward-pipeline PIPELINE (16): up to 16 requests on the target's
#       connection at once, answered in order (HTTP/1.1 pipelining).
#    Target (the issue): b's requests/s at least 0.7 × a's, the target receiving them as fast as
#    they are acknowledged, the queue not growing over the run. The queue (acknowledged minus
#    received by the target) is sampled every second from the service's callback counter and the
#    target's count; after wrk stops, the time until the target has them all is measured.
# 2. Before-callbacks (OfficialAccount.CallbackBeforeAddSubscriber), 1 and CONNECTIONS_BEFORE (4)
#    connections: wrk straight at the target, then through subscriber-sync (b), which waits for the
#    target's answer and passes it back. Target: at most 2 ms more at p50.
#
# Environment: DURATION (10s), CONNECTIONS (64), CONNECTIONS_BEFORE (4), WARMUP (2s), PIPELINE (16),
# ports TARGET_PORT (18091), PLAIN_PORT (18092), FORWARD_PORT (18093), CONCURRENT_PORT (18094),
# PIPELINED_PORT (18095), BENCH_TMPDIR (a real disk, not tmpfs), KEEP_TMP=1. Prints a Markdown report on stdout; exit 2 when a sanity check failed.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
CONNECTIONS_BEFORE=${CONNECTIONS_BEFORE:-4}
WARMUP=${WARMUP:-2s}
THREADS=2
TARGET_PORT=${TARGET_PORT:-18091}
PLAIN_PORT=${PLAIN_PORT:-18092}
FORWARD_PORT=${FORWARD_PORT:-18093}
CONCURRENT_PORT=${CONCURRENT_PORT:-18094}
PIPELINED_PORT=${PIPELINED_PORT:-18095}
PIPELINE=${PIPELINE:-16}
SDKAPPID=1400000000
SCRIPT=Benchmarks/wrk/callback.lua
BIN=.build-release/release
AFTER=OfficialAccount.CallbackAfterAddSubscriber
BEFORE=OfficialAccount.CallbackBeforeAddSubscriber

if ! command -v swift >/dev/null && [ -x /opt/swift/usr/bin/swift ]; then export PATH=/opt/swift/usr/bin:$PATH; fi
if ! command -v wrk >/dev/null; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get install -y -qq wrk >/dev/null 2>&1 || { $sudo apt-get update -qq && $sudo apt-get install -y -qq wrk; }
fi
command -v wrk >/dev/null && command -v curl >/dev/null || { echo "wrk and curl are required" >&2; exit 1; }

echo "== building release binaries (scratch path .build-release)" >&2
swift build -c release --scratch-path .build-release --product subscriber-sync >&2
swift build -c release --scratch-path .build-release --product ack-baseline >&2

. scripts/bench/scratch.sh forward-bench
require_free_ports "$TARGET_PORT" "$PLAIN_PORT" "$FORWARD_PORT" "$CONCURRENT_PORT" "$PIPELINED_PORT"
require_real_disk

token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
request_time=$(date +%s)
sign=$(printf '%s%s' "$token" "$request_time" | sha256sum | cut -d' ' -f1)

wait_for() {  # URL STATUS: polls GET until it answers STATUS (10 s at most)
  local code i
  for i in $(seq 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true)
    [ "$code" = "$2" ] && return 0
    sleep 0.1
  done
  echo "no $2 from $1" >&2; return 1
}
field() { sed -n 's/^WRK_RESULT //p' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
received() { curl -s --max-time 2 "http://127.0.0.1:$TARGET_PORT/stats" || echo 0; }
# Callbacks the service acknowledged with a commit (its callbacks counter, outcome accepted).
accepted() {
  curl -s --max-time 2 "http://127.0.0.1:$1/metrics" \
    | awk '/^subscriber_sync_callbacks_total\{/ && /outcome="accepted"/ { n += $NF } END { printf "%d", n }'
}
wrk_run() {  # PORT NAME COMMAND TAG CONNECTIONS DURATION
  wrk -t"$(( $5 < THREADS ? $5 : THREADS ))" -c"$5" -d"$6" --latency -s "$SCRIPT" "http://127.0.0.1:$1" -- "$SDKAPPID" "$sign" "$request_time" "$4" "$3" >"$tmp/$2.txt"
  grep -q '^WRK_RESULT ' "$tmp/$2.txt" || { cat "$tmp/$2.txt" >&2; echo "wrk gave no result ($2)" >&2; exit 1; }
  local non2xx; non2xx=$(field "$tmp/$2.txt" non2xx)
  [ "$non2xx" -eq 0 ] || problem "$2: $non2xx non-2xx responses"
}
serve() {  # PORT NAME [extra args...]
  local port=$1 name=$2; shift 2
  TENCENT_CALLBACK_TOKEN=$token "$BIN/subscriber-sync" serve --sdkappid "$SDKAPPID" --listen "127.0.0.1:$port" \
    --database "$tmp/$name.sqlite" --events "$tmp/$name-events.jsonl" --request-time-window 3600 "$@" >"$tmp/$name.log" 2>&1 &
  pids+=("$!"); echo "$!" >"$tmp/$name.pid"
  wait_for "http://127.0.0.1:$port/healthz" 200
}

# CPU time (ms) of the service and of the target during a run, from /proc (utime + stime).
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
cpu_before() { echo "$(ticks "$(cat "$tmp/$1.pid")") $(ticks "$target_pid")" >"$tmp/$1.cpu"; }
cpu_after() {
  local tick_ms; tick_ms=$(( 1000 / $(getconf CLK_TCK) ))
  read -r s0 t0 <"$tmp/$1.cpu"
  echo "$(( ($(ticks "$(cat "$tmp/$1.pid")") - s0) * tick_ms )) $(( ($(ticks "$target_pid") - t0) * tick_ms ))" >"$tmp/$1.cpu"
}

echo "== machine: $(nproc) cores, scratch on $fstype; wrk -t$THREADS -c$CONNECTIONS -d$DURATION (warm-up $WARMUP)" >&2
"$BIN/ack-baseline" --listen "127.0.0.1:$TARGET_PORT" >"$tmp/target.log" 2>&1 &
pids+=("$!"); target_pid=$!
wait_for "http://127.0.0.1:$TARGET_PORT/stats" 200

# --- 1a. durable ingest without forwarding ------------------------------------------------------
echo "== after-callbacks, no forwarding (:$PLAIN_PORT)" >&2
serve "$PLAIN_PORT" plain
wrk_run "$PLAIN_PORT" plain-warmup "$AFTER" w "$CONNECTIONS" "$WARMUP"
cpu_before plain
wrk_run "$PLAIN_PORT" plain "$AFTER" m "$CONNECTIONS" "$DURATION"
cpu_after plain

# --- 1b–1d. the same with --forward: one delivery at a time (the default), 8 at once, pipelined -
forwarded_run() {  # PORT NAME [serve args...]
  local port=$1 name=$2; shift 2
  echo "== after-callbacks, --forward to the target $* (:$port)" >&2
  local base; base=$(received)
  serve "$port" "$name" --forward "http://127.0.0.1:$TARGET_PORT/tencent/callback" "$@"
  wrk_run "$port" "$name-warmup" "$AFTER" w "$CONNECTIONS" "$WARMUP"
  # Let the warm-up's jobs drain, so that the run starts with an empty queue.
  local i a r
  # The target's count is cumulative over the runs, and every earlier run drained before this one
  # started: what it had before this service's first callback is the base.
  for i in $(seq 600); do [ $(( $(received) - base )) -ge "$(accepted "$port")" ] && break; sleep 0.1; done
  : >"$tmp/$name-queue.txt"
  ( start=$(date +%s.%N)
    while :; do
      a=$(accepted "$port"); r=$(( $(received) - base ))
      printf '%.1f %d %d %d\n' "$(echo "$(date +%s.%N) - $start" | bc)" "$a" "$r" $((a - r)) >>"$tmp/$name-queue.txt"
      sleep 1
    done ) &
  local sampler=$!; pids+=("$sampler")
  cpu_before "$name"
  echo $(( $(received) - base )) >"$tmp/$name-at-start"
  wrk_run "$port" "$name" "$AFTER" m "$CONNECTIONS" "$DURATION"
  cpu_after "$name"
  local stopped; stopped=$(date +%s.%N)
  kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
  local acked; acked=$(accepted "$port")
  echo "$acked" >"$tmp/$name-acked"
  echo $(( $(received) - base )) >"$tmp/$name-at-stop"
  : >"$tmp/$name-drain"
  for i in $(seq 1200); do
    if [ $(( $(received) - base )) -ge "$acked" ]; then echo "$(date +%s.%N) - $stopped" | bc >"$tmp/$name-drain"; break; fi
    sleep 0.05
  done
  [ -s "$tmp/$name-drain" ] || problem "$name: the target had not received every acknowledged callback 60 s after the run"
}
forwarded_run "$FORWARD_PORT" forward
forwarded_run "$CONCURRENT_PORT" concurrent --forward-concurrency 8
forwarded_run "$PIPELINED_PORT" pipelined --forward-pipeline "$PIPELINE"

# --- 2. before-callbacks: straight vs relayed ----------------------------------------------------
echo "== before-callbacks: straight at the target, then through subscriber-sync" >&2
for c in 1 "$CONNECTIONS_BEFORE"; do
  wrk_run "$TARGET_PORT" "before-direct-$c-warmup" "$BEFORE" "bw$c" "$c" "$WARMUP"
  wrk_run "$TARGET_PORT" "before-direct-$c" "$BEFORE" "bd$c" "$c" "$DURATION"
  wrk_run "$FORWARD_PORT" "before-relayed-$c-warmup" "$BEFORE" "rw$c" "$c" "$WARMUP"
  wrk_run "$FORWARD_PORT" "before-relayed-$c" "$BEFORE" "rm$c" "$c" "$DURATION"
done
relayed=$(curl -s "http://127.0.0.1:$FORWARD_PORT/metrics" | awk '/^subscriber_sync_forward_before_total\{/ && /outcome="answered"/ { n += $NF } END { printf "%d", n }')
fallbacks=$(curl -s "http://127.0.0.1:$FORWARD_PORT/metrics" | awk '/^subscriber_sync_forward_before_total\{/ && /fallback/ { n += $NF } END { printf "%d", n }')
[ "$fallbacks" -eq 0 ] || problem "$fallbacks before-callbacks were answered with the fallback"

# --- report ----------------------------------------------------------------------------------------
plain_rps=$(field "$tmp/plain.txt" rps)
row() {
  printf '| %s | %.0f | %.2f ms | %.2f ms | %.2f ms | %s |\n' "$1" "$(field "$2" rps)" "$(field "$2" p50_ms)" "$(field "$2" p99_ms)" \
    "$(field "$2" max_ms)" "$(field "$2" requests)"
}
echo
echo "\`scripts/bench/forward.sh\` ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, wrk -t$THREADS, warm-up $WARMUP, $DURATION each)"
echo
echo "| run | requests/s | p50 | p99 | max | responses |"
echo "|---|---:|---:|---:|---:|---:|"
row "after-callbacks, durable, no forwarding (-c$CONNECTIONS)" "$tmp/plain.txt"
row "after-callbacks, durable, --forward (one delivery at a time) (-c$CONNECTIONS)" "$tmp/forward.txt"
row "after-callbacks, durable, --forward --forward-concurrency 8 (-c$CONNECTIONS)" "$tmp/concurrent.txt"
row "after-callbacks, durable, --forward --forward-pipeline $PIPELINE (-c$CONNECTIONS)" "$tmp/pipelined.txt"
for c in 1 "$CONNECTIONS_BEFORE"; do
  row "before-callbacks straight at the target (-c$c)" "$tmp/before-direct-$c.txt"
  row "before-callbacks through subscriber-sync (-c$c)" "$tmp/before-relayed-$c.txt"
done
echo
# What a delivery costs: the service's CPU beyond the same callbacks' cost without forwarding,
# and the target's, over the deliveries the target received during the run.
read -r plain_cpu _ <"$tmp/plain.cpu"
per_callback=$(awk -v c="$plain_cpu" -v n="$(field "$tmp/plain.txt" requests)" 'BEGIN { printf "%.1f", c * 1000 / n }')
costs=""
for name in forward concurrent pipelined; do
  read -r serve_cpu target_cpu <"$tmp/$name.cpu"
  costs+=$(awk -v name="$name" -v s="$serve_cpu" -v t="$target_cpu" -v a="$(field "$tmp/$name.txt" requests)" \
    -v d="$(( $(cat "$tmp/$name-at-stop") - $(cat "$tmp/$name-at-start") ))" -v c="$per_callback" 'BEGIN {
      printf "; %s: service %d ms, target %d ms for %d callbacks and %d deliveries, so about %.0f µs (service) + %.0f µs (target) per delivery",
        name, s, t, a, d, (d > 0 ? (s - a * c / 1000) * 1000 / d : 0), (d > 0 ? t * 1000 / d : 0) }')
done
echo "- **CPU** (service and target, from /proc, during each run): without forwarding the service spends $per_callback µs per callback$costs"
for name in forward concurrent pipelined; do
  rps=$(field "$tmp/$name.txt" rps)
  ratio=$(awk -v f="$rps" -v p="$plain_rps" 'BEGIN { printf "%.3f", (p > 0 ? f / p : 0) }')
  ok=$(awk -v f="$rps" -v p="$plain_rps" 'BEGIN { print (p > 0 && f >= 0.7 * p ? "met" : "NOT met") }')
  q=$tmp/$name-queue.txt
  growing=$(awk 'NR == 2 { first = $4 } { last = $4 } END { print (last > first + 100 ? "grew" : "did not grow") }' "$q")
  echo "- **$name**: with / without forwarding, requests/s **$ratio** (target ≥ 0.7: $ok);" \
       "queue (acknowledged − received, each second): $(awk '{ printf "%s%d", (NR > 1 ? ", " : ""), $4 }' "$q") — it $growing" \
       "(target: does not grow); when wrk stopped the target had $(cat "$tmp/$name-at-stop") of $(cat "$tmp/$name-acked"), all of them $(cat "$tmp/$name-drain" | xargs printf '%.1f' 2>/dev/null || echo never) s later"
done
for c in 1 "$CONNECTIONS_BEFORE"; do
  d50=$(field "$tmp/before-direct-$c.txt" p50_ms); r50=$(field "$tmp/before-relayed-$c.txt" p50_ms)
  added=$(awk -v r="$r50" -v d="$d50" 'BEGIN { printf "%.2f", r - d }')
  added_ok=$(awk -v a="$added" 'BEGIN { print (a <= 2 ? "met" : "NOT met") }')
  echo "- before-callbacks, $c connection(s): p50 $d50 ms straight, $r50 ms relayed: **+$added ms** (target ≤ 2 ms: $added_ok)"
done
echo "- before-callbacks relayed: $relayed answered by the target, $fallbacks fallbacks"
if ((${#problems[@]})); then
  echo; echo "**PROBLEMS:**"; printf -- '- %s\n' "${problems[@]}"; exit 2
fi
