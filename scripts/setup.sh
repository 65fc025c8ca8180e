#!/usr/bin/env bash
# What the test suite needs beyond `npm install`: Chromium, Debian's package, for the
# stats page's browser test (driven by playwright-core, which brings no browser).
# Installs it when missing; needs root (or sudo) for apt-get.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
sudo=''
if [ "$(id -u)" -ne 0 ]; then sudo='sudo'; fi
echo 'scripts/setup.sh: installing chromium (apt-get)'
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null
