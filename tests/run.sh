#!/usr/bin/env bash
# The README's test command (and what CI runs): installs what is missing,
# then
#   1. checks generated/ is what trix-gen makes from specs/ (regenerate + diff)
#   2. builds the dev preset (Debug, ASan+UBSan, -Werror) and runs its tests
#      (all but the benchmarks' smoke runs)
#   3. builds the release preset (-O3, -Werror) with the benchmarks and runs
#      its tests (all but the one-TU-per-header test, a compile-only check)
#   4. compiles the generated CUDA headers with nvcc for each listed arch
#   5. installs TriX and builds + runs tests/consumer against the package
#   6. cross-builds the kernel tests for aarch64 and runs them under qemu
#   7. builds the libFuzzer targets and the kernels (clang, ASan+UBSan), runs each for
#      $TRIX_FUZZ_SECONDS (default 30) on its seed corpus (tests/fuzz/ci.sh)
# Options: TRIX_SKIP_RELEASE=1 / TRIX_SKIP_CROSS=1 / TRIX_SKIP_FUZZ=1 skip
# steps 3 / 6 / 7 locally (the fuzz step is never skipped under CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
TRIX_WITH_CROSS=1 bash cmake/install-deps.sh

passed=0
failed=0
# step "<title>": prints the title and how long the previous step took, so a
# CI log shows where its time goes (CI has a time budget).
step_start=$SECONDS
step() {
  echo "   (took $((SECONDS - step_start)) s; $SECONDS s so far)"
  step_start=$SECONDS
  echo "== $1"
}
run_ctest() {  # run_ctest <preset>
  local log
  log=$(mktemp)
  set +e
  ctest --preset "$1" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  # A skipped or not-run test hides a check (ctest marks it "***Skipped" /
  # "***Not Run" and lists it under "The following tests did not run"):
  # listed always, fatal under CI=true.
  local not_run
  not_run=$(sed -n '/The following tests did not run:/,/^[[:space:]]*$/{/did not run/d;/^[[:space:]]*$/d;p}' "$log")
  [[ -n "$not_run" ]] || not_run=$(grep -E '\*\*\*(Skipped|Not Run)' "$log" || true)
  if [[ -n "$not_run" ]]; then
    echo "ctest ($1): tests that did not run:" >&2
    echo "$not_run" >&2
    if [[ "${CI:-}" == true ]]; then
      rm -f "$log"
      echo "under CI=true a skipped test is a failure" >&2
      echo "tests: $passed passed, $((failed + 1)) failed"
      exit 1
    fi
  fi
  local total fails
  total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -1)
  fails=$(sed -n 's/.* \([0-9]*\) tests failed out of.*/\1/p' "$log" | tail -1)
  rm -f "$log"
  passed=$((passed + ${total:-0} - ${fails:-0}))
  failed=$((failed + ${fails:-0}))
  if [[ $rc -ne 0 || -z "$total" || "$total" -eq 0 ]]; then
    echo "ctest ($1) failed or ran no test" >&2
    echo "tests: $passed passed, $((failed > 0 ? failed : 1)) failed"
    exit 1
  fi
}

step "1. specs -> generated/ is up to date"
cmake --preset dev -DTRIX_REGENERATE=OFF >/dev/null
cmake --build --preset dev --target trix-gen
gen_tmp=$(mktemp -d)
trap 'rm -rf "$gen_tmp"' EXIT
./build/dev/codegen/trix-gen --specs specs --out "$gen_tmp" --root "$root"
./build/dev/codegen/trix-gen --check --specs specs
if ! diff -r "$gen_tmp" generated; then
  echo "generated/ differs from what trix-gen emits from specs/: run" >&2
  echo "  ./build/dev/codegen/trix-gen --specs specs --out generated   and commit" >&2
  exit 1
fi

step "2. dev preset: Debug + ASan + UBSan, -Werror"
cmake --build --preset dev
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 run_ctest dev

if [[ "${TRIX_SKIP_RELEASE:-0}" != 1 ]]; then
  step "3. release preset: -O3, -Werror"
  cmake --preset release >/dev/null
  cmake --build --preset release
  run_ctest release
fi

step "4. nvcc compile gate"
bash tests/cuda/nvcc_gate.sh

step "5. consumer project against the installed package"
prefix="$gen_tmp/prefix"
build_for_install=build/dev
[[ -d build/release ]] && build_for_install=build/release
cmake --install "$build_for_install" --prefix "$prefix" >/dev/null
cmake -S tests/consumer -B "$gen_tmp/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_CXX_FLAGS="-Wall -Wextra -Werror" >/dev/null
cmake --build "$gen_tmp/consumer"
"$gen_tmp/consumer/trix_consumer"

if [[ "${TRIX_SKIP_CROSS:-0}" != 1 && -f tests/aarch64/run.sh ]]; then
  step "6. aarch64 (NEON, SVE) under qemu"
  bash tests/aarch64/run.sh
fi

if [[ "${TRIX_SKIP_FUZZ:-0}" != 1 || "${CI:-}" == true ]]; then
  step "7. fuzzers (libFuzzer, ASan+UBSan), ${TRIX_FUZZ_SECONDS:-30} s each"
  fuzz_log="$gen_tmp/fuzz.log"
  if ! bash tests/fuzz/ci.sh 2>&1 | tee "$fuzz_log"; then
    echo "tests: $passed passed, $((failed + 1)) failed"
    exit 1
  fi
  passed=$((passed + $(grep -c ' ok$' "$fuzz_log")))
fi

step "done"
echo "tests: $passed passed, $failed failed"
