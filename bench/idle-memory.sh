#!/usr/bin/env bash
# idle-memory.sh: a worker's memory idle and holding idle keep-alive connections.
#
# The worker is the prebundled worker file (what `workers: N` runs), served alone on the
# default configuration (access log to a file, X-Forwarded-* on; only the keep-alive
# timeout is longer, so that no connection is closed while the others open) in front of
# one nginx origin. It is measured idle, then holding CONNS connections that each made one
# request and stay open: RSS from /proc, and V8's heap after a full GC (node --expose-gc;
# SIGWINCH asks for the figures): heap used, heap committed (what V8 holds, used or not),
# and memory outside the heap that V8 is told of (external).
#
# RSS counts the node binary's pages too (about 34 MB of a bare node's 40), which the
# master and every worker share: /proc/PID/smaps_rollup's Private_Dirty is what one worker
# alone costs.
#
# Usage
#   bash bench/idle-memory.sh            # CONNS=10000
#   CONNS=2000 bash bench/idle-memory.sh
#   REQUEST=0 bash bench/idle-memory.sh  # connections that only connect, never send a request
#   PORT=19301 ORIGIN_PORT=19300 bash bench/idle-memory.sh   # other ports (defaults 18551, 18550)
#   WORKER_FLAGS=--max-semi-space-size=4 bash bench/idle-memory.sh   # node flags for the worker
#
# Needs nginx; the open-file limit must allow CONNS connections twice (both ends are here).

set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CONNS=${CONNS:-10000}
WORK=$(mkdir -p "$ROOT/.bench-work/idle-memory" && cd "$ROOT/.bench-work/idle-memory" && pwd)
REQUEST=${REQUEST:-1}
ORIGIN=${ORIGIN_PORT:-18550}
PORT=${PORT:-18551}
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  nginx -c "$WORK/nginx.conf" -s stop 2>/dev/null || true
}
trap cleanup EXIT

cat >"$WORK/nginx.conf" <<EOF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:$ORIGIN; location / { return 200 "hello\n"; } } }
EOF
cat >"$WORK/tapgate.yaml" <<EOF
log: { level: warn, access: $WORK/access.log }
frontends:
  # Idle connections are held while 10,000 open, longer than the default 5s on a busy machine.
  bench: { bind: 127.0.0.1:$PORT, default_backend: o, timeouts: { keepalive: 10m } }
backends:
  o: { servers: [{ name: o1, address: 127.0.0.1:$ORIGIN }] }
EOF
cat >"$WORK/probe.mjs" <<'EOF'
import { writeFileSync } from 'node:fs';
process.on('SIGWINCH', () => {
  globalThis.gc(); globalThis.gc();
  const m = process.memoryUsage();
  const mb = (n) => (n / 1048576).toFixed(1);
  writeFileSync(process.env.PROBE_OUT, `${mb(m.rss)} ${mb(m.heapUsed)} ${mb(m.heapTotal)} ${mb(m.external)}\n`);
});
EOF
cat >"$WORK/clients.mjs" <<'EOF'
import net from 'node:net';
const [port, n, request] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4] !== '0'];
const sockets = [];
for (let i = 0; i < n; i += 200)
  await Promise.all(Array.from({ length: Math.min(200, n - i) }, () => new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => (request ? s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n') : resolve()));
    let got = '';
    s.on('data', (d) => { got += d; if (got.endsWith('hello\n')) resolve(); });
    s.on('error', reject);
    sockets.push(s);
  })));
console.log('open');
process.stdin.on('data', () => process.exit(0));
EOF
cat >"$WORK/bundle.mts" <<'EOF'
import { bundleWorker } from '../../core/master/worker-bundle.ts';
import { workerMalloc, workerNodeOptions } from '../../core/master/master.ts';
const b = await bundleWorker('./entry/worker.ts');
console.log(b.exec, b.env.TAPGATE_SDK_FILE, workerMalloc(process.env).MALLOC_ARENA_MAX ?? process.env.MALLOC_ARENA_MAX ?? '', workerNodeOptions(process.env.NODE_OPTIONS, []));
EOF

wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; echo "nothing listens on $1" >&2; exit 1; }
figures() { rm -f "$WORK/probe.out"; kill -WINCH "$1"; for _ in $(seq 50); do [ -s "$WORK/probe.out" ] && break; sleep 0.1; done; cat "$WORK/probe.out"; }

nginx -c "$WORK/nginx.conf"
# The worker is started as the master starts one (its NODE_OPTIONS and malloc arenas), plus WORKER_FLAGS.
read -r EXEC SDK ARENAS NODE_OPTIONS_WORKER < <(node --import tsx "$WORK/bundle.mts")
MALLOC_ARENA_MAX=$ARENAS NODE_OPTIONS=$NODE_OPTIONS_WORKER TAPGATE_ROOT=$ROOT TAPGATE_CONFIG=$WORK/tapgate.yaml TAPGATE_GENERATION=1 TAPGATE_SDK_FILE=$SDK PROBE_OUT=$WORK/probe.out \
  node ${WORKER_FLAGS:-} --expose-gc --import "$WORK/probe.mjs" "$EXEC" >"$WORK/worker.log" 2>&1 &
WORKER=$!
PIDS+=("$WORKER")
wait_port $PORT
read -r idle_rss idle_heap idle_total idle_external < <(figures "$WORKER")

rm -f "$WORK/fifo" && mkfifo "$WORK/fifo"
node "$WORK/clients.mjs" $PORT "$CONNS" "$REQUEST" <"$WORK/fifo" >"$WORK/clients.out" 2>&1 &
PIDS+=($!)
exec 7>"$WORK/fifo"
for _ in $(seq 600); do grep -q open "$WORK/clients.out" 2>/dev/null && break; sleep 0.1; done
grep -q open "$WORK/clients.out" || { cat "$WORK/clients.out" >&2; exit 1; }
sleep 1 # the last connections accepted
read -r held_rss held_heap held_total held_external < <(figures "$WORKER")
held=$(ss -Htn state established "( sport = :$PORT )" | wc -l)
echo x >&7

echo "| worker | RSS MB | V8 heap used MB | V8 heap committed MB | external MB |"
echo "| --- | ---: | ---: | ---: | ---: |"
echo "| idle | $idle_rss | $idle_heap | $idle_total | $idle_external |"
what=$([ "$REQUEST" = 0 ] && echo "connections that sent nothing" || echo "idle keep-alive connections")
echo "| holding $CONNS $what ($held open when measured) | $held_rss | $held_heap | $held_total | $held_external |"
awk -v a="$idle_rss" -v b="$held_rss" -v c="$idle_heap" -v d="$held_heap" -v n="$CONNS" \
  'BEGIN { printf "| per connection | %.0f B | %.0f B |\n", (b - a) * 1048576 / n, (d - c) * 1048576 / n }'
