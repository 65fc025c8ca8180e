#!/usr/bin/env bash
# h2.sh: HTTP/2 clients side by side. h2load (Debian's nghttp2-client) speaks h2 over TLS
# (ALPN) to tapgate and to HAProxy (nbthread 1, `bind ... ssl crt ... alpn h2,http/1.1`),
# both proxying to the same nginx origin, over HTTP/1.1 and (the "h2 backend" rows, as
# gRPC services are reached) over cleartext HTTP/2; nginx serving h2 itself is the
# ceiling of the load side. tapgate runs its default configuration (one worker process,
# the access log to a file, X-Forwarded-* added) against HAProxy as usually run (`option
# httplog` to a UDP syslog sink, `option forwardfor`), and tuned (`workers: 0`, no access
# log, no X-Forwarded-*) against plain HAProxy. Standalone: it needs only h2load, haproxy,
# nginx, openssl, python3 and taskset (as root, missing ones are installed with apt-get).
#
# The proxy under test is pinned to the last core; h2load and nginx share the others.
# Each target and scenario runs REPS times (default 3); the run with the median req/s is
# reported, with the CPU time its processes used per request (/proc/PID/stat).
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
H2C_PORT=$((BASE + 4))
SYSLOG_PORT=$((BASE + 5))

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
need python3 python3

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
    listen 127.0.0.1:$H2C_PORT http2;
    http2_max_concurrent_streams 128;
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

# tapgate: the default configuration (workers left out, access log to a file, X-Forwarded-*
# on) or tuned; its backend speaks HTTP/1.1 or h2c to nginx.
tapgate_config() {
  local tuned=$1 proto=$2 port=$ORIGIN_PORT
  [ "$proto" = h2 ] && port=$H2C_PORT
  if [ "$tuned" = 1 ]; then
    printf 'workers: 0\nlog: { level: warn, access: false }\n'
  else
    printf 'log: { level: warn, access: %s }\n' "$WORK/access.log"
  fi
  cat <<EOF
frontends:
  bench:
    bind: 127.0.0.1:$TAPGATE_PORT
    default_backend: origin
    limits: { h2_max_concurrent_streams: 128 }
    tls:
      certificates: [{ cert: $WORK/cert.pem, key: $WORK/key.pem }]
EOF
  [ "$tuned" = 1 ] && echo "    forwarded: { xff: false, proto_host: false }"
  cat <<EOF
backends:
  origin:
    protocol: $proto
    servers: [{ name: nginx, address: 127.0.0.1:$port }]
EOF
}

# HAProxy plain, or as usually run (every request logged to a syslog sink, forwardfor).
haproxy_config() {
  local used=$1 proto=$2 port=$ORIGIN_PORT server_opts=""
  [ "$proto" = h2 ] && port=$H2C_PORT server_opts=" proto h2"
  echo "global"
  echo "  nbthread 1"
  echo "  maxconn 4000"
  echo "  tune.h2.max-concurrent-streams 128"
  [ "$used" = 1 ] && echo "  log 127.0.0.1:$SYSLOG_PORT local0"
  cat <<EOF
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse safe
EOF
  [ "$used" = 1 ] && printf '  log global\n  option httplog\n  option forwardfor\n'
  cat <<EOF
frontend bench
  bind 127.0.0.1:$HAPROXY_PORT ssl crt $WORK/combined.pem alpn h2,http/1.1
  default_backend origin
backend origin
  server nginx 127.0.0.1:$port$server_opts
EOF
}

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
# HAProxy's log lines go here and are dropped (a syslog daemon's receiving, without its disk).
taskset -c "$LOAD_CPUS" python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', $SYSLOG_PORT))
while True: s.recv(65536)" &
PIDS+=($!)

# CPU ticks (utime + stime) of a process and its descendants.
tree_ticks() {
  local t=0 p
  for p in $(pstree -p -T "$1" | grep -o '([0-9]*)' | tr -d '()'); do
    t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo $t
}

# One h2load run against `port` while `pid` (empty: not measured) serves: prints
# "req/s mean_ms cpu_us_per_request" (the CPU of the warm-up and the run, over their requests at the measured rate).
measure() {
  local port=$1 path=$2 pid=$3 out c0=0 c1=0
  [ -n "$pid" ] && c0=$(tree_ticks "$pid")
  out=$(taskset -c "$LOAD_CPUS" h2load -c "$CLIENTS" -m "$STREAMS" -t 1 -D "$DURATION" --warm-up-time="$WARMUP" "https://127.0.0.1:$port$path" 2>&1) || { echo "$out" >&2; die "h2load failed against port $port"; }
  [ -n "$pid" ] && c1=$(tree_ticks "$pid")
  grep -q 'Application protocol: h2' <<<"$out" || die "port $port did not agree on h2"
  local rps mean failed cpu=-
  rps=$(awk '/^finished in/ { print $4 }' <<<"$out")
  mean=$(awk '/^time for request:/ { print $6 }' <<<"$out")
  failed=$(awk '/^requests:/ { print $10 }' <<<"$out")
  [ "${failed:-0}" = 0 ] || log "port $port: $failed requests failed"
  [ -n "$pid" ] && cpu=$(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v r="$rps" -v d="$DURATION" -v w="$WARMUP" 'BEGIN { printf "%.1f", t / hz * 1e6 / (r * (d + w)) }')
  echo "$rps $mean $cpu"
}

