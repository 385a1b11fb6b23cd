#!/usr/bin/env bash
# Durable ingest on PostgreSQL (see BENCHMARKS.md), side by side in one run on this machine:
#   1. the anchor: pgbench, 64 clients, running the per-callback transaction by hand (BEGIN; one
#      last-writer-wins upsert; one outbox insert; COMMIT), and the same with two subscribers, as
#      every benchmark callback carries two;
#   2. one `serve` replica on the same database, `wrk -t2 -c64` of signed callbacks (two
#      subscribers each; Benchmarks/wrk/callback.lua), with p99;
#   3. two replicas together, 32 connections each.
#
#   scripts/bench/postgres-ingest.sh                       # builds the release binary first
#   BIN=.build-release/release scripts/bench/postgres-ingest.sh
#
# It runs scripts/test-postgres (install, start, role subscriber_sync) and recreates the database
# ss_bench_ingest for each part. DURATION (default 8s) per measurement, after 2 s of warm-up.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-8s}
PORT=${PORT:-18190}
export PGPASSWORD=${PGPASSWORD:-subscriber_sync}
token=bench-callback-token
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
for tool in wrk pgbench curl; do
  command -v "$tool" >/dev/null || { export DEBIAN_FRONTEND=noninteractive; $sudo apt-get install -y -qq wrk postgresql-client-15 curl >/dev/null; }
done
scripts/test-postgres
if [ -z "${BIN:-}" ]; then
  BIN=.build-release/release
  swift build -c release --scratch-path .build-release --product subscriber-sync >&2
fi
tmp=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/pg-ingest.XXXXXX")
pids=()
cleanup() { for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
url="postgres://subscriber_sync@127.0.0.1:5432/ss_bench_ingest?sslmode=disable"

fresh_database() {  # an empty database with the service's schema
  $sudo runuser -u postgres -- psql -qAtX -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS ss_bench_ingest WITH (FORCE)" \
    -c "CREATE DATABASE ss_bench_ingest OWNER subscriber_sync"
  "$BIN/subscriber-sync" export --database "$url" >/dev/null 2>&1
}

pgbench_run() {  # $1 = subscribers per transaction
  local script="$tmp/callback-$1.sql" i
  {
    echo '\set n random(1, 2000000000)'
    echo 'BEGIN;'
    for i in $(seq "$1"); do
      echo "INSERT INTO subscribers AS s (account, subscriber, subscribed, version, since, origin, operator) VALUES ('@TOA#_bench_0', 'pgb-' || :client_id || '-' || :n || '-$i', TRUE, 1700000000000, 1700000000000, 'webhook', 'bench_admin') ON CONFLICT (account, subscriber) DO UPDATE SET subscribed = TRUE, version = excluded.version WHERE NOT s.subscribed AND s.version < excluded.version;"
      echo "INSERT INTO outbox (id, type, source, subject, time, recorded_time, data) VALUES (md5(random()::text), 'subscriber.subscribed', '1400000000/%40TOA%23_bench_0', 'pgb-' || :client_id || '-' || :n || '-$i', 1700000000000, 1700000000000, '{\"officialAccount\":\"@TOA#_bench_0\",\"subscriber\":\"pgb\",\"origin\":\"webhook\",\"operator\":\"bench_admin\"}');"
    done
    echo 'COMMIT;'
  } > "$script"
  fresh_database
  pgbench -n -h 127.0.0.1 -U subscriber_sync -c 64 -j 2 -T "${DURATION%s}" -f "$script" ss_bench_ingest 2>&1 \
    | awk '/^tps/ { printf "%.0f", $3 }'
}

start_replica() {  # $1 = port, $2 = name
  TENCENT_CALLBACK_TOKEN=$token "$BIN/subscriber-sync" serve --sdkappid 1400000000 --listen "127.0.0.1:$1" \
    --database "$url" --events "$tmp/events-$2.jsonl" --request-time-window 3600 --reconcile-interval 0 2>"$tmp/$2.log" &
  pids+=($!)
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/healthz" && return 0; sleep 0.1; done
  echo "replica $2 did not start:" >&2; cat "$tmp/$2.log" >&2; exit 1
}

wrk_run() {  # $1 = port, $2 = connections, $3 = tag; prints rps and p99
  local request_time sign
  request_time=$(date +%s)
  sign=$(printf '%s%s' "$token" "$request_time" | sha256sum | cut -d' ' -f1)
  wrk -t1 -c"$2" -d"$DURATION" --latency -s Benchmarks/wrk/callback.lua "http://127.0.0.1:$1" -- 1400000000 "$sign" "$request_time" "$3" \
    | awk '/WRK_RESULT/ { for (i = 1; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] } printf "%s %s %s\n", r["rps"], r["p99_ms"], r["non2xx"] }'
}

warm() {  # $1 = port
  local request_time sign
  request_time=$(date +%s)
  sign=$(printf '%s%s' "$token" "$request_time" | sha256sum | cut -d' ' -f1)
  wrk -t1 -c16 -d2s -s Benchmarks/wrk/callback.lua "http://127.0.0.1:$1" -- 1400000000 "$sign" "$request_time" "warm$1" >/dev/null
}

echo "| what | 64 connections/clients | callbacks/s | subscribers/s | p99 ms | non-2xx |"
echo "|---|---|---|---|---|---|"
tps1=$(pgbench_run 1)
echo "| pgbench: 1 upsert + 1 outbox insert per transaction (the anchor) | 64 clients | $tps1 | $tps1 | | |"
tps2=$(pgbench_run 2)
echo "| pgbench: 2 upserts + 2 outbox inserts (one benchmark callback) | 64 clients | $tps2 | $((tps2 * 2)) | | |"

fresh_database
start_replica "$PORT" one
warm "$PORT"
read -r rps p99 non2xx < <(wrk_run "$PORT" 64 one)
echo "| one replica (group commit) | 64 connections | ${rps%.*} | $(( ${rps%.*} * 2 )) | $p99 | $non2xx |"
kill -TERM "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true; pids=()

fresh_database
start_replica "$PORT" a
start_replica $((PORT + 1)) b
warm "$PORT"; warm $((PORT + 1))
wrk_run "$PORT" 32 a > "$tmp/a.out" &
wrk_a=$!
wrk_run $((PORT + 1)) 32 b > "$tmp/b.out"
wait "$wrk_a"
read -r rps_a p99_a non_a < "$tmp/a.out"
read -r rps_b p99_b non_b < "$tmp/b.out"
total=$(( ${rps_a%.*} + ${rps_b%.*} ))
echo "| two replicas together | 32 + 32 connections | $total | $((total * 2)) | $p99_a / $p99_b | $non_a / $non_b |"
