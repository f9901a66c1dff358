#!/usr/bin/env bash
# Side-by-side small-request benchmark, one run, one machine: 1 KiB GET and PUT over keep-alive
# connections, directly to nginx, through sigtap (verify + re-sign every request, per-request
# log on in its default human format, redirected to a file), through nginx proxy_pass (no
# verification; upstream keepalive 64) and through mitmproxy in reverse mode. GET runs twice
# more with 512 rotating presigned URLs (sigtap's per-connection memo never hits: the cost of
# SDK-like traffic where every signature is new), through nginx and sigtap; their ratio is to
# nginx with the same rotating script. Prints a
# markdown table of throughput (best of ROUNDS) and wrk's p50/p99, then the added latency at a
# fixed rate (half of direct's best throughput, oha -q) at 16 connections.
#
#   benches/compare.sh [SECONDS] [ROUNDS]        (defaults: 8 2)
#
# Needs: a release build; nginx and wrk (apt-get install -y nginx-light wrk); mitmproxy and oha
# (installed on first use into target/tools/bench and target/tools/oha).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-8}
ROUNDS=${2:-2}
BIN=${SIGTAP_BIN:-target/release/sigtap}
TOOLS=target/tools
[ -x "$BIN" ] || cargo build --release --quiet
command -v nginx >/dev/null && command -v wrk >/dev/null || { echo "needs nginx and wrk: apt-get install -y nginx-light wrk" >&2; exit 2; }
if [ ! -x "$TOOLS/bench/bin/mitmdump" ]; then
  echo "bench: installing mitmproxy 11.0.2 into $TOOLS/bench" >&2
  python3 -m venv "$TOOLS/bench" && "$TOOLS/bench/bin/pip" install -q mitmproxy==11.0.2
fi
if [ ! -x "$TOOLS/oha/bin/oha" ]; then
  echo "bench: building oha 1.4.6 into $TOOLS/oha (a few minutes, once)" >&2
  cargo install oha --version 1.4.6 --locked --quiet --root "$TOOLS/oha"