# A target: its name, the scenarios it runs, its port, and how to start it (pinned to the
# proxy core); "-" for nginx, already up.
declare -A RESULT
run_target() {
  local name=$1 scenarios=$2 port=$3
  shift 3
  local pid=""
  if [ "$1" != - ]; then
    taskset -c "$PROXY_CPU" "$@" >"$WORK/${name//[ ,]/-}.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
  fi
  wait_port "$port"
  for scenario in $scenarios; do
    local path=/ runs=()
    [ "$scenario" = 64k ] && path=/64k.txt
    for rep in $(seq 1 "$REPS"); do
      read -r rps mean cpu < <(measure "$port" "$path" "$pid")
      log "$name $scenario run $rep: $rps req/s, mean $mean, $cpu µs CPU/req"
      runs+=("$rps $mean $cpu")
    done
    # The median run by req/s: its mean time per request and CPU per request.
    RESULT[$name,$scenario]=$(printf '%s\n' "${runs[@]}" | sort -n | awk '{ r[NR] = $1; m[NR] = $2; c[NR] = $3 } END { i = int((NR + 1) / 2); print r[i] " | " m[i] " | " c[i] }')
  done
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    # The next target takes the same port.
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break; sleep 0.1; done
  fi
}

for proto in h1 h2; do
  tapgate_config 0 $proto >"$WORK/tapgate-default-$proto.yaml"
  tapgate_config 1 $proto >"$WORK/tapgate-tuned-$proto.yaml"
  haproxy_config 1 $proto >"$WORK/haproxy-used-$proto.cfg"
  haproxy_config 0 $proto >"$WORK/haproxy-$proto.cfg"
done
TARGETS=()
run_target "nginx h2 (origin, ceiling)" "small 64k" "$NGINX_H2_PORT" -
# Through an HTTP/1.1 backend: small and 64 KiB answers; through an h2 backend: small ones.
for proto in h1 h2; do
  scenarios="small 64k"
  [ $proto = h2 ] && scenarios=small
  for t in "HAProxy as usually run|haproxy -f $WORK/haproxy-used-$proto.cfg|$HAPROXY_PORT" \
    "tapgate, default configuration|node bin/tapgate.mjs run -c $WORK/tapgate-default-$proto.yaml|$TAPGATE_PORT" \
    "HAProxy|haproxy -f $WORK/haproxy-$proto.cfg|$HAPROXY_PORT" \
    "tapgate tuned|node bin/tapgate.mjs run -c $WORK/tapgate-tuned-$proto.yaml|$TAPGATE_PORT"; do
    IFS='|' read -r name cmd port <<<"$t"
    TARGETS+=("$name, $proto backend")
    # shellcheck disable=SC2086
    run_target "$name, $proto backend" "$scenarios" "$port" $cmd
  done
done

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git status --porcelain -- core plugins sdk bin package.json 2>/dev/null)" ] || commit+="+uncommitted"
# A ratio of two results' fields (1: req/s, 3: CPU per request), tapgate's over HAProxy's
# for req/s and HAProxy's over tapgate's for CPU: above 1, tapgate does better.
ratio() {
  local t=${RESULT[$1]:-} h=${RESULT[$2]:-}
  [ -n "$t" ] && [ -n "$h" ] || { echo "n/a"; return; }
  awk -v t="$t" -v h="$h" 'BEGIN { split(t, a, / \| /); split(h, b, / \| /); if (a[3] + 0 > 0) printf "%.2f× by req/s, %.2f× by CPU a request", a[1] / b[1], b[3] / a[3]; else printf "%.2f× by req/s", a[1] / b[1] }'
}
mkdir -p bench/results
{
  echo "# HTTP/2 clients: tapgate and HAProxy, h2 over TLS to the proxy, HTTP/1.1 or h2c to nginx"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), commit $commit, $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), node $(node -v), $(haproxy -v | head -1 | awk '{ print $1, $3 }'), nginx $(nginx -v 2>&1 | sed 's|.*/||'), $(h2load --version | head -1)."
  echo
  echo "h2load -c $CLIENTS -m $STREAMS -t 1 -D $DURATION --warm-up-time=$WARMUP over TLS (ALPN h2); the proxy pinned to core $PROXY_CPU, h2load and nginx (1 worker) on cores $LOAD_CPUS. The run with the median req/s of $REPS: its mean time per request (h2load's) and the CPU its processes used per request (/proc/PID/stat, over the warm-up and the run). tapgate default: its default configuration (one worker process, access log to a file, X-Forwarded-*); HAProxy as usually run: nbthread 1, \`option httplog\` to a UDP syslog sink, \`option forwardfor\`; tuned: tapgate \`workers: 0\` without access log and X-Forwarded-*, against plain HAProxy. \"h2 backend\": the proxy speaks cleartext HTTP/2 (h2c) to nginx, as to a gRPC service (HAProxy \`proto h2\`, tapgate \`protocol: h2\`)."
  echo
  echo "Load average before the runs: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg). Anything else running on the machine (above about 1 before the runs) makes every figure here noisy: compare the rows of one run, not runs with each other."
  echo
  echo "| target | GET 22 B: req/s | mean | µs CPU/req | GET 64 KiB: req/s | mean | µs CPU/req |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  for t in "${TARGETS[@]}" "nginx h2 (origin, ceiling)"; do
    echo "| $t | ${RESULT[$t,small]:-— | — | —} | ${RESULT[$t,64k]:-— | — | —} |"
  done
  echo
  echo "Ratios, tapgate against HAProxy (issue 24's target: 0.6×, small answers):"
  echo
  for proto in h1 h2; do
    echo "- $proto backend, default configuration against HAProxy as usually run: $(ratio "tapgate, default configuration, $proto backend,small" "HAProxy as usually run, $proto backend,small"); tuned against plain HAProxy: $(ratio "tapgate tuned, $proto backend,small" "HAProxy, $proto backend,small")"
  done
} >bench/results/h2.md
log "results in bench/results/h2.md"
cat bench/results/h2.md
