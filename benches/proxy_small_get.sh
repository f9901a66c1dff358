#!/usr/bin/env bash
# Small-GET throughput and latency: nginx serving a 1 KiB file directly, vs through sigtap
# verifying and re-signing every request (a presigned URL signed for sigtap's own host).
# Needs nginx and wrk (apt-get install -y nginx-light wrk) and a release build.
#
#   benches/proxy_small_get.sh [DURATION_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-8}
BIN=target/release/sigtap
W=$(mktemp -d)
trap 'kill $(cat "$W"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$W"' EXIT
NPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$W/www/bucket"
head -c 1024 /dev/urandom > "$W/www/bucket/obj"
chmod -R a+rX "$W"  # nginx workers run unprivileged
cat > "$W/nginx.conf" <<CONF
worker_processes auto;
daemon off;
pid $W/nginx.pid;
error_log $W/nginx-error.log;
events { worker_connections 4096; }
http { access_log off; server { listen 127.0.0.1:$NPORT; root $W/www; location / { } } }
CONF
nginx -c "$W/nginx.conf" -p "$W" &
sleep 0.5
AK=AKIDBENCH00000000001 SK=bEnChSeCrEt/K7MDENG+bPxRfiCYEXAMPLEKEY
"$BIN" proxy --upstream "http://127.0.0.1:$NPORT" --port 0 --access-key $AK --secret-key $SK > "$W/sigtap.log" 2>/dev/null &
echo $! > "$W/sigtap.pid"
for _ in $(seq 50); do [ -s "$W/sigtap.log" ] && break; sleep 0.1; done
SADDR=$(head -n1 "$W/sigtap.log")
URL=$("$BIN" presign --scheme sigv4 --region us-east-1 --expires 3600 --access-key $AK --secret-key $SK "http://$SADDR/bucket/obj")
echo "machine: $(nproc) cores, $(uname -r); nginx $(nginx -v 2>&1 | cut -d/ -f2); wrk -t2 -c16 -d${DUR}s"
for target in "direct nginx|http://127.0.0.1:$NPORT/bucket/obj" "through sigtap (verify + re-sign)|$URL"; do
  name=${target%%|*}; u=${target#*|}
  out=$(wrk -t2 -c16 -d"${DUR}s" --latency "$u")
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  errs=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  echo "$name: ${rps} req/s, p50 ${p50}, p99 ${p99}${errs:+, non-2xx $errs}"
done
echo "sigtap log lines: $(wc -l < "$W/sigtap.log")"
