#!/usr/bin/env bash
# TLS benchmark, all figures from one run side by side: one Ringgate (--workers 1, pinned to CPU1)
# with a plain and a TLS listener; ringgate-load (pinned to CPU0) measures
#   1. handshakes per second and server CPU per handshake: TLS 1.3 full / tickets, TLS 1.2 full /
#      session ids / tickets (C concurrent slots);
#   2. echo over ws:// and over wss:// (same connections, sizes, in-flight count): messages/s and
#      server CPU per message;
#   3. idle memory: N held ws:// connections, then N held wss:// ones: server RSS per connection.
# On a kernel without kTLS (this build machine) wss runs in user-space wolfSSL; the kTLS figures
# come from the VM test (tests/ktls). Certificates: a throwaway ECDSA P-256 self-signed one.
#
# usage: bench/run-tls.sh [--build-dir DIR] [--duration S] [--slots C] [--hold N] [--out FILE]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=/work/build-bench/main
DURATION=5
SLOTS=8
HOLD=2000
OUT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) BUILD_DIR=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --slots) SLOTS=$2; shift 2 ;;
    --hold) HOLD=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "run-tls.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
cmake -G Ninja -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$BUILD_DIR" ringgate ringgate-load >/dev/null
GW_BIN="$BUILD_DIR/src/app/ringgate"
LOAD="$BUILD_DIR/tools/load/ringgate-load"
TMP=$(mktemp -d)
GW=""
cleanup() { [[ -n "$GW" ]] && kill "$GW" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost -keyout "$TMP/k.pem" -out "$TMP/c.pem" 2>/dev/null

taskset -c 1 "$GW_BIN" --listen 127.0.0.1:0 --listen-tls 127.0.0.1:0 --tls-cert "$TMP/c.pem" --tls-key "$TMP/k.pem" \
  --workers 1 --ping-interval 0 2>"$TMP/gw.log" &
GW=$!
for _ in $(seq 100); do grep -q "listening on wss" "$TMP/gw.log" && break; sleep 0.05; done
WS_PORT=$(sed -n 's/.*listening on ws:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$TMP/gw.log")
WSS_PORT=$(sed -n 's/.*listening on wss:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$TMP/gw.log")
[[ -n "$WS_PORT" && -n "$WSS_PORT" ]] || { cat "$TMP/gw.log" >&2; exit 1; }
json() { /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d.get(sys.argv[2]))" "$@"; }

report=$(mktemp)
{
  echo "Ringgate $(git -C "$ROOT" rev-parse --short HEAD), $(date -u +%Y-%m-%dT%H:%MZ), one worker on CPU1, ringgate-load on CPU0"
  echo
  echo "| handshake ($SLOTS slots) | handshakes/s | server CPU per handshake | full | resumed |"
  echo "|---|---|---|---|---|"
  for mode in "1.3 none" "1.3 tickets" "1.2 none" "1.2 ids" "1.2 tickets"; do
    set -- $mode
    taskset -c 0 "$LOAD" handshake --url "wss://localhost:$WSS_PORT/echo" --connections "$SLOTS" --duration "$DURATION" \
      --warmup 1 --tls-version "$1" --resume "$2" --server-pid "$GW" --json "$TMP/h.json" --quiet >/dev/null
    printf "| TLS %s %s | %.0f | %.0f us | %s | %s |\n" "$1" "$( [[ $2 == none ]] && echo full || echo "resumed ($2)")" \
      "$(json "$TMP/h.json" handshakes_per_s)" "$(echo "$(json "$TMP/h.json" server_cpu_ns_per_handshake) / 1000" | bc -l)" \
      "$(json "$TMP/h.json" full)" "$(json "$TMP/h.json" resumed)"
  done
  echo
  echo "| echo (50 connections, 2 in flight) | ws msg/s | wss msg/s | ws server CPU/msg | wss server CPU/msg | wss / ws CPU |"
  echo "|---|---|---|---|---|---|"
  for size in 100 16384; do
    for scheme in ws wss; do
      port=$WS_PORT; [[ $scheme == wss ]] && port=$WSS_PORT
      taskset -c 0 "$LOAD" echo --url "$scheme://localhost:$port/echo" --connections 50 --size "$size" --inflight 2 \
        --duration "$DURATION" --warmup 1 --server-pid "$GW" --json "$TMP/e_$scheme.json" --quiet >/dev/null
    done
    ws_cpu=$(json "$TMP/e_ws.json" server_cpu_ns_per_message); wss_cpu=$(json "$TMP/e_wss.json" server_cpu_ns_per_message)
    printf "| %s B | %.0f | %.0f | %.1f us | %.1f us | %.2f |\n" "$size" "$(json "$TMP/e_ws.json" messages_per_second)" \
      "$(json "$TMP/e_wss.json" messages_per_second)" "$(echo "$ws_cpu / 1000" | bc -l)" "$(echo "$wss_cpu / 1000" | bc -l)" \
      "$(echo "$wss_cpu / $ws_cpu" | bc -l)"
  done
  echo
  echo "| idle connections held | server RSS per connection |"
  echo "|---|---|"
  for scheme in ws wss; do
    port=$WS_PORT; [[ $scheme == wss ]] && port=$WSS_PORT
    taskset -c 0 "$LOAD" hold --url "$scheme://localhost:$port/echo" --connections "$HOLD" --rate 2000 --duration 2 \
      --server-pid "$GW" --json "$TMP/hold.json" --quiet >/dev/null
    printf "| %s x %s | %.0f B |\n" "$HOLD" "$scheme" "$(json "$TMP/hold.json" server_rss_bytes_per_connection)"
  done
} | tee "$report"
[[ -n "$OUT" ]] && cp "$report" "$OUT"
rm -f "$report"
