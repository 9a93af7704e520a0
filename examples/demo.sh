#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds the release
# preset and runs the demo (text generation from stories260K when the
# generate example exists, else the ternary GEMV slice).
set -euo pipefail
cd "$(dirname "$0")/.."
bash cmake/install-deps.sh
cmake --preset release >/dev/null
if cmake --build --preset release --target help | grep -q '^generate:'; then
  cmake --build --preset release --target generate trix-gemv-demo
  ./build/release/examples/gemv_demo/trix-gemv-demo
  exec ./build/release/examples/generate/generate -n 64 "$@"
fi
cmake --build --preset release --target trix-gemv-demo
exec ./build/release/examples/gemv_demo/trix-gemv-demo "$@"
