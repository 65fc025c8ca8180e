#!/usr/bin/env bash
# h2.sh: HTTP/2 clients side by side. h2load (Debian's nghttp2-client) speaks h2 over TLS
# (ALPN) to tapgate (one in-process worker) and to HAProxy (nbthread 1, `bind ... ssl crt
# ... alpn h2,http/1.1`), both proxying HTTP/1.1 to the same nginx origin; nginx serving
# h2 itself is the ceiling of the load side. Standalone: it needs only h2load, haproxy,
# nginx, openssl and taskset (as root, missing ones are installed with apt-get).
#
# The proxy under test is pinned to the last core; h2load and nginx share the others.
# Each target and scenario runs REPS times (default 3); the median req/s is reported.
#
# Usage
#   bash bench/h2.sh                     # writes bench/results/h2.md
#   DURATION=5 REPS=1 bash bench/h2.sh   # a quick look
#
# Environment
#   DURATION      seconds measured per run (default 8), after WARMUP (default 2)
#   REPS          runs per target and scenario (default 3)
#   CLIENTS       h2load -c: connections (default 16)
#   STREAMS       h2load -m: concurrent streams per connection (default 10)
#   PORT_BASE     first of the ports used on 127.0.0.1 (default 18400)

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-2}
REPS=${REPS:-3}
CLIENTS=${CLIENTS:-16}
STREAMS=${STREAMS:-10}
BASE=${PORT_BASE:-18400}
ORIGIN_PORT=$BASE
NGINX_H2_PORT=$((BASE + 1))
TAPGATE_PORT=$((BASE + 2))
HAPROXY_PORT=$((BASE + 3))

log() { printf '[h2 bench] %s\n' "$*" >&2; }
die() { printf '[h2 bench] error: %s\n' "$*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null && return
  if [ "$(id -u)" = 0 ]; then
    log "installing $2"
    apt-get install -y "$2" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y "$2" >/dev/null; }
  else
    die "$1 is missing: apt-get install $2"
  fi
}
need h2load nghttp2-client
need haproxy haproxy
need nginx nginx
need openssl openssl

CPUS=$(nproc)
[ "$CPUS" -ge 2 ] || die "needs at least 2 cores (one for the proxy, the rest for h2load and nginx)"
PROXY_CPU=$((CPUS - 1))
LOAD_CPUS=0-$((CPUS - 2))

WORK=$(mkdir -p "$ROOT/.bench-work/h2" && cd "$ROOT/.bench-work/h2" && pwd)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -days 2 >/dev/null 2>&1
cat "$WORK/cert.pem" "$WORK/key.pem" >"$WORK/combined.pem"
head -c 65536 /dev/zero | tr '\0' 'x' >"$WORK/64k.txt"
printf 'hello from the origin\n' >"$WORK/small.txt"

cat >"$WORK/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$ORIGIN_PORT;
    root $WORK;
    location = / { try_files /small.txt =404; }
  }
  server {
    listen 127.0.0.1:$NGINX_H2_PORT ssl http2;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    http2_max_concurrent_streams 128;
    root $WORK;
    location = / { try_files /small.txt =404; }
  }
}
EOF

cat >"$WORK/tapgate.yaml" <<EOF
workers: 0
log: { level: warn, access: false }
frontends:
  bench:
    bind: 127.0.0.1:$TAPGATE_PORT
    default_backend: origin
    forwarded: { xff: false, proto_host: false }
    limits: { h2_max_concurrent_streams: 128 }
    tls:
      certificates: [{ cert: $WORK/cert.pem, key: $WORK/key.pem }]
backends:
  origin:
    servers: [{ name: nginx, address: 127.0.0.1:$ORIGIN_PORT }]
EOF

cat >"$WORK/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 4000
  tune.h2.max-concurrent-streams 128
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse safe
frontend bench
  bind 127.0.0.1:$HAPROXY_PORT ssl crt $WORK/combined.pem alpn h2,http/1.1
  default_backend origin
backend origin
  server nginx 127.0.0.1:$ORIGIN_PORT
EOF

wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return
    sleep 0.1
  done
  die "nothing listens on port $1"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
taskset -c "$LOAD_CPUS" nginx -c "$WORK/nginx.conf" >"$WORK/nginx.log" 2>&1 &
PIDS+=($!)
wait_port "$ORIGIN_PORT"

# One h2load run: prints "req/s mean_ms".
measure() {
  local port=$1 path=$2 out
  out=$(taskset -c "$LOAD_CPUS" h2load -c "$CLIENTS" -m "$STREAMS" -t 1 -D "$DURATION" --warm-up-time="$WARMUP" "https://127.0.0.1:$port$path" 2>&1) || { echo "$out" >&2; die "h2load failed against port $port"; }
  grep -q 'Application protocol: h2' <<<"$out" || die "port $port did not agree on h2"
  local rps mean failed
  rps=$(awk '/^finished in/ { print $4 }' <<<"$out")
  mean=$(awk '/^time for request:/ { print $6 }' <<<"$out")
  failed=$(awk '/^requests:/ { print $10 }' <<<"$out")
  [ "${failed:-0}" = 0 ] || log "port $port: $failed requests failed"
  echo "$rps $mean"
}

# target name, its port, and how to start it (pinned to the proxy core); "-" for nginx, already up.
declare -A RESULT
run_target() {
  local name=$1 port=$2; shift 2
  local pid=""
  if [ "$1" != - ]; then
    taskset -c "$PROXY_CPU" "$@" >"$WORK/$name.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
  fi
  wait_port "$port"
  for scenario in small 64k; do
    local path=/ runs=()
    [ "$scenario" = 64k ] && path=/64k.txt
    for rep in $(seq 1 "$REPS"); do
      read -r rps mean < <(measure "$port" "$path")
      log "$name $scenario run $rep: $rps req/s, mean $mean"
      runs+=("$rps $mean")
    done
    # The median run by req/s, and its mean time per request.
    RESULT[$name,$scenario]=$(printf '%s\n' "${runs[@]}" | sort -n | awk '{ r[NR] = $1; m[NR] = $2 } END { i = int((NR + 1) / 2); print r[i] " | " m[i] }')
  done
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
}

run_target "nginx h2 (origin, ceiling)" "$NGINX_H2_PORT" -
run_target haproxy "$HAPROXY_PORT" haproxy -f "$WORK/haproxy.cfg"
run_target tapgate "$TAPGATE_PORT" node bin/tapgate.mjs run -c "$WORK/tapgate.yaml"

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git status --porcelain -- core plugins sdk bin package.json 2>/dev/null)" ] || commit+="+uncommitted"
mkdir -p bench/results
{
  echo "# HTTP/2 clients: tapgate and HAProxy, h2 over TLS to the proxy, HTTP/1.1 to nginx"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), commit $commit, $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), node $(node -v), $(haproxy -v | head -1 | awk '{ print $1, $3 }'), nginx $(nginx -v 2>&1 | sed 's|.*/||'), $(h2load --version | head -1)."
  echo
  echo "h2load -c $CLIENTS -m $STREAMS -t 1 -D $DURATION --warm-up-time=$WARMUP over TLS (ALPN h2); the proxy pinned to core $PROXY_CPU, h2load and nginx (1 worker) on cores $LOAD_CPUS. The run with the median req/s of $REPS; its mean time per request (h2load's). tapgate: one in-process worker (workers: 0), no access log, no X-Forwarded-*; HAProxy: nbthread 1, http-reuse safe."
  echo
  echo "Load average before the runs: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg). Anything else running on the machine (above about 1 before the runs) makes every figure here noisy: compare the rows of one run, not runs with each other."
  echo
  echo "| target | GET 22 B: req/s | mean | GET 64 KiB: req/s | mean |"
  echo "| --- | ---: | ---: | ---: | ---: |"
  for t in tapgate haproxy "nginx h2 (origin, ceiling)"; do
    echo "| $t | ${RESULT[$t,small]} | ${RESULT[$t,64k]} |"
  done
} >bench/results/h2.md
log "results in bench/results/h2.md"
cat bench/results/h2.md
