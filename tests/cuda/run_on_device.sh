#!/usr/bin/env bash
# On a machine with a CUDA device: builds tests/cuda/gemv_device_check.cu for
# the device's own architecture and runs it (every GEMV kernel bit for bit
# against the CPU references, then the TQ2_0 GEMV benchmark against the
# measured copy bandwidth). Exit status 0 only when every kernel matched.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
nvcc=${NVCC:-/usr/local/cuda/bin/nvcc}
arch=${ARCH:-native}
out=${OUT_DIR:-$(mktemp -d)}
# 1675: the CPU k-quant codecs' #pragma GCC optimize (fp-contract off), unknown to nvcc's front end.
"$nvcc" -std=c++20 -O3 -arch="$arch" -diag-suppress 1675 -I"$root/include" -I"$root/generated" \
  -o "$out/gemv_device_check" "$root/tests/cuda/gemv_device_check.cu"
"$out/gemv_device_check"
