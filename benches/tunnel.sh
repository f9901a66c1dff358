#!/usr/bin/env bash
# What HTTPS interception costs: an unmodified HTTPS client (benches/tunnel_load.rs, rustls) to
# an nginx TLS origin, directly, through sigtap (`--forward`, CONNECT intercepted with a leaf from
# its local CA, upstream TLS verified against a test CA) and through mitmproxy (regular mode,
# the same interception), in one run:
#   - handshakes per second: each iteration a new connection, CONNECT, TLS handshake, one GET
#     of 1 KiB, close (THREADS client threads);
#   - added latency on a kept tunnel: one connection, sequential GETs of 1 KiB, p50/p90/p99;
#   - 1 GiB through a tunnel: one GET, MiB/s, and sigtap's peak RSS (VmHWM) after it.
#
#   benches/tunnel.sh [SECONDS] [ROUNDS] [THREADS]      (defaults: 5 2 8)
#
# Needs: nginx with ssl and openssl (apt-get install -y nginx-light); mitmproxy 11.0.2 is
# installed into target/tools/bench on first use (as benches/compare.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-5}; ROUNDS=${2:-2}; THREADS=${3:-8}
command -v nginx >/dev/null && command -v openssl >/dev/null || { echo "needs nginx and openssl: apt-get install -y nginx-light" >&2; exit 2; }
TOOLS=target/tools
if [ ! -x "$TOOLS/bench/bin/mitmdump" ]; then
  echo "bench: installing mitmproxy 11.0.2 into $TOOLS/bench" >&2
  python3 -m venv "$TOOLS/bench" && "$TOOLS/bench/bin/pip" install -q mitmproxy==11.0.2
fi
cargo build -q --release
cargo bench -q --bench tunnel_load --no-run 2>/dev/null
LOAD() { cargo bench -q --bench tunnel_load -- "$@" 2>/dev/null; }
BIN=target/release/sigtap
W=$(mktemp -d)
trap 'kill $(cat "$W"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$W"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
ORIGIN=$(port); SIG=$(port); MITM=$(port)
# the origin's certificate, from a test CA
(cd "$W" && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=bench origin CA' -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
 openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout srv.key -out srv.csr -subj '/CN=localhost' 2>/dev/null
 printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > ext.cnf
 openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile ext.cnf 2>/dev/null)
mkdir -p "$W/www" "$W/tmp"
head -c 1024 /dev/urandom > "$W/www/obj"
head -c 1073741824 /dev/zero > "$W/www/big"
cat "$W/www/big" > /dev/null   # in the page cache before the first reading
chmod -R a+rwX "$W"
cat > "$W/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $W/nginx.pid;
error_log $W/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $W/tmp;
  server {
    listen 127.0.0.1:$ORIGIN ssl;
    ssl_certificate $W/srv.pem;
    ssl_certificate_key $W/srv.key;
    root $W/www;
  }
}
CONF
nginx -c "$W/nginx.conf" -p "$W" &
"$BIN" proxy --forward --allow-host "localhost:$ORIGIN" --upstream-ca "$W/ca.pem" --ca-dir "$W/sigtapca" \
  --listen "127.0.0.1:$SIG" --log-file /dev/null > /dev/null 2>&1 &
echo $! > "$W/sigtap.pid"
"$TOOLS/bench/bin/mitmdump" -q --listen-host 127.0.0.1 --listen-port "$MITM" --set confdir="$W/mitm" \
  --set ssl_verify_upstream_trusted_ca="$W/ca.pem" > /dev/null 2>&1 &
echo $! > "$W/mitm.pid"
wait_port "$ORIGIN"; wait_port "$SIG"; wait_port "$MITM"
for _ in $(seq 100); do [ -f "$W/mitm/mitmproxy-ca-cert.pem" ] && break; sleep 0.1; done
TARGET="localhost:$ORIGIN"
declare -A VIA=([direct]=direct [sigtap]="127.0.0.1:$SIG" [mitmproxy]="127.0.0.1:$MITM")
declare -A CA=([direct]="$W/ca.pem" [sigtap]="$W/sigtapca/ca.pem" [mitmproxy]="$W/mitm/mitmproxy-ca-cert.pem")
num() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
echo "machine: $(nproc) cores; sigtap $("$BIN" --version | cut -d' ' -f2) (release), nginx $(nginx -v 2>&1 | cut -d/ -f2), mitmproxy 11.0.2; ${DUR}s per run, best of $ROUNDS, $THREADS client threads"
echo
echo "| via | handshakes/s (new connection + CONNECT + TLS + GET 1 KiB) | kept tunnel p50 / p90 / p99 µs (GET 1 KiB) | 1 GiB GET MiB/s |"
echo "|---|---|---|---|"
for via in direct sigtap mitmproxy; do
  best=0
  for _ in $(seq "$ROUNDS"); do
    r=$(LOAD handshakes "${VIA[$via]}" "$TARGET" "${CA[$via]}" "$DUR" "$THREADS" /obj)
    v=$(num "$r" per_s); best=$(python3 -c "print(max($best, $v))")
  done
  lat=$(LOAD latency "${VIA[$via]}" "$TARGET" "${CA[$via]}" 3000 /obj)
  bulk=0
  for _ in $(seq "$ROUNDS"); do
    r=$(LOAD bulk "${VIA[$via]}" "$TARGET" "${CA[$via]}" /big)
    v=$(num "$r" mib_per_s); bulk=$(python3 -c "print(max($bulk, $v))")
  done
  echo "| $via | $best | $(num "$lat" p50_us) / $(num "$lat" p90_us) / $(num "$lat" p99_us) | $bulk |"
done
echo
echo "sigtap peak RSS after all runs (VmHWM): $(awk '/VmHWM/ {print $2/1024 " MiB"}' "/proc/$(cat "$W/sigtap.pid")/status")"