fi
W=$(mktemp -d)
trap 'kill $(cat "$W"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$W"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ORIGIN=$(port); NPROXY=$(port); MITM=$(port)
mkdir -p "$W/www/bucket" "$W/tmp"
head -c 1024 /dev/urandom > "$W/www/bucket/obj"
head -c 1024 /dev/urandom > "$W/body"
chmod -R a+rwX "$W"  # nginx workers run unprivileged and store PUTs
cat > "$W/nginx.conf" <<CONF
worker_processes auto;
daemon off;
pid $W/nginx.pid;
error_log $W/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $W/tmp;
  upstream origin { server 127.0.0.1:$ORIGIN; keepalive 64; }
  server { listen 127.0.0.1:$ORIGIN; root $W/www; location / { dav_methods PUT; } }
  server { listen 127.0.0.1:$NPROXY; location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
CONF
nginx -c "$W/nginx.conf" -p "$W" &
AK=AKIDBENCH00000000001 SK=bEnChSeCrEt/K7MDENG+bPxRfiCYEXAMPLEKEY
"$BIN" proxy --upstream "http://127.0.0.1:$ORIGIN" --port 0 --access-key $AK --secret-key $SK > "$W/sigtap.log" 2>/dev/null &
echo $! > "$W/sigtap.pid"
"$TOOLS/bench/bin/mitmdump" -q --mode "reverse:http://127.0.0.1:$ORIGIN" --listen-host 127.0.0.1 --listen-port "$MITM" > /dev/null 2>&1 &
echo $! > "$W/mitm.pid"
for _ in $(seq 100); do [ -s "$W/sigtap.log" ] && python3 -c "import socket; socket.create_connection(('127.0.0.1',$MITM))" 2>/dev/null && break; sleep 0.1; done
SADDR=$(head -n1 "$W/sigtap.log")
GETURL=$("$BIN" presign --scheme sigv4 --region us-east-1 --expires 3600 --access-key $AK --secret-key $SK "http://$SADDR/bucket/obj")
PUTURL=$(printf 'PUT /bucket/put-obj HTTP/1.1\r\nHost: %s\r\n\r\n' "$SADDR" | "$BIN" presign --scheme sigv4 --region us-east-1 --expires 3600 --access-key $AK --secret-key $SK -)
cat > "$W/put.lua" <<LUA
wrk.method = "PUT"
local f = io.open("$W/body", "rb"); wrk.body = f:read("*a"); f:close()
LUA
sigpath() { echo "/${1#*://*/}"; }
# rotating URLs: 512 presigned GETs of the same object (the query differs), taken in turn, so no
# connection sends the same head twice in a row and sigtap's memo never answers (every request
# is verified and re-signed from scratch, as SDK traffic is). nginx gets the same script.
for i in $(seq 512); do sigpath "$("$BIN" presign --scheme sigv4 --region us-east-1 --expires 3600 --access-key $AK --secret-key $SK "http://$SADDR/bucket/obj?n=$i")"; done > "$W/rotating.txt"
cat > "$W/rotate.lua" <<LUA
local paths = {}
for line in io.lines("$W/rotating.txt") do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
LUA
declare -A URL=(
  [direct]="http://127.0.0.1:$ORIGIN"
  [sigtap]="http://$SADDR"
  [nginx-proxy]="http://127.0.0.1:$NPROXY"
  [mitmproxy]="http://127.0.0.1:$MITM"
  [nginx-proxy-rotating]="http://127.0.0.1:$NPROXY"
  [sigtap-rotating]="http://$SADDR"
)
path_for() { # path_for TARGET METHOD
  if [ "$1" = sigtap ]; then
    if [ "$2" = GET ]; then sigpath "$GETURL"; else sigpath "$PUTURL"; fi
  elif [ "$2" = GET ]; then echo /bucket/obj; else echo /bucket/put-obj; fi
}
run_wrk() { # run_wrk URL METHOD CONNS -> "rps p50 p99 errors"
  local threads=2 script=()
  [ "$3" = 1 ] && threads=1
  [ "$2" = PUT ] && script=(-s "$W/put.lua")
  [ "${4:-}" = rotating ] && script=(-s "$W/rotate.lua")
  local out
  out=$(wrk -t$threads -c"$3" -d"${DUR}s" --latency "${script[@]}" "$1")
  echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') $(echo "$out" | awk '$1=="50%" {print $2}') $(echo "$out" | awk '$1=="99%" {print $2}') $(echo "$out" | awk '/Non-2xx|Socket errors/ {printf "%s ", $0}')"
}
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "versions: sigtap $("$BIN" --version | cut -d' ' -f2) (release), nginx $(nginx -v 2>&1 | cut -d/ -f2), mitmproxy $("$TOOLS/bench/bin/mitmdump" --version 2>/dev/null | awk '/Mitmproxy/ {print $2}'), wrk -d${DUR}s, best of $ROUNDS"
echo
echo "| request | conns | target | req/s (best) | ratio to nginx proxy_pass | p50 | p99 | errors |"
echo "|---|---|---|---|---|---|---|---|"
declare -A BEST
for method in GET PUT; do
  for conns in 1 16 64; do
    targets="direct nginx-proxy sigtap mitmproxy"
    [ $method = GET ] && targets="$targets nginx-proxy-rotating sigtap-rotating"
    for target in $targets; do
      best=0; line=""
      for _ in $(seq "$ROUNDS"); do
        r=$(run_wrk "${URL[$target]}$(path_for $target $method)" $method $conns "${target##*-}")
        rps=${r%% *}
        if python3 -c "import sys; sys.exit(0 if float('$rps' or 0) > float('$best') else 1)"; then best=$rps; line=$r; fi
      done
      BEST[$method$conns$target]=$best
      read -r rps p50 p99 errs <<< "$line"
      base=nginx-proxy; [ "$target" = sigtap-rotating ] && base=nginx-proxy-rotating
      ratio=$(python3 -c "b=float('${BEST[$method${conns}$base]:-0}' or 0); print('%.2fx' % (float('$best')/b) if b else '-')")
      echo "| $method 1 KiB | $conns | $target | $best | $ratio | $p50 | $p99 | ${errs:-0} |"
    done
  done
done
echo
# added latency at fixed rates, 16 connections: half of direct's best GET throughput (as the
# target asks; a proxy slower than that rate queues), and half of the slower proxy's best
RATE_D=$(python3 -c "print(int(float('${BEST[GET16direct]}')/2))")
RATE_P=$(python3 -c "print(int(min(float('${BEST[GET16sigtap]}'), float('${BEST[GET16nginx-proxy]}'))/2))")
for RATE in $RATE_D $RATE_P; do
echo "fixed-rate latency, GET, 16 connections, $RATE req/s for ${DUR}s (oha -q, latency corrected):"
echo
echo "| target | p50 | p99 | p99 minus direct |"
echo "|---|---|---|---|"
for target in direct nginx-proxy sigtap mitmproxy; do
  out=$("$TOOLS/oha/bin/oha" --no-tui -j -c 16 -q "$RATE" -z "${DUR}s" --latency-correction "${URL[$target]}$(path_for $target GET)" 2>/dev/null || true)
  p50=$(echo "$out" | python3 -c "import json,sys; d=json.load(sys.stdin); print('%.3f' % (d['latencyPercentiles']['p50']*1000))" 2>/dev/null || echo "?")
  p99=$(echo "$out" | python3 -c "import json,sys; d=json.load(sys.stdin); print('%.3f' % (d['latencyPercentiles']['p99']*1000))" 2>/dev/null || echo "?")
  [ "$target" = direct ] && D99=$p99
  added=$(python3 -c "print('%+.3f ms' % (float('$p99')-float('$D99')))" 2>/dev/null || echo "?")
  echo "| $target | $p50 ms | $p99 ms | $added |"
done
echo
done
echo "sigtap: $(wc -l < "$W/sigtap.log") log lines written; peak RSS $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' /proc/"$(cat "$W/sigtap.pid")"/status)"
