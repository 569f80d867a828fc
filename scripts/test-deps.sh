#!/usr/bin/env bash
# What `make test` needs beyond Go and Python with moto: headless Chromium
# for the time page's browser tests (e2e/browser), from Debian's packages.
# Installed only when missing; without root, says what to run instead.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [[ -n "${WTT_CHROMIUM:-}" ]] || [[ "${WTT_SKIP_BROWSER:-}" == 1 ]]; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "make test needs Chromium for e2e/browser: run 'sudo apt-get install chromium' (or set WTT_SKIP_BROWSER=1 to skip those tests)" >&2
  exit 1
fi
echo "installing chromium from Debian's packages (for e2e/browser)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
