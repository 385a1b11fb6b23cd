#!/usr/bin/env bash
# What one listed subscriber costs PostgreSQL to store (see BENCHMARKS.md, "First sync of
# 1,000,000 subscribers"): on the service's own schema, in a fresh database, 50,000 rows each of
#   - the reconciler's upsert into subscribers (INSERT … ON CONFLICT DO UPDATE),
#   - a plain INSERT into subscribers,
#   - the same upsert into a copy of subscribers whose keys use the database's default collation
#     (what schema versions before 5 had),
#   - an INSERT into outbox,
# read from a staged listing, and prints microseconds per row.
#
#   scripts/bench/postgres-row-costs.sh                     # builds the release binary first
#   BIN=.build-release/release scripts/bench/postgres-row-costs.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export PGPASSWORD=${PGPASSWORD:-subscriber_sync}
ROWS=50000
if ! command -v swift >/dev/null && [ -x /opt/swift/usr/bin/swift ]; then export PATH=/opt/swift/usr/bin:$PATH; fi
if [ -z "${BIN:-}" ]; then
  BIN=.build-release/release
  swift build -c release --scratch-path .build-release --product subscriber-sync >&2
fi
scripts/test-postgres >&2
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
name=ss_bench_rows
$sudo runuser -u postgres -- psql -qAtX -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name OWNER subscriber_sync" >&2
url="postgres://subscriber_sync@127.0.0.1:5432/$name?sslmode=disable"
# Any command that opens the store creates the schema.
"$BIN/subscriber-sync" export --database "$url" --official-account '@TOA#_rows' >/dev/null 2>&1

psql_timed() {  # SQL → milliseconds of its last statement
  PGPASSWORD=$PGPASSWORD psql -qAtX -h 127.0.0.1 -U subscriber_sync -d "$name" -v ON_ERROR_STOP=1 -c '\timing on' -c "$1" |
    sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1
}
psql_timed "
  INSERT INTO listing (pass, subscriber, requested_at, subscribe_time, custom_string, msg_flag, last_send_msg_time, event_id, event_data)
  SELECT 999, 'user' || lpad(i::text, 8, '0'), 1796143086597, 1700000000, '', 'AcceptAndNotify', 0, gen_random_uuid()::text,
         '{\"officialAccount\":\"@TOA#_rows\",\"subscriber\":\"user' || lpad(i::text, 8, '0') || '\",\"origin\":\"reconcile\",\"subscribeTime\":1700000000,\"msgFlag\":\"AcceptAndNotify\",\"customString\":\"\",\"lastSendMsgTime\":0}'
  FROM generate_series(0, $((3 * ROWS - 1))) i;
  ANALYZE listing;
  CREATE TABLE subscribers_default_collation (LIKE subscribers INCLUDING ALL);
  ALTER TABLE subscribers_default_collation ALTER COLUMN account TYPE TEXT COLLATE \"default\",
                                            ALTER COLUMN subscriber TYPE TEXT COLLATE \"default\";" >/dev/null
$sudo runuser -u postgres -- psql -qAtX -c "CHECKPOINT" >&2

range() {  # $1 = which third of the listing
  printf "s.pass = 999 AND s.subscriber >= 'user%08d' AND s.subscriber < 'user%08d'" $(($1 * ROWS)) $((($1 + 1) * ROWS))
}
columns="account, subscriber, subscribed, version, since, origin, subscribe_time, msg_flag, custom_string, last_send_msg_time"
values="'@TOA#_rows', s.subscriber, TRUE, s.requested_at, s.requested_at, 'reconcile', s.subscribe_time, s.msg_flag, s.custom_string, s.last_send_msg_time"
upsert() {  # $1 = table, $2 = third
  psql_timed "INSERT INTO $1 AS l ($columns) SELECT $values FROM listing s WHERE $(range "$2")
              ON CONFLICT (account, subscriber) DO UPDATE SET subscribed = TRUE, version = excluded.version
              WHERE NOT l.subscribed AND l.version < excluded.version"
}
per_row() { echo "$1 * 1000 / $ROWS" | bc -l | cut -c1-5; }

upserted=$(upsert subscribers 0)
plain=$(psql_timed "INSERT INTO subscribers ($columns) SELECT $values FROM listing s WHERE $(range 1)")
default_collation=$(upsert subscribers_default_collation 2)
outbox=$(psql_timed "INSERT INTO outbox (id, type, source, subject, time, recorded_time, data)
                     SELECT s.event_id, 'subscriber.subscribed', 'x', s.subscriber, s.requested_at, 1, s.event_data
                     FROM listing s WHERE $(range 0) ORDER BY s.subscriber")
collation=$(PGPASSWORD=$PGPASSWORD psql -qAtX -h 127.0.0.1 -U subscriber_sync -d "$name" -c "SELECT datcollate FROM pg_database WHERE datname = current_database()")

echo "| write ($ROWS rows, $(date -u +%Y-%m-%dT%H:%MZ)) | µs per row |"
echo "|---|---:|"
echo "| upsert into subscribers (keys COLLATE \"C\", as the service's schema) | $(per_row "$upserted") |"
echo "| plain insert into subscribers | $(per_row "$plain") |"
echo "| upsert into subscribers with keys in the database's collation ($collation) | $(per_row "$default_collation") |"
echo "| insert into outbox | $(per_row "$outbox") |"
$sudo runuser -u postgres -- psql -qAtX -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" >&2
