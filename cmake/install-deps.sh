#!/usr/bin/env bash
# Installs what TriX needs to build, test and run on Debian bookworm (as root).
# Used by the README's two commands and by CI; safe to run repeatedly.
set -euo pipefail
pkgs=(cmake ninja-build g++ clang libhwy-dev libyaml-cpp-dev libgtest-dev libbenchmark-dev nlohmann-json3-dev)
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
