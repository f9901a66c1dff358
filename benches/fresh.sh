#!/usr/bin/env bash
# SDK-like traffic, every request freshly signed (issue 15): COUNT distinct signed GETs for 256
# keys (benches/fresh_heads.rs: SigV4 header-signed, SigV4 presigned, COS header-signed, with
# boto3's headers), sent by wrk over 16 keep-alive connections to:
#   direct        nginx serving the object itself
#   nginx         nginx proxy_pass to that origin (upstream keepalive 64; verifies nothing)
#   sigtap-human  sigtap verifying, diagnosing, re-signing (for the upstream host) and logging
#                 every request, human log to /dev/null
#   sigtap-json   the same, JSON log to /dev/null
#   mitmproxy     mitmproxy 11.0.2 in reverse mode
# One proxy process per (target, round): no head is ever repeated within a sigtap's lifetime (the
# run fails if wrk had to wrap around the heads for a sigtap target, or if any answer is not
# 2xx), so its per-connection memo never answers. CPU per request = the target's processes'
# user+system time (from /proc) / requests. Best of ROUNDS by throughput.
#
#   benches/fresh.sh [SECONDS] [ROUNDS] [CONNECTIONS] [VARIANTS...]
#       defaults: 5 3 16 v4-header v4-presigned cos-header
#
# Needs: nginx and wrk (apt-get install -y nginx-light wrk); mitmproxy is installed into
# target/tools/bench on first use. SIGTAP_BENCH_TARGETS="sigtap-json nginx" picks targets;
# SIGTAP_BENCH_ARGS="--threads 1" adds options to every sigtap started. SIGTAP_BENCH_DELAY_MS=N
# paces each connection (wrk's delay(): N ms between an answer and the next request), for
# latency at a rate below capacity; the p50/p99 columns are wrk's (--latency).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-5}; ROUNDS=${2:-3}; CONNS=${3:-16}; shift $(( $# < 3 ? $# : 3 ))
VARIANTS=("$@"); [ ${#VARIANTS[@]} -eq 0 ] && VARIANTS=(v4-header v4-presigned cos-header)
TARGETS=(${SIGTAP_BENCH_TARGETS:-direct nginx sigtap-human sigtap-json mitmproxy})
COUNT=${SIGTAP_BENCH_HEADS:-400000}
command -v nginx >/dev/null && command -v wrk >/dev/null || { echo "needs nginx and wrk: apt-get install -y nginx-light wrk" >&2; exit 2; }
TOOLS=target/tools
if [[ " ${TARGETS[*]} " == *" mitmproxy "* ]] && [ ! -x "$TOOLS/bench/bin/mitmdump" ]; then
  echo "bench: installing mitmproxy 11.0.2 into $TOOLS/bench" >&2
  python3 -m venv "$TOOLS/bench" && "$TOOLS/bench/bin/pip" install -q mitmproxy==11.0.2
fi
cargo build -q --release
cargo bench -q --bench fresh_heads --no-run 2>/dev/null
GEN() { cargo bench -q --bench fresh_heads -- "$@" 2>/dev/null; }
BIN=target/release/sigtap
W=$(mktemp -d)
trap 'kill $(cat "$W"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$W"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
ORIGIN=$(port); NPROXY=$(port); MITM=$(port); SIG=$(port)
mkdir -p "$W/www" "$W/tmp"
head -c 1024 /dev/urandom > "$W/www/obj"
chmod -R a+rwX "$W"
nginx_conf() {  # NAME SERVER-BLOCK
  cat > "$W/$1.conf" <<CONF
worker_processes 1;
daemon off;
pid $W/$1.pid;
error_log $W/$1-error.log;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 10000000; client_body_temp_path $W/tmp; $2 }
CONF
}
nginx_conf origin "server { listen 127.0.0.1:$ORIGIN; root $W/www; location / { try_files /obj =404; } }"
nginx_conf nproxy "upstream origin { server 127.0.0.1:$ORIGIN; keepalive 64; } server { listen 127.0.0.1:$NPROXY; location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"
nginx -c "$W/origin.conf" -p "$W" &
nginx -c "$W/nproxy.conf" -p "$W" &
if [[ " ${TARGETS[*]} " == *" mitmproxy "* ]]; then
  "$TOOLS/bench/bin/mitmdump" -q --mode "reverse:http://127.0.0.1:$ORIGIN" --listen-host 127.0.0.1 --listen-port "$MITM" > /dev/null 2>&1 &
  echo $! > "$W/mitm.pid"; wait_port "$MITM"
fi
wait_port "$ORIGIN"; wait_port "$NPROXY"
GEN keys 256 "$W/keys.ini"
cat > "$W/heads.lua" <<'LUA'
local file, nthreads = os.getenv("HEADS"), tonumber(os.getenv("WRK_THREADS"))
local counter, threads = 0, {}
function setup(thread)
  thread:set("tid", counter); counter = counter + 1; table.insert(threads, thread)
end
function init(args)
  reqs, i, wrapped = {}, 0, 0
  local n = 0
  for line in io.lines(file) do
    if n % nthreads == tid then reqs[#reqs + 1] = (line:gsub("\t", "\r\n")) .. "\r\n\r\n" end
    n = n + 1
  end
end
function request()
  i = i + 1
  if i > #reqs then i = 1; wrapped = wrapped + 1 end
  return reqs[i]
end
local pace = tonumber(os.getenv("DELAY_MS") or "0")
if pace > 0 then
  function delay() return pace end
end
function done(summary, latency, requests)
  local w = 0
  for _, t in ipairs(threads) do w = w + t:get("wrapped") end
  io.write(string.format("wrapped %d\n", w))
end
LUA
# CPU ticks of a process and its children (nginx: master and workers)
ticks() { local t=0; for p in "$@" $(pgrep -P "$1" || true); do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
start_sigtap() {  # FORMAT
  "$BIN" proxy --upstream "http://127.0.0.1:$ORIGIN" --listen "127.0.0.1:$SIG" --credentials "$W/keys.ini" \
    --log-format "$1" --log-file /dev/null ${SIGTAP_BENCH_ARGS:-} > /dev/null 2>&1 &
  echo $! > "$W/sigtap.pid"; wait_port "$SIG"
}
echo "machine: $(nproc) cores; sigtap $("$BIN" --version | cut -d' ' -f2) (release, $(git rev-parse --short HEAD 2>/dev/null || echo '?')), nginx $(nginx -v 2>&1 | cut -d/ -f2); wrk -t2 -c$CONNS -d${DUR}s, best of $ROUNDS; $COUNT distinct heads per variant, 256 keys"
echo
echo "| variant | target | req/s | CPU µs per request | req/s vs nginx proxy_pass | CPU vs nginx proxy_pass | p50 ms | p99 ms |"
echo "|---|---|---|---|---|---|---|---|"
for variant in "${VARIANTS[@]}"; do
  GEN "$variant" "127.0.0.1:$SIG" "$COUNT" 256 "$(date +%s)" "$W/heads.txt"
  declare -A BEST=() CPU=() P50=() P99=()
  for _ in $(seq "$ROUNDS"); do
    for target in "${TARGETS[@]}"; do
      case $target in
        direct) addr=$ORIGIN; pid=$(cat "$W/origin.pid") ;;
        nginx) addr=$NPROXY; pid=$(cat "$W/nproxy.pid") ;;
        mitmproxy) addr=$MITM; pid=$(cat "$W/mitm.pid") ;;
        sigtap-human|sigtap-json) start_sigtap "${target#sigtap-}"; addr=$SIG; pid=$(cat "$W/sigtap.pid") ;;
      esac
      t0=$(ticks "$pid")
      out=$(HEADS="$W/heads.txt" WRK_THREADS=2 DELAY_MS="${SIGTAP_BENCH_DELAY_MS:-0}" wrk -t2 -c"$CONNS" -d"${DUR}s" --latency -s "$W/heads.lua" "http://127.0.0.1:$addr/")
      t1=$(ticks "$pid")
      if [[ $target == sigtap-* ]]; then kill "$pid"; wait "$pid" 2>/dev/null || true; fi
      n=$(echo "$out" | awk '/requests in/ {print $1}')
      rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
      bad=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
      wrapped=$(echo "$out" | awk '/^wrapped/ {print $2}')
      if [ -n "$bad" ]; then echo "error: $variant $target: $bad answers were not 2xx" >&2; exit 1; fi
      if [[ $target == sigtap-* ]] && [ "${wrapped:-0}" != 0 ]; then
        echo "error: $variant $target: wrk ran out of distinct heads (raise SIGTAP_BENCH_HEADS)" >&2; exit 1
      fi
      cpu=$(python3 -c "print('%.1f' % (($t1-$t0)/$(getconf CLK_TCK)*1e6/max($n,1)))")
      ms() { echo "$out" | awk -v q="$1" '$1 == q {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.3f", v}'; }
      if python3 -c "import sys; sys.exit(0 if float('$rps') > float('${BEST[$target]:-0}') else 1)"; then
        BEST[$target]=$rps; CPU[$target]=$cpu; P50[$target]=$(ms 50%); P99[$target]=$(ms 99%)
      fi
    done
  done
  for target in "${TARGETS[@]}"; do
    ratio() { [ -n "${2:-}" ] && python3 -c "print('%.2fx' % (float('$1')/float('$2')))" || echo "-"; }
    echo "| $variant | $target | ${BEST[$target]} | ${CPU[$target]} | $(ratio "${BEST[$target]}" "${BEST[nginx]:-}") | $(ratio "${CPU[$target]}" "${CPU[nginx]:-}") | ${P50[$target]} | ${P99[$target]} |"
  done
  unset BEST CPU P50 P99
done
