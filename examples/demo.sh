#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds the release
# preset, runs the ternary GEMV slice once (checksum, time per call), then
# tells the stories260K story with the text-generation example (converting
# ../shared/models/stories260K to GGUF on first use). Extra arguments go to
# generate, e.g. `bash examples/demo.sh -m model.gguf -p "Once upon" -n 32`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash cmake/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target generate trix-gemv-demo
./build/release/examples/gemv_demo/trix-gemv-demo
exec ./build/release/examples/generate/generate -n 64 "$@"
