#!/usr/bin/env bash
# What the test suite needs beyond `npm install`, from Debian's packages: Chromium for
# the stats page's browser test (driven by playwright-core, which brings no browser)
# and redis-server for the rate-limit plugin's Redis store test (which starts its own
# server on a free port). Installs what is missing, with one apt-get update and one
# apt-get install; needs root (or sudo) for apt-get.
set -euo pipefail

missing=()
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then missing+=(chromium); fi
if ! command -v redis-server >/dev/null 2>&1; then missing+=(redis-server); fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
sudo=''
if [ "$(id -u)" -ne 0 ]; then sudo='sudo'; fi
echo "scripts/setup.sh: installing ${missing[*]} (apt-get)"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
command -v chromium >/dev/null || command -v chromium-browser >/dev/null
command -v redis-server >/dev/null
