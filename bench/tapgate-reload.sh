#!/usr/bin/env bash
# tapgate-reload.sh: one reload of a running tapgate master, as a
# reload-loss.sh --extra-reload command (see bench/reload-loss.sh).
#
# reload-loss.sh runs it under `bash -c` with TARGET_PID set, once per reload
# tick. It
#   1. checks that TARGET_PID is the tapgate master itself (a node process
#      whose command line is `... tapgate.mjs run -c FILE`), not a wrapper shell;
#   2. skips this tick (exit 3) if the previous reload has not finished yet:
#      the master logs "reloaded" (or "reload refused" / "reload failed") once
#      a reload is done, and a tapgate reload forks a whole new generation of
#      workers, which can take longer than the reload interval. Without the
#      skip, SIGHUPs would queue up in the master and reloads would go on after
#      the load has stopped;
#   3. changes the config (origin2's weight alternates between 1 and 2), so that
#      every reload is a real change;
#   4. sends SIGHUP to the master and returns at once (exit 0).
#
# It finds the config file in the master's command line and the master's log
# (pino JSON on stderr, at level info: TAPGATE_LOG_LEVEL=info for
# bench/tapgate-target.sh) through /proc/TARGET_PID/fd/2. HUPs sent are
# counted in FILE.hups next to the config ("MASTER_PID COUNT"), and the time
# of each (ms since the epoch, like the log's "time") appended to FILE.hups.log,
# so that bench/reload-loss.sh can tell how long each reload took.

set -euo pipefail

say() { printf '[tapgate-reload] %s\n' "$*" >&2; }

: "${TARGET_PID:?TARGET_PID is not set (this script is run by reload-loss.sh)}"
[ "$(cat "/proc/$TARGET_PID/comm" 2>/dev/null)" = node ] \
  || { say "TARGET_PID $TARGET_PID is not a node process (the master must be exec'd)"; exit 2; }

mapfile -d '' -t ARGV <"/proc/$TARGET_PID/cmdline"
CONFIG=""
for ((i = 0; i < ${#ARGV[@]} - 1; i++)); do
  case ${ARGV[$i]} in -c | --config) CONFIG=${ARGV[$((i + 1))]} ;; esac
done
[[ " ${ARGV[*]} " == *"tapgate.mjs run "* && -n $CONFIG ]] \
  || { say "TARGET_PID $TARGET_PID is not a tapgate master: ${ARGV[*]}"; exit 2; }
[[ $CONFIG == /* ]] || CONFIG=$(readlink -f "/proc/$TARGET_PID/cwd")/$CONFIG
LOG=$(readlink -f "/proc/$TARGET_PID/fd/2")
[ -f "$LOG" ] || { say "the master's stderr ($LOG) is not a file"; exit 2; }

HUPS_FILE=$CONFIG.hups
hups=0
if read -r pid count 2>/dev/null <"$HUPS_FILE" && [ "$pid" = "$TARGET_PID" ]; then hups=$count; fi
# Lines in the log are written by the master only after a reload has ended.
done_count=$(grep -cE '"msg":"(reloaded|reload refused|reload failed)' "$LOG" || true)
if [ "$done_count" -lt "$hups" ]; then
  say "skipped: reload $hups still in progress"
  exit 3
fi

if grep -q 'address: 127.0.0.1:[0-9]*, weight: 1 }' <(grep 'name: origin2' "$CONFIG"); then w=2; else w=1; fi
sed -i -E "/name: origin2/s/weight: [0-9]+/weight: $w/" "$CONFIG"
grep -q "name: origin2.*weight: $w }" "$CONFIG" || { say "could not set origin2's weight in $CONFIG"; exit 2; }

echo "$TARGET_PID $(date +%s%3N)" >>"$CONFIG.hups.log"
kill -HUP "$TARGET_PID"
echo "$TARGET_PID $((hups + 1))" >"$HUPS_FILE"
