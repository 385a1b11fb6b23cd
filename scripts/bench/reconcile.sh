#!/usr/bin/env bash
# One reconcile pass over 1,000,000 subscribers against the simulator (see BENCHMARKS.md):
#   1. first sync into an empty store, simulator limited to 200 calls/s, --api-rate-limit 190:
#      pacing alone needs 5,000 pages / 190 per s = 26.3 s; the target is 1.15x that (30.3 s),
#      with peak RSS of the reconcile process at most 64 MiB;
#   2. the same pass again, the store already in sync;
#   3. a first sync unthrottled (simulator and client limits out of the way): subscribers per second.
#
#   scripts/bench/reconcile.sh               # SUBSCRIBERS=1000000
#   SUBSCRIBERS=100000 scripts/bench/reconcile.sh
#   BIN=/var/tmp/before/.build/release scripts/bench/reconcile.sh   # another build (no build step)
#   ENGINE=postgres scripts/bench/reconcile.sh   # into PostgreSQL on this machine (target 1.3x)
#
# ENGINE=postgres runs scripts/test-postgres (install, start, role subscriber_sync) and gives each
# pass's store a fresh database there; PGPASSWORD defaults to that role's.
set -euo pipefail
cd "$(dirname "$0")/../.."

SUBSCRIBERS=${SUBSCRIBERS:-1000000}
ENGINE=${ENGINE:-sqlite}
export PGPASSWORD=${PGPASSWORD:-subscriber_sync}
ACCOUNT='@TOA#_bench'
SDKAPPID=1400000000
export TENCENT_SECRET_KEY=5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e

if ! command -v swift >/dev/null && [ -x /opt/swift/usr/bin/swift ]; then
  export PATH=/opt/swift/usr/bin:$PATH
fi
if [ ! -x /usr/bin/time ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -qq time bc >/dev/null 2>&1 || { $sudo apt-get update -qq && $sudo apt-get install -y -qq time bc; }
fi

if [ -z "${BIN:-}" ]; then
  BIN=.build-release/release
  echo "== building release binary (scratch path .build-release)" >&2
  swift build -c release --scratch-path .build-release --product subscriber-sync >&2
fi

tmp=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/reconcile-bench.XXXXXX")
sim_pid=""
cleanup() {
  if [ -n "$sim_pid" ] && kill -0 "$sim_pid" 2>/dev/null; then kill -TERM "$sim_pid"; wait "$sim_pid" 2>/dev/null || true; fi
  [ "${KEEP_TMP:-0}" = 1 ] || rm -rf "$tmp"
}
trap cleanup EXIT

start_simulator() {  # $1 = calls per second
  [ -z "$sim_pid" ] || { kill -TERM "$sim_pid"; wait "$sim_pid" 2>/dev/null || true; }
  : > "$tmp/simulator.log"
  "$BIN/subscriber-sync" simulator --listen 127.0.0.1:0 --sdkappid "$SDKAPPID" --calls-per-second "$1" \
    --account "$ACCOUNT:$SUBSCRIBERS" --log-level notice 2> "$tmp/simulator.log" &
  sim_pid=$!
  for _ in $(seq 1 600); do
    port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$tmp/simulator.log" | head -1 | sed 's/.*://') || true
    [ -n "${port:-}" ] && return 0
    sleep 0.1
  done
  echo "simulator did not start" >&2; cat "$tmp/simulator.log" >&2; exit 1
}

run_pass() {  # $1 = label, $2 = database, $3 = api rate limit
  local slug
  slug=$(echo "$1" | tr -c 'a-z0-9' '-')
  local stats="$tmp/$slug.time"
  /usr/bin/time -f '%e %M' -o "$stats" "$BIN/subscriber-sync" reconcile --sdkappid "$SDKAPPID" \
    --api-base-url "http://127.0.0.1:$port" --api-rate-limit "$3" --official-account "$ACCOUNT" \
    --database "$2" --max-removal-ratio 1 --log-level notice 2> "$tmp/$slug.log" || {
      echo "reconcile ($1) failed:" >&2; tail -20 "$tmp/$slug.log" >&2; exit 1; }
  read -r seconds kib < "$stats"
  local listed
  listed=$("$BIN/subscriber-sync" export --database "$2" --official-account "$ACCOUNT" | wc -l)
  [ "$listed" -eq "$SUBSCRIBERS" ] || { echo "store holds $listed subscribers, expected $SUBSCRIBERS" >&2; exit 1; }
  printf '| %s | %s | %.1f | %.1f | %.0f |\n' "$1" "$3" "$seconds" "$(echo "$kib / 1024" | bc -l)" "$(echo "$SUBSCRIBERS / $seconds" | bc -l)"
}

# The store for the passes named $1: a file, or a fresh PostgreSQL database.
store() {
  if [ "$ENGINE" = postgres ]; then
    local name="ss_bench_$1" sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo runuser -u postgres -- psql -qAtX -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name OWNER subscriber_sync" >&2
    echo "postgres://subscriber_sync@127.0.0.1:5432/$name?sslmode=disable"
  else
    echo "$tmp/$1.sqlite"
  fi
}
factor=1.15
if [ "$ENGINE" = postgres ]; then
  scripts/test-postgres >&2
  factor=1.3
fi
paced=$(store paced)
free=$(store free)

pages=$(( (SUBSCRIBERS + 199) / 200 ))
echo "| pass | --api-rate-limit | wall s | peak RSS MiB | subscribers/s |"
echo "|---|---|---|---|---|"
start_simulator 200
run_pass "first sync, 200 calls/s" "$paced" 190
run_pass "in sync, 200 calls/s" "$paced" 190
start_simulator 1000000
run_pass "first sync, unthrottled" "$free" 10000
echo
echo "engine: $ENGINE; pages: $pages; pacing floor at 190/s: $(echo "$pages / 190" | bc -l | cut -c1-5) s; target (${factor}x): $(echo "$pages / 190 * $factor" | bc -l | cut -c1-5) s; RSS target 64 MiB"
