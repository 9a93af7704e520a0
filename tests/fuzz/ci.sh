#!/usr/bin/env bash
# CI fuzz step: builds every libFuzzer target (tests/fuzz/fuzz_<name>.cc) with
# clang, ASan+UBSan and -Werror in build/fuzz, then runs each for
# $TRIX_FUZZ_SECONDS (default 30) on a temporary copy of its seed corpus
# (tests/fuzz/corpus/<name>/), $TRIX_FUZZ_PARALLEL (default 2) at a time.
# Exits non-zero on any crash, leak, timeout or out-of-memory, and prints the
# executions per target. The same clang build also compiles trix_cpu (every
# Highway kernel for every x86 target), the only clang build of the kernels. Installs clang when missing (needs root).
# TRIX_FUZZ_BUILD_ONLY=1 only builds, and lists the targets.
#   tests/fuzz/ci.sh            # from the repository root or anywhere
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${TRIX_FUZZ_BUILD_DIR:-$root/build/fuzz}
seconds=${TRIX_FUZZ_SECONDS:-30}
parallel=${TRIX_FUZZ_PARALLEL:-2}

if ! command -v clang++ >/dev/null; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "error: clang++ is missing; install the Debian package clang (as root)" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang >/dev/null
fi

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ "${launcher[@]}" \
  -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g" -DTRIX_SANITIZE=ON -DTRIX_WERROR=ON \
  -DTRIX_REGENERATE=OFF -DTRIX_BUILD_EXAMPLES=OFF -DTRIX_BUILD_BENCH=OFF >/dev/null
mapfile -t targets < <(ninja -C "$build" -t targets all | sed -n 's/^\(fuzz_[A-Za-z0-9_]*\): .*/\1/p' | sort -u)
if ((${#targets[@]} == 0)); then
  echo "error: no fuzz_* targets in $build" >&2
  exit 1
fi
ninja -C "$build" -j "$parallel" "${targets[@]}" trix_cpu
if [[ ${TRIX_FUZZ_BUILD_ONLY:-0} == 1 ]]; then
  printf '%s\n' "${targets[@]}"
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/trix-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Runs one target; its log is $work/<target>.log, its status $work/<target>.rc.
run_one() {
  local t=$1 name=${1#fuzz_}
  local exe corpus=$work/$t.corpus
  exe=$(find "$build" -name "$t" -type f -perm -u+x | head -n 1)
  mkdir -p "$corpus" "$work/$t.artifacts"
  if [[ -d $root/tests/fuzz/corpus/$name ]]; then cp -r "$root/tests/fuzz/corpus/$name/." "$corpus/"; fi
  local rc=0
  (cd "$work/$t.artifacts" && "$exe" "$corpus" -max_total_time="$seconds" -rss_limit_mb=2048 \
     -timeout=10 -print_final_stats=1 -artifact_prefix="$work/$t.artifacts/") >"$work/$t.log" 2>&1 || rc=$?
  echo "$rc" >"$work/$t.rc"
}

for t in "${targets[@]}"; do
  run_one "$t" &
  while (($(jobs -rp | wc -l) >= parallel)); do wait -n || true; done
done
wait

failed=0
printf '%-24s %12s %8s  %s\n' target executions exec/s result
for t in "${targets[@]}"; do
  rc=$(cat "$work/$t.rc" 2>/dev/null || echo 99)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$t.log" | tail -n 1)
  result=ok
  if [[ $rc != 0 ]]; then
    result="FAILED (exit $rc)"
    failed=1
  fi
  printf '%-24s %12s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$result"
done
if ((failed)); then
  for t in "${targets[@]}"; do
    [[ $(cat "$work/$t.rc" 2>/dev/null || echo 99) == 0 ]] && continue
    echo "---- $t (last 60 lines of its log; reproducer below)" >&2
    tail -n 60 "$work/$t.log" >&2
    for f in "$work/$t.artifacts"/*; do
      [[ -f $f ]] || continue
      keep=$root/build/fuzz-findings/$t-$(basename "$f")
      mkdir -p "$(dirname "$keep")"
      cp "$f" "$keep"
      echo "reproducer: $keep (run: $(find "$build" -name "$t" -type f | head -n 1) $keep)" >&2
    done
  done
  echo "error: fuzzing found a problem (see above)" >&2
  exit 1
fi
