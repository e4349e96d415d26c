#!/usr/bin/env bash
# Installs what the tests need when it is missing: Chromium and ffmpeg from
# Debian, and the npm test packages. Idempotent; safe to run every time.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
command -v node >/dev/null 2>&1 || need+=(nodejs npm)
command -v podman >/dev/null 2>&1 || need+=(podman)
[ -f /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "installing: ${need[*]}"
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q -o DPkg::Lock::Timeout=600 "${need[@]}"
fi

if [ -f test/node/package.json ] && [ ! -d test/node/node_modules ]; then
  echo "installing npm test packages"
  (cd test/node && npm ci --no-audit --no-fund)
fi

if [ -f test/sdk/package.json ] && [ ! -d test/sdk/node_modules ]; then
  echo "installing TypeScript for the SDK type checks"
  (cd test/sdk && npm ci --no-audit --no-fund)
fi
