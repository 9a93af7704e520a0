#!/usr/bin/env bash
# Runs openai_test.mjs (the official `openai` npm client) against a
# trix-server on stories260K. The client lives in tests/server/node_modules:
# cmake/install-deps.sh installs it (package.json pins the version); when it
# is missing this script installs it, and skips (exit 77) with a message when
# that fails (no Node or no registry), which CI counts as a failure.
# Usage: openai_test.sh <trix-server binary>
source "$(dirname "$0")/lib.sh" "$1"
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v node >/dev/null; then
  echo "skipped: node is not installed (Node 20 runs the openai client)"
  exit 77
fi
if [[ ! -d $here/node_modules/openai ]]; then
  if ! (cd "$here" && npm ci --no-audit --no-fund >"$workdir/npm.log" 2>&1); then
    cat "$workdir/npm.log"
    echo "skipped: cannot install the openai npm package (run cmake/install-deps.sh with network access)"
    exit 77
  fi
fi
start_server s --chat-template chatml
node "$here/openai_test.mjs" "$s_url"
