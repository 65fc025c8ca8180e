#!/usr/bin/env bash
# reload-loss.sh: requests lost while tapgate is reloaded over and over under
# load, next to HAProxy reloaded the same way, in the same run.
#
# The measuring is done by the shared reload-loss.sh (two nginx origins; the
# proxy pinned to one core; wrk on the other core(s), every request on a new
# connection, "Connection: close"; a reload every --interval seconds for
# --duration seconds). tapgate joins it as an --extra target:
#   started by   bench/tapgate-target.sh with TAPGATE_WORKERS (default 2) and
#                log level info; `exec` all the way down, so the PID the shared
#                script holds (TARGET_PID) is the tapgate master's node process;
#   reloaded by  bench/tapgate-reload.sh: alternates origin2's weight (1 <-> 2)
#                in the config, then `kill -HUP $TARGET_PID`. A tick at which
#                the previous reload has not finished yet is skipped (a tapgate
#                reload forks a new generation of workers and can take longer
#                than the interval).
# This script then writes bench/results/reload-loss.{md,json}: every variant's
# failed/total, and for tapgate the reloads actually completed according to
# the master's log ("reloaded" lines) and how long they took.
#
# Variants (default none,sf,mw,tapgate-still,tapgate; see the shared script's --help)
#   none           HAProxy, never reloaded: the floor
#   sf             HAProxy, new process with -sf OLD_PID
#   mw             HAProxy master-worker (-W), SIGUSR2 to the master
#   tapgate-still  tapgate as below, never reloaded (its reload command is `true`):
#                  what the throughput under reloads is compared with
#   tapgate        tapgate master with TAPGATE_WORKERS workers, SIGHUP to the master
#
# Usage
#   bash bench/reload-loss.sh [SHARED_OPTIONS]
#   bash bench/reload-loss.sh --duration 30 --interval 1
#   bash bench/reload-loss.sh --variants none,sf,sf-x,mw,mw-expose,tapgate
# Options are passed on to the shared script after the defaults here
# (--variants none,sf,mw,tapgate-still,tapgate --duration 30 --interval 1), so they override
# them. Do not pass --json: this script sets it.
#
# Environment
#   BENCH_RELOAD_LOSS       the shared script (default: ../shared/bench/reload-loss.sh
#                           relative to the project root)
#   BENCH_TAPGATE_WORKERS   tapgate's `workers:` (default 2)
#   BENCH_WORK              work directory (default .bench-work in the project
#                           root); raw wrk output and logs of the last run are in
#                           BENCH_WORK/reload-loss/{wrk,logs}/
#   BENCH_PORT_BASE         as in the shared script (default 18100); tapgate
#                           listens on BASE+30
#   BENCH_PROXY_CPU, BENCH_LOAD_CPUS   as in the shared script
#
# Needs haproxy, nginx and wrk (the shared script installs them as root with
# apt-get, otherwise names them and stops). All traffic stays on 127.0.0.1.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

SHARED=${BENCH_RELOAD_LOSS:-$ROOT/../shared/bench/reload-loss.sh}
[ -f "$SHARED" ] || die "reload-loss.sh not found at $SHARED
  It runs the origins, the load and the HAProxy variants; get it (it lives in the
  shared bench folder next to this project) and point BENCH_RELOAD_LOSS at it:
    BENCH_RELOAD_LOSS=/path/to/reload-loss.sh bash bench/reload-loss.sh"
for a in "$@"; do [ "$a" != --json ] || die "--json is set by this script"; done

WORKERS=${BENCH_TAPGATE_WORKERS:-2}
[[ $WORKERS =~ ^[1-9][0-9]*$ ]] || die "BENCH_TAPGATE_WORKERS must be a whole number >= 1 (a master with workers)"

export BENCH_WORK
BENCH_WORK=$(mkdir -p "${BENCH_WORK:-$ROOT/.bench-work}" && cd "${BENCH_WORK:-$ROOT/.bench-work}" && pwd)
# The shared scripts may write CommonJS helpers into BENCH_WORK; inside this
# project the nearest package.json says "type": "module", so give them their own.
printf '{ "type": "commonjs" }\n' >"$BENCH_WORK/package.json"

TAPGATE_PORT=$(( ${BENCH_PORT_BASE:-18100} + 30 ))
TAPGATE_CONFIG=$BENCH_WORK/tapgate/tapgate-$TAPGATE_PORT.yaml  # as bench/tapgate-target.sh names it
RESULTS=$ROOT/bench/results
RAW_MD=$BENCH_WORK/reload-loss.md RAW_JSON=$BENCH_WORK/reload-loss.json RAW_LOG=$BENCH_WORK/reload-loss.log
rm -f "$RAW_MD" "$RAW_JSON" "$RAW_LOG" "$TAPGATE_CONFIG.hups" "$TAPGATE_CONFIG.hups.log"

log "tapgate: workers: $WORKERS, reloaded with SIGHUP to the master (bench/tapgate-reload.sh)"
bash "$SHARED" \
  --variants none,sf,mw,tapgate-still,tapgate \
  --duration 30 --interval 1 \
  --extra "tapgate-still=TAPGATE_WORKERS=$WORKERS TAPGATE_LOG_LEVEL=info exec bash bench/tapgate-target.sh" \
  --extra-port "$TAPGATE_PORT" \
  --extra-reload 'true' \
  --extra "tapgate=TAPGATE_WORKERS=$WORKERS TAPGATE_LOG_LEVEL=info exec bash bench/tapgate-target.sh" \
  --extra-port "$TAPGATE_PORT" \
  --extra-reload 'bash bench/tapgate-reload.sh' \
  "$@" \
  --json "$RAW_JSON" >"$RAW_MD" 2> >(tee "$RAW_LOG" >&2)

mkdir -p "$RESULTS"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git status --porcelain -- core plugins sdk bin package.json 2>/dev/null)" ] || commit+="+uncommitted"
node --import tsx bench/reload-summary.ts \
  --raw-json "$RAW_JSON" --raw-md "$RAW_MD" --commit "$commit" --workers "$WORKERS" \
  --run-dir "$BENCH_WORK/reload-loss" --progress-log "$RAW_LOG" --hups-log "$TAPGATE_CONFIG.hups.log" \
  --out-md "$RESULTS/reload-loss.md" --out-json "$RESULTS/reload-loss.json"
log "results in bench/results/reload-loss.md and reload-loss.json"
cat "$RESULTS/reload-loss.md"
