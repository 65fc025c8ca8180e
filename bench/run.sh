#!/usr/bin/env bash
# run.sh (npm run bench:anchors): tapgate with one worker, side by side with the direct
# origin (the ceiling of the load side) and HAProxy nbthread 1.
#
# The measuring is done by the shared anchors.sh (wrk, pinned cores, median of
# rounds); tapgate joins it as an --extra target started by
# bench/tapgate-target.sh. This script only chooses targets and scenarios and
# turns anchors.sh's JSON into bench/results/latest.{md,json}, tapgate first.
#
# Usage
#   npm run bench:anchors [-- ANCHORS_OPTIONS]
#   bash bench/run.sh --duration 5          # shorter runs; still 3 rounds
# Any option is passed on to anchors.sh and overrides the defaults here
# (--targets direct,haproxy,tapgate --scenarios ka,close,ka64k --reps 3).
#
# Environment
#   BENCH_ANCHORS    anchors.sh to use (default: ../shared/bench/anchors.sh
#                    relative to the project root)
#   BENCH_WORK       work directory (default: .bench-work in the project root)
#   BENCH_PORT_BASE  as in anchors.sh (default 18100); tapgate listens on BASE+30
#
# anchors.sh needs haproxy, nginx and wrk; as root it installs the missing ones
# with apt-get, otherwise it names them and stops.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

ANCHORS=${BENCH_ANCHORS:-$ROOT/../shared/bench/anchors.sh}
[ -f "$ANCHORS" ] || die "anchors.sh not found at $ANCHORS
  It measures the reference proxies and runs the benchmark; get it (it lives in the
  shared bench folder next to this project) and point BENCH_ANCHORS at it:
    BENCH_ANCHORS=/path/to/anchors.sh npm run bench"

export BENCH_WORK
BENCH_WORK=$(mkdir -p "${BENCH_WORK:-$ROOT/.bench-work}" && cd "${BENCH_WORK:-$ROOT/.bench-work}" && pwd)
# anchors.sh writes CommonJS helpers (report.js) into BENCH_WORK; inside this
# project the nearest package.json says "type": "module", so give them their own.
printf '{ "type": "commonjs" }\n' >"$BENCH_WORK/package.json"
TAPGATE_PORT=$(( ${BENCH_PORT_BASE:-18100} + 30 ))
RESULTS=$ROOT/bench/results
RAW_MD=$BENCH_WORK/anchors.md RAW_JSON=$BENCH_WORK/anchors.json
rm -f "$RAW_MD" "$RAW_JSON"

# The defaults come first so that options given to this script override them.
bash "$ANCHORS" \
  --targets direct,haproxy,tapgate \
  --scenarios ka,close,ka64k \
  --reps 3 \
  --extra 'tapgate=bash bench/tapgate-target.sh' --extra-port "$TAPGATE_PORT" \
  --json "$RAW_JSON" \
  "$@" >"$RAW_MD"

mkdir -p "$RESULTS"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git status --porcelain -- core plugins sdk bin package.json 2>/dev/null)" ] || commit+="+uncommitted"
node --import tsx bench/summary.ts "$RAW_JSON" "$RAW_MD" "$commit" "$RESULTS/latest.md" "$RESULTS/latest.json"
log "results in bench/results/latest.md and latest.json"
cat "$RESULTS/latest.md"
