#!/usr/bin/env bash
# callgrind (issue 17): what counting for --admin costs per request. N fresh SigV4 header-signed GETs
# (distinct heads: the memo never answers) sent one after another on one keep-alive connection to
# sigtap --threads 1 (JSON log to /dev/null) in front of nginx, under valgrind --tool=callgrind,
# alternately without and with --admin 127.0.0.1:0 (MODES="off on off on").
#
#   benches/admin_cost.sh [N]     (default 2000; needs nginx and valgrind)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
command -v nginx >/dev/null && command -v valgrind >/dev/null || { echo "needs nginx and valgrind" >&2; exit 2; }
cargo build -q --release
cargo bench -q --bench fresh_heads --no-run 2>/dev/null
W=$(mktemp -d); trap 'kill $(cat "$W"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$W"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
ORIGIN=$(port); SIG=$(port)
mkdir -p "$W/www" "$W/tmp"; head -c 1024 /dev/urandom > "$W/www/obj"; chmod -R a+rwX "$W"
cat > "$W/origin.conf" <<CONF
worker_processes 1; daemon off; pid $W/origin.pid; error_log $W/origin-error.log;
events { worker_connections 1024; }
http { access_log off; keepalive_requests 10000000; client_body_temp_path $W/tmp;
  server { listen 127.0.0.1:$ORIGIN; root $W/www; location / { try_files /obj =404; } } }
CONF
nginx -c "$W/origin.conf" -p "$W" & wait_port "$ORIGIN"
GEN() { cargo bench -q --bench fresh_heads -- "$@" 2>/dev/null; }
GEN keys 256 "$W/keys.ini"
cat > "$W/send.py" <<'PY'
import socket, sys
addr, path = sys.argv[1], sys.argv[2]
h, p = addr.rsplit(":", 1)
s = socket.create_connection((h, int(p)))
buf = b""
ok = 0
for line in open(path):
    s.sendall(line.rstrip("\n").replace("\t", "\r\n").encode() + b"\r\n\r\n")
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, buf = buf.split(b"\r\n\r\n", 1)
    n = 0
    for l in head.split(b"\r\n")[1:]:
        k, _, v = l.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v)
    while len(buf) < n:
        buf += s.recv(65536)
    buf = buf[n:]
    ok += head.split(b" ")[1].startswith(b"2")
print(ok)
PY
for mode in ${MODES:-off on off on}; do
  extra=""; [ "$mode" = on ] && extra="--admin 127.0.0.1:0"
  GEN v4-header "127.0.0.1:$SIG" "$N" 256 "$(date +%s)" "$W/heads.txt"
  valgrind --tool=callgrind --callgrind-out-file="$W/cg.$mode" target/release/sigtap proxy \
    --upstream "http://127.0.0.1:$ORIGIN" --listen "127.0.0.1:$SIG" --credentials "$W/keys.ini" \
    --threads 1 --log-format json --log-file /dev/null $extra > /dev/null 2>"$W/vg.err" &
  echo $! > "$W/sigtap.pid"; wait_port "$SIG"
  ok=$(python3 "$W/send.py" "127.0.0.1:$SIG" "$W/heads.txt")
  kill -TERM "$(cat "$W/sigtap.pid")"; wait "$(cat "$W/sigtap.pid")" 2>/dev/null || true; rm -f "$W/sigtap.pid"
  total=$(callgrind_annotate "$W/cg.$mode" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
  incl() { callgrind_annotate --inclusive=yes --threshold=100 "$W/cg.$mode" 2>/dev/null | grep -m1 "$1" | awk '{gsub(",","",$1); print $1}' || true; }
  count=$(incl "admin::metrics::Metrics::count"); record=$(incl "proxy::log::Sink::record")
  echo "mode=$mode answered_2xx=$ok/$N total_Ir=$total per_request=$((total / N)) Sink::record_incl_per_request=$(( ${record:-0} / N )) Metrics::count_incl_per_request=$(( ${count:-0} / N ))"
done
