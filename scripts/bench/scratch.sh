# Sourced by the benchmark scripts: a scratch directory `tmp` (under BENCH_TMPDIR, else TMPDIR,
# else /tmp) named after $1, the processes in `pids` stopped and the directory removed at exit
# (kept with KEEP_TMP=1), `problem` to record a failed sanity check in `problems`,
# `require_free_ports` to stop before starting servers on ports that are taken, `fstype` (the
# scratch directory's file system) and `require_real_disk` for the scripts that measure syncs.
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
# A server left running on one of these ports would be measured instead of the one the script
# starts (which would then fail to bind).
require_free_ports() {  # PORT...
  local port
  for port in "$@"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "port $port on 127.0.0.1 is already in use (a server left running?); stop it or choose other ports (see the script's header)" >&2
      exit 1
    fi
  done
}
fstype=$(stat -f -c %T "$tmp")
# Syncs cost nothing on a memory file system: durable figures measured there mean nothing.
require_real_disk() {
  if [ "$fstype" = tmpfs ] || [ "$fstype" = ramfs ]; then
    problem "$tmp is on $fstype: syncs cost nothing there, so the durable figures are meaningless (set BENCH_TMPDIR)"
  fi
}
