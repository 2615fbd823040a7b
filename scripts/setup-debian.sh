#!/usr/bin/env bash
# Installs what wasmsg needs from Debian beyond Node.js: clang + lld to rebuild the C example
# (npm run build:examples). Idempotent; run as root (CI runs it before the tests).
set -euo pipefail
packages=(clang lld)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup-debian: all present (${packages[*]})"
  exit 0
fi
echo "setup-debian: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
