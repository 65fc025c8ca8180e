#!/usr/bin/env bash
# idle-memory.sh: a worker's memory idle and holding idle keep-alive connections.
#
# The worker is the prebundled worker file (what `workers: N` runs), served alone on the
# default configuration (access log to a file, X-Forwarded-* on) in front of one nginx
# origin. It is measured idle, then holding CONNS connections that each made one request
# and stay open: RSS from /proc, and V8's heap after a full GC (node --expose-gc; SIGWINCH
# asks for the figures). Two figures per line: RSS, and heap used.
#
# Usage
#   bash bench/idle-memory.sh            # CONNS=10000
#   CONNS=2000 bash bench/idle-memory.sh
#
# Needs nginx; the open-file limit must allow CONNS connections twice (both ends are here).

set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CONNS=${CONNS:-10000}
WORK=$(mkdir -p "$ROOT/.bench-work/idle-memory" && cd "$ROOT/.bench-work/idle-memory" && pwd)
ORIGIN=18550
PORT=18551
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
  bench: { bind: 127.0.0.1:$PORT, default_backend: o }
backends:
  o: { servers: [{ name: o1, address: 127.0.0.1:$ORIGIN }] }
EOF
cat >"$WORK/probe.mjs" <<'EOF'
import { writeFileSync } from 'node:fs';
process.on('SIGWINCH', () => {
  globalThis.gc(); globalThis.gc();
  const m = process.memoryUsage();
  writeFileSync(process.env.PROBE_OUT, `${(m.rss / 1048576).toFixed(1)} ${(m.heapUsed / 1048576).toFixed(1)}\n`);
});
EOF
cat >"$WORK/clients.mjs" <<'EOF'
import net from 'node:net';
const [port, n] = [Number(process.argv[2]), Number(process.argv[3])];
const sockets = [];
for (let i = 0; i < n; i += 200)
  await Promise.all(Array.from({ length: Math.min(200, n - i) }, () => new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
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
const b = await bundleWorker('./entry/worker.ts');
console.log(b.exec, b.env.TAPGATE_SDK_FILE);
EOF

wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; echo "nothing listens on $1" >&2; exit 1; }
figures() { rm -f "$WORK/probe.out"; kill -WINCH "$1"; for _ in $(seq 50); do [ -s "$WORK/probe.out" ] && break; sleep 0.1; done; cat "$WORK/probe.out"; }

nginx -c "$WORK/nginx.conf"
read -r EXEC SDK < <(node --import tsx "$WORK/bundle.mts")
TAPGATE_ROOT=$ROOT TAPGATE_CONFIG=$WORK/tapgate.yaml TAPGATE_GENERATION=1 TAPGATE_SDK_FILE=$SDK PROBE_OUT=$WORK/probe.out \
  node --expose-gc --import "$WORK/probe.mjs" "$EXEC" >"$WORK/worker.log" 2>&1 &
WORKER=$!
PIDS+=("$WORKER")
wait_port $PORT
read -r idle_rss idle_heap < <(figures "$WORKER")

rm -f "$WORK/fifo" && mkfifo "$WORK/fifo"
node "$WORK/clients.mjs" $PORT "$CONNS" <"$WORK/fifo" >"$WORK/clients.out" 2>&1 &
PIDS+=($!)
exec 7>"$WORK/fifo"
for _ in $(seq 600); do grep -q open "$WORK/clients.out" 2>/dev/null && break; sleep 0.1; done
grep -q open "$WORK/clients.out" || { cat "$WORK/clients.out" >&2; exit 1; }
read -r held_rss held_heap < <(figures "$WORKER")
echo x >&7

echo "| worker | RSS MB | V8 heap used MB |"
echo "| --- | ---: | ---: |"
echo "| idle | $idle_rss | $idle_heap |"
echo "| holding $CONNS idle keep-alive connections | $held_rss | $held_heap |"
awk -v a="$idle_rss" -v b="$held_rss" -v c="$idle_heap" -v d="$held_heap" -v n="$CONNS" \
  'BEGIN { printf "| per connection | %.0f B | %.0f B |\n", (b - a) * 1048576 / n, (d - c) * 1048576 / n }'
