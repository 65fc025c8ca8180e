#!/usr/bin/env bash
# tapgate-target.sh: tapgate as an anchors.sh --extra target.
#
# anchors.sh runs this under `bash -c` from the project root, pinned to the
# proxy core, with LISTEN_PORT, ORIGIN1_PORT and ORIGIN2_PORT set. It writes a
# config that proxies 127.0.0.1:LISTEN_PORT round robin to the two origins,
# then becomes the gateway (exec), so SIGTERM reaches tapgate itself.
#
# The config matches the HAProxy anchor: one in-process worker, no access log,
# and no X-Forwarded-* headers (the HAProxy anchor has no "option forwardfor").
#
# Environment (optional)
#   TAPGATE_WORKERS    `workers:` in the config (default 0: one in-process
#                      worker). With N >= 1 the master forks N workers; since
#                      node is exec'd, this script's PID is the master's.
#   TAPGATE_LOG_LEVEL  `log.level` (default warn). bench/tapgate-reload.sh
#                      needs info, to see the master's "reloaded" lines.
#   TAPGATE_DEFAULTS   1: the configuration as users run it instead: the
#                      access log on (to a file beside the config) and the
#                      X-Forwarded-* headers on; against HAPROXY_AS_USED=1.

set -euo pipefail

: "${LISTEN_PORT:?LISTEN_PORT is not set (this script is started by anchors.sh)}"
: "${ORIGIN1_PORT:?ORIGIN1_PORT is not set}"
: "${ORIGIN2_PORT:?ORIGIN2_PORT is not set}"
WORKERS=${TAPGATE_WORKERS:-0}
LOG_LEVEL=${TAPGATE_LOG_LEVEL:-warn}
[[ $WORKERS =~ ^[0-9]+$ ]] || { echo "tapgate-target.sh: TAPGATE_WORKERS must be a whole number" >&2; exit 1; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${BENCH_WORK:-$ROOT/.bench-work}/tapgate
mkdir -p "$DIR"
CONFIG=$DIR/tapgate-$LISTEN_PORT.yaml

ACCESS=false
FORWARDED='forwarded: { xff: false, proto_host: false }'
if [[ ${TAPGATE_DEFAULTS:-0} == 1 ]]; then
  ACCESS=$DIR/access-$LISTEN_PORT.log
  FORWARDED='# forwarded: the defaults (X-Forwarded-For, -Proto, -Host)'
fi

cat >"$CONFIG" <<YAML
# Written by bench/tapgate-target.sh; overwritten on every run.
workers: $WORKERS
log: { level: $LOG_LEVEL, access: $ACCESS }

frontends:
  bench:
    bind: 127.0.0.1:$LISTEN_PORT
    mode: http
    default_backend: origins
    $FORWARDED

backends:
  origins:
    balance: roundrobin
    servers:
      - { name: origin1, address: 127.0.0.1:$ORIGIN1_PORT, weight: 1 }
      - { name: origin2, address: 127.0.0.1:$ORIGIN2_PORT, weight: 1 }
YAML

cd "$ROOT"
exec node bin/tapgate.mjs run -c "$CONFIG"
