# Sourced by the durable-ingest benchmarks (ingest.sh, retention.sh) after scratch.sh, with
# SDKAPPID set: a random callback token and the `sign`, `request_time` and `query` that
# Benchmarks/wrk/callback.lua posts with, a `sample_body` to probe a server with, `wait_for` to
# poll a server, `field` to read wrk's WRK_RESULT line, and the CPU accounting that tells a clean
# run from a disturbed one.

# --- signing -----------------------------------------------------------------------------------
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
request_time=$(date +%s)
sign=$(printf '%s%s' "$token" "$request_time" | sha256sum | cut -d' ' -f1)
query="SdkAppid=$SDKAPPID&CallbackCommand=OfficialAccount.CallbackAfterAddSubscriber&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI&RequestTime=$request_time"
sample_body='{"CallbackCommand":"OfficialAccount.CallbackAfterAddSubscriber","Official_Account":"@TOA#_probe","Operator_Account":"bench_admin","SubscribeAccountList":[{"Subscriber_Account":"probe_a"},{"Subscriber_Account":"probe_b"}],"EventTime":1}'

# --- helpers -----------------------------------------------------------------------------------
# Polls until GET/POST on $1 answers with HTTP status $2 (10 s at most).
wait_for() {
  local url=$1 want=$2 data=${3:-} code i
  for i in $(seq 100); do
    if [ -n "$data" ]; then
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H 'Content-Type: application/json' --data "$data" "$url" || true)
    else
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)
    fi
    [ "$code" = "$want" ] && return 0
    sleep 0.1
  done
  echo "no $want from $url (last: $code)" >&2
  return 1
}

# Prints the value of key $2 from the WRK_RESULT line in file $1.
field() { sed -n 's/^WRK_RESULT //p' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# CPU accounting, to tell a clean run from one that shared the cores with something else (the
# machine may be compiling or testing in the background). All in clock ticks.
HZ=$(getconf CLK_TCK)
# /proc/stat, all cores: "user+nice+system irq+softirq steal" (loopback TCP is mostly softirq).
busy_ticks() { awk '/^cpu /{ print $2 + $3 + $4, $7 + $8, $9 }' /proc/stat; }
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }                     # utime + stime, all threads
# This shell's waited-for children (wrk), from the `times` builtin, which must run in this shell.
children_ticks() { awk -v hz="$HZ" 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); t += a[1] * 60 + a[2] } printf "%d", t * hz }' "$tmp/times"; }
# Prints the value of key $2 from the CPU line that run_wrk appends to file $1.
cpu() { sed -n 's/^CPU //p' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# --- checks and report -------------------------------------------------------------------------
# Run $1's warm-up and measurement ($tmp/$1-warmup.txt, $tmp/$1.txt): stops when wrk gave no
# result; echoes the latency distribution to stderr; records non-2xx answers and socket errors
# as problems.
check_wrk_output() {
  local name=$1 f
  for f in "$tmp/$name-warmup.txt" "$tmp/$name.txt"; do
    grep -q '^WRK_RESULT ' "$f" || { cat "$f" >&2; echo "wrk gave no result ($f)" >&2; exit 1; }
  done
  sed -n '/Latency Distribution/,/Requests\/sec/p' "$tmp/$name.txt" | sed 's/^/   /' >&2
  for f in "$tmp/$name-warmup.txt" "$tmp/$name.txt"; do
    local non2xx errors
    non2xx=$(field "$f" non2xx)
    errors=$(( $(field "$f" connect_errors) + $(field "$f" read_errors) + $(field "$f" write_errors) + $(field "$f" timeouts) ))
    [ "$non2xx" -eq 0 ] || problem "$name ($(basename "$f")): $non2xx non-2xx responses"
    [ "$errors" -eq 0 ] || problem "$name ($(basename "$f")): $errors socket errors/timeouts"
  done
}

# Report lines for the runs named $@ that shared the cores with other processes or lost them
# to the hypervisor.
report_disturbances() {
  local name other steal
  for name in "$@"; do
    other=$(cpu "$tmp/$name.txt" other)
    if awk -v o="$other" 'BEGIN { exit !(o > 0.2) }'; then
      echo "- **disturbed**: other processes used $other cores during the $name measurement (a compiler? a test run?)"
    fi
    steal=$(cpu "$tmp/$name.txt" steal)
    if awk -v o="$steal" 'BEGIN { exit !(o > 0.1) }'; then
      echo "- **disturbed**: the hypervisor took $steal cores (steal time) during the $name measurement"
    fi
  done
}

# Ends the report: the recorded problems, and exit 2, when there are any.
report_problems() {
  if ((${#problems[@]})); then
    echo
    echo "**PROBLEMS — the figures above may not mean what they claim:**"
    local p
    for p in "${problems[@]}"; do echo "- $p"; done
    exit 2
  fi
}
