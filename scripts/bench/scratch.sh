# Sourced by the benchmark scripts: a scratch directory `tmp` (under BENCH_TMPDIR, else TMPDIR,
# else /tmp) named after $1, the processes in `pids` stopped and the directory removed at exit
# (kept with KEEP_TMP=1), and `problem` to record a failed sanity check in `problems`.
tmp=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/$1.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
problems=()
problem() { problems+=("$1"); echo "!! $1" >&2; }
