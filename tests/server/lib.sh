# Shared by the trix-server tests: finds stories260K, starts servers on free
# loopback ports, kills them on exit, and small check helpers.
# Usage: source lib.sh <trix-server binary>
set -euo pipefail
server_bin=$1
shared=${TRIX_SHARED_DIR:-${TRIX_DEFAULT_SHARED_DIR:-$(dirname "${BASH_SOURCE[0]}")/../../../shared}}
model=$shared/models/stories260K/stories260K-llamacpp.gguf
if [[ ! -f $model ]]; then
  echo "skipped: $model not found (set TRIX_SHARED_DIR to the folder holding models/)"
  exit 77
fi
workdir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$workdir"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# start_server <name> [args...]: sets <name>_url; the log is $workdir/<name>.log.
start_server() {
  local name=$1
  shift
  local log=$workdir/$name.log
  "$server_bin" -m "$model" --port 0 --threads 1 "$@" >"$log" 2>&1 &
  pids+=($!)
  local port=""
  for _ in $(seq 1 200); do
    port=$(sed -n 's/.*ready on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$log")
    [[ -n $port ]] && break
    sleep 0.05
  done
  [[ -n $port ]] || { cat "$log" >&2; fail "$name did not start"; }
  printf -v "${name}_url" 'http://127.0.0.1:%s' "$port"
}

# metric <url> <name>: the value of an unlabelled metric.
metric() { curl -s "$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }
