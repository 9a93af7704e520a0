#!/usr/bin/env bash
# Installs what TriX needs to build, test and run on Debian bookworm (as root).
# Used by the README's two commands and by CI; safe to run repeatedly.
set -euo pipefail
# libcpp-httplib-dev, nlohmann-json3-dev: trix-server (nlohmann also the safetensors reader); curl, jq: its tests;
# nginx: the scale-out test (it runs its own nginx on a loopback port; Debian's service is not used).
pkgs=(cmake ninja-build g++ clang libhwy-dev libyaml-cpp-dev libgtest-dev libbenchmark-dev
      libcpp-httplib-dev nlohmann-json3-dev curl jq nginx)
if [[ "${TRIX_WITH_CROSS:-0}" == 1 ]]; then
  pkgs+=(g++-aarch64-linux-gnu qemu-user)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "error: missing Debian packages (${missing[*]}); run as root or install them first" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The official `openai` npm client for tests/server (version pinned by its
# package.json / package-lock.json); Node itself is not a Debian package here.
server_tests="$(dirname "$0")/../tests/server"
if command -v npm >/dev/null && [[ ! -d $server_tests/node_modules/openai ]]; then
  (cd "$server_tests" && npm ci --no-audit --no-fund >/dev/null) ||
    echo "warning: could not install the openai npm package (tests/server/openai_test.sh will skip)" >&2
fi
