#!/usr/bin/env bash
# Runs abuse_test.mjs (1000 concurrent connections, hang-ups, stalled and
# slow-header clients) against a trix-server on stories260K with a 2 s read
# timeout. Usage: abuse_test.sh <trix-server binary>
source "$(dirname "$0")/lib.sh" "$1"
command -v node >/dev/null || { echo "skipped: node is not installed"; exit 77; }
start_server s --read-timeout 2 --http-threads 32
node "$(dirname "$0")/abuse_test.mjs" "$s_url" 2
