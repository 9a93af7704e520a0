#!/usr/bin/env bash
# Long fuzzing runs (hours), outside CI: builds the targets as ci.sh does, then
# runs each in turn for <seconds> with libFuzzer's -jobs/-workers, growing a
# corpus kept outside the repository ($TRIX_FUZZ_CORPUS, default
# ~/.cache/trix-fuzz/<name>, seeded from tests/fuzz/corpus/<name>). Findings
# land in $TRIX_FUZZ_CORPUS/findings/; a finding stops that target's run.
#   tests/fuzz/run_long.sh <seconds per target> [fuzz_<name> ...]
#   TRIX_FUZZ_WORKERS=4 tests/fuzz/run_long.sh 14400 fuzz_gguf
# To fold new seeds back into the repository, minimise first:
#   build/fuzz/tests/fuzz/fuzz_gguf -merge=1 tests/fuzz/corpus/gguf <grown corpus>
set -euo pipefail
if (($# < 1)) || ! [[ $1 =~ ^[0-9]+$ ]]; then
  echo "usage: $0 <seconds per target> [fuzz_<name> ...]" >&2
  exit 2
fi
seconds=$1
shift
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${TRIX_FUZZ_BUILD_DIR:-$root/build/fuzz}
store=${TRIX_FUZZ_CORPUS:-$HOME/.cache/trix-fuzz}
workers=${TRIX_FUZZ_WORKERS:-$(( $(nproc) > 1 ? $(nproc) / 2 : 1 ))}

mapfile -t all < <(TRIX_FUZZ_BUILD_ONLY=1 TRIX_FUZZ_BUILD_DIR="$build" "$root/tests/fuzz/ci.sh" | grep '^fuzz_')
targets=("$@")
((${#targets[@]})) || targets=("${all[@]}")

status=0
for t in "${targets[@]}"; do
  name=${t#fuzz_}
  exe=$(find "$build" -name "$t" -type f -perm -u+x | head -n 1)
  if [[ -z $exe ]]; then
    echo "error: no target $t in $build (have: ${all[*]})" >&2
    exit 2
  fi
  corpus=$store/$name
  mkdir -p "$corpus" "$store/findings" "$store/logs"
  [[ -d $root/tests/fuzz/corpus/$name ]] && cp -rn "$root/tests/fuzz/corpus/$name/." "$corpus/"
  echo "== $t: $seconds s, $workers workers, corpus $corpus ($(ls "$corpus" | wc -l) files)"
  rc=0
  (cd "$store/logs" && nice "$exe" "$corpus" -jobs="$workers" -workers="$workers" \
     -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
     -artifact_prefix="$store/findings/$t-") || rc=$?
  execs=$(cat "$store"/logs/fuzz-*.log 2>/dev/null | sed -n 's/^stat::number_of_executed_units: *//p' |
          awk '{s += $1} END {print s + 0}')
  echo "== $t: exit $rc, $execs executions, corpus now $(ls "$corpus" | wc -l) files"
  rm -f "$store"/logs/fuzz-*.log
  ((rc == 0)) || status=1
done
exit $status
