#!/usr/bin/env bash
# Cross-builds TriX's kernel tests (ctest label "kernels") for aarch64 with
# g++-aarch64-linux-gnu and runs them under qemu-aarch64 on three emulated
# CPUs, so that every aarch64 Highway target and fast path runs somewhere:
#   neon-nodot   QEMU_CPU=cortex-a57      NEON without dotprod (the vmull path)
#   neon         QEMU_CPU=max,sve=off     NEON with sdot
#   sve128       QEMU_CPU=max,sve128=on   SVE/SVE2 (and SVE2_128), 128-bit vectors
#   sve512       QEMU_CPU=max,sve512=on   SVE/SVE2, 512-bit vectors
# Each run prints the Highway targets the CPU supports (tests run every one of
# them). Exits non-zero on any build or test failure.
#
# Packages: the cross compiler and qemu-user through apt-get; the arm64
# libhwy/libgtest .debs are downloaded with a private apt state (no foreign
# architecture added to dpkg) and unpacked into $build/sysroot.
#
# Env: TRIX_AARCH64_BUILD (default build/aarch64), TRIX_AARCH64_JOBS (2),
#      TRIX_AARCH64_CPUS (space-separated subset of the names above),
#      TRIX_AARCH64_TESTS (a ctest -R regex: build and run only those kernel
#      tests, e.g. 'gemv_kquant|gemv_dense'),
#      TRIX_AARCH64_COMPILER=clang (build with clang --target=aarch64-linux-gnu;
#      by default GCC builds and runs, and clang only compiles the kernels).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
build=${TRIX_AARCH64_BUILD:-$root/build/aarch64}
jobs=${TRIX_AARCH64_JOBS:-2}
cpus=${TRIX_AARCH64_CPUS:-neon-nodot neon sve128 sve512}
select=()
[[ -n ${TRIX_AARCH64_TESTS:-} ]] && select=(-R "$TRIX_AARCH64_TESTS")
mkdir -p "$build"
build=$(cd "$build" && pwd)

# ---- host packages
need=()
for p in g++-aarch64-linux-gnu qemu-user cmake ninja-build; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  [[ $(id -u) -eq 0 ]] || { echo "error: missing ${need[*]}; run as root" >&2; exit 1; }
  echo "installing: ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# ---- arm64 libraries (Highway, GoogleTest) unpacked into a private sysroot
sysroot=$build/sysroot
if [[ ! -f $sysroot/.complete ]]; then
  echo "== fetching arm64 libhwy-dev, libhwy1, libgtest-dev"
  apt_dir=$build/apt
  rm -rf "$apt_dir" "$sysroot"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs" "$sysroot"
  apt_opts=(-q -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
            -o APT::Architecture=arm64 -o APT::Architectures::=arm64
            -o APT::Sandbox::User=root)
  # Only Debian's own sources carry arm64 packages.
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    apt_opts+=(-o Dir::Etc::SourceList=/etc/apt/sources.list.d/debian.sources
               -o Dir::Etc::SourceParts=/nonexistent)
  fi
  apt-get "${apt_opts[@]}" update >/dev/null
  (cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" download libhwy-dev:arm64 libhwy1:arm64 libgtest-dev:arm64 >/dev/null)
  for deb in "$apt_dir"/debs/*.deb; do dpkg-deb -x "$deb" "$sysroot"; done
  touch "$sysroot/.complete"
fi

# ---- cross build (Release, kernel tests only)
echo "== configuring aarch64 build in $build"
cmake -S "$root" -B "$build/tree" -G Ninja \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/aarch64-linux-gnu.cmake" \
  -DTRIX_AARCH64_SYSROOT="$sysroot" -DCMAKE_BUILD_TYPE=Release \
  -DTRIX_BUILD_CODEGEN=OFF -DTRIX_BUILD_EXAMPLES=OFF -DTRIX_BUILD_BENCH=OFF \
  -DTRIX_BUILD_TESTS=ON -DTRIX_WERROR=ON >/dev/null
mapfile -t tests < <(cd "$build/tree" && ctest -N -L kernels "${select[@]}" | sed -n 's/^ *Test *#[0-9]*: *//p')
((${#tests[@]})) || { echo "error: no kernel tests configured" >&2; exit 1; }
echo "== building ${tests[*]}"
time ninja -C "$build/tree" -j "$jobs" "${tests[@]}"

# ---- clang compiles the same kernels for aarch64 (its NEON dotprod path
# differs from GCC's: see trix/cpu/arm_dot-inl.h). Compile only, to keep CI
# short; TRIX_AARCH64_COMPILER=clang with this script runs them.
if [[ ${TRIX_AARCH64_COMPILER:-gcc} != clang ]] && command -v clang++ >/dev/null; then
  echo "== clang --target=aarch64-linux-gnu: trix/cpu/implementation.cc"
  clang++ --target=aarch64-linux-gnu -std=c++20 -O2 -Wall -Wextra -Werror \
    -I"$root/include" -I"$root/generated" -isystem "$sysroot/usr/include" \
    -c "$root/include/trix/cpu/implementation.cc" -o "$build/implementation-clang.o"
fi

# ---- run under qemu on each emulated CPU
qemu_cpu() {
  case $1 in
    neon-nodot) echo cortex-a57 ;;
    neon) echo max,sve=off ;;
    sve128) echo max,sve128=on ;;
    sve512) echo max,sve512=on ;;
    *) echo "error: unknown CPU name $1" >&2; exit 1 ;;
  esac
}
status=0
for name in $cpus; do
  cpu=$(qemu_cpu "$name")
  echo "== $name (QEMU_CPU=$cpu)"
  # The targets Highway finds on this CPU (the per-target tests run each).
  QEMU_CPU=$cpu qemu-aarch64 -L /usr/aarch64-linux-gnu "$build/tree/tests/kernels/${tests[0]}" \
    --gtest_list_tests |
    sed -n 's/.*\/\([A-Z0-9_]*\)  *# GetParam() = .*/\1/p' | sort -u | tr '\n' ' ' |
    sed 's/^/   Highway targets run: /; s/$/\n/'
  # PackedTernaryTargets.ReportsArmDotStep checks the dot step against this.
  step=sdot
  [[ $name == neon-nodot ]] && step=vmull
  if [[ " ${tests[*]} " == *" ternary_packed_test "* ]]; then
    QEMU_CPU=$cpu TRIX_EXPECT_ARM_DOT_STEP=$step qemu-aarch64 -L /usr/aarch64-linux-gnu \
      "$build/tree/tests/kernels/ternary_packed_test" --gtest_filter='PackedTernaryTargets.*' |
      sed -n 's/^aarch64 /   /p' || true  # a mismatch fails in ctest below
  fi
  if ! (cd "$build/tree" && QEMU_CPU=$cpu TRIX_EXPECT_ARM_DOT_STEP=$step \
        ctest -L kernels "${select[@]}" --output-on-failure -j "$jobs"); then
    echo "aarch64 $name: FAILED" >&2
    status=1
  fi
done
exit $status
