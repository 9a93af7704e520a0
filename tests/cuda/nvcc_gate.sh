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
# One nvcc call per kernel builds every architecture its spec names (the
# host side is compiled once); $TRIX_NVCC_PARALLEL (default 2) kernels at a
# time. Each kernel's report goes to its own file, printed in order.
gate_one() {  # gate_one <cuh> <report file>
  local cuh=$1 out=$2 name archs gencode=() arch
  name=$(basename "$cuh" .cuh)
  # The spec's architectures are in the generated banner comment line.
  archs=$(sed -n 's/^\/\/ CUDA variant of .* for \(.*\)\. Without nvcc.*/\1/p' "$cuh")
  [[ -n "$archs" ]] || { echo "nvcc gate: no architectures listed in $cuh" >"$out"; return 1; }
  for arch in $archs; do gencode+=(-gencode "arch=compute_${arch#sm_},code=$arch"); done
  cat > "$work/$name.cu" <<CU
#include "trix/cuda/$name.cuh"
// Take the generated launch wrapper's address (GEMVs and device ops alike)
// so it and its kernel are instantiated.
extern decltype(&trix::cuda::launch_${name}) const nvcc_gate_launch;
decltype(&trix::cuda::launch_${name}) const nvcc_gate_launch = &trix::cuda::launch_${name};
CU
  local log="$work/$name.log"
  if ! "$nvcc" -std=c++20 "${gencode[@]}" -I"$root/include" -I"$root/generated" \
      -Werror all-warnings -Xcompiler -Wall,-Wextra,-Werror \
      -Xptxas -v,-warn-spills,-warn-lmem-usage,--warning-as-error \
      -c "$work/$name.cu" -o "$work/$name.o" >"$log" 2>&1; then
    cat "$log" >"$out"
    return 1
  fi
  # ptxas reports "Compiling entry function '...' for 'sm_XX'" then "Used N registers".
  awk -v name="$name" '
    /Compiling entry function/ { match($0, /for .sm_[0-9]+/); arch = substr($0, RSTART + 5, RLENGTH - 5); seen = 0 }
    /Used [0-9]+ registers/ && !seen { match($0, /Used [0-9]+ registers/);
      printf "nvcc gate: %s %s OK (%s)\n", name, arch, substr($0, RSTART, RLENGTH); seen = 1 }
  ' "$log" >"$out"
  local n
  n=$(wc -l <"$out")
  [[ $n -eq $(wc -w <<<"$archs") ]] || { echo "nvcc gate: $name: expected a register report per arch ($archs)" >>"$out"; cat "$log" >>"$out"; return 1; }
}

parallel=${TRIX_NVCC_PARALLEL:-2}
i=0
for cuh in "${cuhs[@]}"; do
  [[ -f "$cuh" ]] || { echo "nvcc gate: no $cuh" >&2; exit 1; }
  (gate_one "$cuh" "$work/report.$i" && touch "$work/ok.$i") &
  i=$((i + 1))
  while (($(jobs -rp | wc -l) >= parallel)); do wait -n || true; done
done
wait
failed=0
for ((j = 0; j < i; j++)); do
  cat "$work/report.$j"
  if [[ -f "$work/ok.$j" ]]; then
    count=$((count + $(grep -c ' OK (' "$work/report.$j")))
  else
    failed=1
  fi
done
if ((failed)); then
  echo "nvcc gate: FAILED (see above)" >&2
  exit 1
fi
echo "nvcc gate: $count kernel/arch builds passed"
