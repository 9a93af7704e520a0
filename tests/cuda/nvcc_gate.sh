#!/usr/bin/env bash
# Compile gate for the generated CUDA headers: every .cuh under
# generated/trix/cuda is instantiated and compiled by nvcc for each
# architecture its spec names, warnings as errors, register spills as errors.
# Arguments, if any, name the kernels to compile (default: all); each line
# OK reports the registers ptxas gave the kernel.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
nvcc=${NVCC:-/usr/local/cuda/bin/nvcc}
if [[ ! -x "$nvcc" ]]; then
  echo "nvcc gate: $nvcc not found" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
count=0
if [[ $# -gt 0 ]]; then
  cuhs=()
  for name in "$@"; do cuhs+=("$root/generated/trix/cuda/$name.cuh"); done
else
  cuhs=("$root"/generated/trix/cuda/*.cuh)
fi
for cuh in "${cuhs[@]}"; do
  [[ -f "$cuh" ]] || { echo "nvcc gate: no $cuh" >&2; exit 1; }
  name=$(basename "$cuh" .cuh)
  # The spec's architectures are in the generated banner comment line.
  archs=$(sed -n 's/^\/\/ CUDA variant of .* for \(.*\)\. Without nvcc.*/\1/p' "$cuh")
  [[ -n "$archs" ]] || { echo "nvcc gate: no architectures listed in $cuh" >&2; exit 1; }
  cat > "$work/$name.cu" <<CU
#include "trix/cuda/$name.cuh"
// Take the generated launch wrapper's address (GEMVs and device ops alike)
// so it and its kernel are instantiated.
extern decltype(&trix::cuda::launch_${name}) const nvcc_gate_launch;
decltype(&trix::cuda::launch_${name}) const nvcc_gate_launch = &trix::cuda::launch_${name};
CU
  for arch in $archs; do
    log="$work/$name.$arch.log"
    "$nvcc" -std=c++20 -arch="$arch" -I"$root/include" -I"$root/generated" \
      -Werror all-warnings -Xcompiler -Wall,-Wextra,-Werror \
      -Xptxas -v,-warn-spills,-warn-lmem-usage,--warning-as-error \
      -c "$work/$name.cu" -o "$work/$name.$arch.o" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
    regs=$(grep -o 'Used [0-9]* registers' "$log" | head -1)
    echo "nvcc gate: $name $arch OK ($regs)"
    count=$((count + 1))
  done
done
echo "nvcc gate: $count kernel/arch builds passed"
