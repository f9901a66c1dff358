#!/usr/bin/env bash
# Before/after: two sigtap binaries, one after the other, in front of the same nginx origin, on
# the same requests; throughput (best of ROUNDS) and sigtap's CPU time per request, read from
# /proc (user + system). For a change to the proxy: is it any slower, or any hungrier?
#
#   benches/ab.sh BEFORE_BINARY AFTER_BINARY [SECONDS] [ROUNDS]      (defaults: 6 2)
#
# Requests (16 connections, keep-alive): GET of one presigned URL (the lean memo answers), GET
# of 512 rotating presigned URLs (every request verified and re-signed from scratch, as SDK
# traffic), PUT 1 KiB (a small body, read whole on the lean transport) and PUT 256 KiB (streamed
# through hyper). Needs nginx and wrk (apt-get install -y nginx-light wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
A=${1:?before binary}; B=${2:?after binary}; DUR=${3:-6}; ROUNDS=${4:-2}
command -v nginx >/dev/null && command -v wrk >/dev/null || { echo "needs nginx and wrk: apt-get install -y nginx-light wrk" >&2; exit 2; }
W=$(mktemp -d)
trap 'kill $(cat "$W"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$W"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ORIGIN=$(port)
mkdir -p "$W/www/bucket" "$W/tmp"
head -c 1024 /dev/urandom > "$W/www/bucket/obj"
head -c 1024 /dev/urandom > "$W/small"
head -c 262144 /dev/urandom > "$W/large"
chmod -R a+rwX "$W"
cat > "$W/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $W/nginx.pid;
error_log $W/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $W/tmp;
  client_max_body_size 1m;
  server { listen 127.0.0.1:$ORIGIN; root $W/www; location / { dav_methods PUT; } }
}
CONF
nginx -c "$W/nginx.conf" -p "$W" &
AK=AKIDBENCH00000000001 SK=bEnChSeCrEt/K7MDENG+bPxRfiCYEXAMPLEKEY
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
echo "machine: $(nproc) cores; $DUR s per run, best of $ROUNDS; sigtap CPU per request = (user+system) / requests"
echo
echo "| request | binary | req/s | CPU µs per request |"
echo "|---|---|---|---|"
for which in before after; do
  BIN=$A; [ $which = after ] && BIN=$B
  PORT=$(port)
  "$BIN" proxy --upstream "http://127.0.0.1:$ORIGIN" --port "$PORT" --access-key $AK --secret-key $SK > "$W/sigtap-$which.log" 2>/dev/null &
  echo $! > "$W/sigtap.pid"; PID=$(cat "$W/sigtap.pid")
  for _ in $(seq 100); do [ -s "$W/sigtap-$which.log" ] && break; sleep 0.1; done
  SADDR=127.0.0.1:$PORT
  pre() { "$BIN" presign --scheme sigv4 --region us-east-1 --expires 3600 --access-key $AK --secret-key $SK "$@"; }
  path() { echo "/${1#*://*/}"; }
  ONE=$(path "$(pre "http://$SADDR/bucket/obj")")
  for i in $(seq 512); do path "$(pre "http://$SADDR/bucket/obj?n=$i")"; done > "$W/rotating.txt"
  PUTS=$(path "$(printf 'PUT /bucket/small HTTP/1.1\r\nHost: %s\r\n\r\n' "$SADDR" | pre -)")
  PUTL=$(path "$(printf 'PUT /bucket/large HTTP/1.1\r\nHost: %s\r\n\r\n' "$SADDR" | pre -)")
  cat > "$W/rotate.lua" <<LUA
local paths = {}
for line in io.lines("$W/rotating.txt") do paths[#paths + 1] = line end
local i = 0
request = function() i = i + 1; return wrk.format("GET", paths[(i % #paths) + 1]) end
LUA
  for f in small large; do
    printf 'wrk.method = "PUT"\nlocal f = io.open("%s", "rb"); wrk.body = f:read("*a"); f:close()\n' "$W/$f" > "$W/put-$f.lua"
  done
  for req in "GET one URL" "GET rotating" "PUT 1 KiB" "PUT 256 KiB"; do
    case "$req" in
      "GET one URL") args=("http://$SADDR$ONE") ;;
      "GET rotating") args=(-s "$W/rotate.lua" "http://$SADDR/") ;;
      "PUT 1 KiB") args=(-s "$W/put-small.lua" "http://$SADDR$PUTS") ;;
      "PUT 256 KiB") args=(-s "$W/put-large.lua" "http://$SADDR$PUTL") ;;
    esac
    best=0; best_cpu=0
    for _ in $(seq "$ROUNDS"); do
      t0=$(cpu_ticks "$PID")
      out=$(wrk -t2 -c16 -d"${DUR}s" "${args[@]}")
      t1=$(cpu_ticks "$PID")
      n=$(echo "$out" | awk '/requests in/ {print $1}')
      rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
      bad=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
      [ -n "$bad" ] && echo "warning: $which $req: $bad non-2xx answers" >&2
      cpu=$(python3 -c "print('%.1f' % (($t1-$t0)/$(getconf CLK_TCK)*1e6/max($n,1)))")
      if python3 -c "import sys; sys.exit(0 if float('$rps') > float('$best') else 1)"; then best=$rps; best_cpu=$cpu; fi
    done
    echo "| $req | $which | $best | $best_cpu |"
  done
  kill "$PID"; wait "$PID" 2>/dev/null || true
done
