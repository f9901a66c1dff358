#!/usr/bin/env bash
# Where sigtap's CPU goes on fresh-signature traffic (issue 15): the setup of benches/fresh.sh
# (nginx origin, distinct signed heads for 256 keys, wrk -t2 -c16), one VARIANT and log FORMAT,
# a fresh sigtap process per measurement:
#   1. allocations per request: uprobes on mimalloc's entry points (perf probe + perf stat);
#   2. syscalls per request: strace -c -f (slows sigtap; the counts per request stay exact);
#   3. a CPU profile: perf record with DWARF call graphs, the top symbols (self time) and the
#      top inclusive entries.
#
#   benches/profile_fresh.sh [VARIANT] [FORMAT] [SECONDS]    (defaults: v4-header json 5)
#
# Needs root (uprobes), perf (linux-perf), strace, nginx, wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
VARIANT=${1:-v4-header}; FORMAT=${2:-json}; DUR=${3:-5}
for t in perf strace nginx wrk; do command -v $t >/dev/null || { echo "needs $t" >&2; exit 2; }; done
cargo build -q --release
cargo bench -q --bench fresh_heads --no-run 2>/dev/null
GEN() { cargo bench -q --bench fresh_heads -- "$@" 2>/dev/null; }
W=$(mktemp -d)
BIN=$W/sigtap; cp target/release/sigtap "$BIN"
trap 'kill $(cat "$W"/*.pid 2>/dev/null) 2>/dev/null || true; perf probe -q -d "probe_sigtap:*" 2>/dev/null || true; rm -rf "$W"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; exit 1; }
ORIGIN=$(port); SIG=$(port)
mkdir -p "$W/www" "$W/tmp"; head -c 1024 /dev/urandom > "$W/www/obj"; chmod -R a+rwX "$W"
cat > "$W/origin.conf" <<CONF
worker_processes 1;
daemon off;
pid $W/origin.pid;
error_log $W/origin-error.log;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 10000000; server { listen 127.0.0.1:$ORIGIN; root $W/www; location / { try_files /obj =404; } } }
CONF
nginx -c "$W/origin.conf" -p "$W" & wait_port "$ORIGIN"
GEN keys 256 "$W/keys.ini"
GEN "$VARIANT" "127.0.0.1:$SIG" 300000 256 "$(date +%s)" "$W/heads.txt"
cat > "$W/heads.lua" <<'LUA'
local file, counter = os.getenv("HEADS"), 0
function setup(thread) thread:set("tid", counter); counter = counter + 1 end
function init(args)
  reqs, i = {}, 0
  local n = 0
  for line in io.lines(file) do
    if n % 2 == tid then reqs[#reqs + 1] = (line:gsub("\t", "\r\n")) .. "\r\n\r\n" end
    n = n + 1
  end
end
function request() i = i % #reqs + 1; return reqs[i] end
LUA
start() {
  "$BIN" proxy --upstream "http://127.0.0.1:$ORIGIN" --listen "127.0.0.1:$SIG" --credentials "$W/keys.ini" \
    --log-format "$FORMAT" --log-file /dev/null > /dev/null 2>&1 &
  echo $! > "$W/sigtap.pid"; wait_port "$SIG"; cat "$W/sigtap.pid"
}
load() { HEADS="$W/heads.txt" wrk -t2 -c16 -d"${1}s" -s "$W/heads.lua" "http://127.0.0.1:$SIG/" | awk '/requests in/ {print $1}'; }
stop() { kill "$1"; wait "$1" 2>/dev/null || true; }
echo "sigtap $(git rev-parse --short HEAD 2>/dev/null), $VARIANT, $FORMAT log, wrk -t2 -c16"
# 1. allocations
for f in mi_malloc_aligned mi_zalloc_aligned mi_realloc_aligned; do perf probe -q -x "$BIN" --add $f; done
PID=$(start)
perf stat -x, -e 'probe_sigtap:*' -p "$PID" -o "$W/allocs.txt" -- sleep "$DUR" &
SP=$!; sleep 0.2; n=$(load $((DUR - 1))); wait $SP; stop "$PID"
echo "allocations per request ($n requests):"
awk -F, -v n="$n" '/probe_sigtap/ {printf "  %-32s %.1f\n", $3, $1/n}' "$W/allocs.txt"
perf probe -q -d 'probe_sigtap:*'
# 2. syscalls
PID=$(start)
strace -c -f -p "$PID" -o "$W/strace.txt" & SP=$!; sleep 0.5
n=$(load "$DUR"); sleep 0.2; kill -INT $SP; wait $SP 2>/dev/null || true; stop "$PID"
echo "syscalls per request ($n requests under strace):"
awk -v n="$n" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {printf "  %-16s %.2f\n", $NF, $4/n}' "$W/strace.txt" | sort -k2 -nr | head -12
# 3. profile
PID=$(start)
perf record -q -F 1999 --call-graph dwarf,32768 -p "$PID" -o "$W/perf.data" -- sleep "$DUR" 2>/dev/null & SP=$!
sleep 0.2; n=$(load $((DUR - 1))); wait $SP || true; stop "$PID"
echo "CPU profile, self time by symbol (top 40):"
perf report -i "$W/perf.data" --no-children --sort symbol --stdio -g none --percent-limit 0.7 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40
echo "CPU profile, inclusive (children), the pipeline's phases:"
perf report -i "$W/perf.data" --children --sort symbol --stdio -g none 2>/dev/null | grep -v '^#' \
  | grep -E '\] (sigtap::[a-z_:]+|[a-z_]+::[a-z_:]+[a-z_])( |$)' | grep -vE 'closure|\{|inlined' \
  | awk '{printf "  %7s %7s  %s\n", $1, $2, $4}' | head -45
[ -n "${PROFILE_KEEP:-}" ] && cp "$W/perf.data" "$PROFILE_KEEP" && echo "perf data kept in $PROFILE_KEEP"
