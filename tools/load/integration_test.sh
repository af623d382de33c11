#!/usr/bin/env bash
# Integration test (CTest label "integration"): starts the real gateway ($RINGGATE_BIN) on
# 127.0.0.1:0 and runs a small echo (50 connections x 2 s) and a small hold (2,000 connections)
# with ringgate-load ($1), then checks the JSON: every connection established, zero errors, sane
# throughput, latency percentiles ordered, server figures present. Also checks the loopback rule.
set -euo pipefail
LOAD=${1:?usage: integration_test.sh PATH/TO/ringgate-load}
BIN=${RINGGATE_BIN:?RINGGATE_BIN must point at the ringgate binary}
TMP=$(mktemp -d /tmp/ringgate-load-it.XXXXXX)
PID=""
cleanup() { [[ -n "$PID" ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$BIN" --listen 127.0.0.1:0 --workers 2 2> "$TMP/server.log" &
PID=$!
PORT=""
for _ in $(seq 1 100); do
  PORT=$(grep -oP 'listening on ws://[0-9.]+:\K[0-9]+' "$TMP/server.log" | head -1 || true)
  [[ -n "$PORT" ]] && break
  sleep 0.05
done
[[ -n "$PORT" ]] || { cat "$TMP/server.log" >&2; fail "gateway did not start"; }
URL="ws://127.0.0.1:$PORT/echo"

# Non-loopback targets are refused with exit 2 and a clear message.
rc=0; "$LOAD" echo --url ws://10.1.2.3:80/echo --connections 1 --duration 1 2> "$TMP/refuse.txt" || rc=$?
[[ $rc == 2 ]] && grep -q "not a loopback" "$TMP/refuse.txt" || fail "non-loopback target not refused (rc=$rc)"

timeout 60 "$LOAD" echo --url "$URL" --connections 50 --size 100 --inflight 2 --warmup 0.5 --duration 2 \
  --server-pid "$PID" --json "$TMP/echo.json" --plot "$TMP/echo.png" --quiet > "$TMP/echo.txt" || { cat "$TMP/echo.txt"; fail "echo run failed"; }
timeout 60 "$LOAD" hold --url "$URL" --connections 2000 --rate 10000 --duration 1 \
  --server-pid "$PID" --json "$TMP/hold.json" --quiet > "$TMP/hold.txt" || { cat "$TMP/hold.txt"; fail "hold run failed"; }

[[ -s "$TMP/echo.png" ]] && head -c 8 "$TMP/echo.png" | grep -q PNG || fail "--plot wrote no PNG"
python3 - "$TMP/echo.json" "$TMP/hold.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1])); h = json.load(open(sys.argv[2]))
def check(cond, what):
    if not cond:
        print("FAIL:", what); sys.exit(1)
check(e["connections_established"] == 50, f"echo established {e['connections_established']}")
check(e["errors"] == 0, f"echo errors {e['errors_by_cause']}")
check(e["messages_per_second"] > 500, f"echo throughput {e['messages_per_second']}")
l = e["latency_us"]
check(0 < l["p50"] <= l["p90"] <= l["p99"] <= l["p999"] <= l["max"] < 5e6, f"latency {l}")
check(e["closed_cleanly"] == 50, f"echo closed cleanly {e['closed_cleanly']}")
check(e.get("server_cpu_ns_per_message") and 100 < e["server_cpu_ns_per_message"] < 1e7,
      f"server cpu/msg {e.get('server_cpu_ns_per_message')}")
check("server_rss_bytes_per_connection" in e, "server rss per connection missing")
check(h["connections_established"] == 2000, f"hold established {h['connections_established']}")
check(h["errors"] == 0, f"hold errors {h['errors_by_cause']}")
check(h["closed_cleanly"] == 2000, f"hold closed cleanly {h['closed_cleanly']}")
check(0 < h["time_to_establish_s"] < 30, f"hold time {h['time_to_establish_s']}")
check(0 <= h["server_rss_bytes_per_connection"] < 1e6, f"hold rss/conn {h['server_rss_bytes_per_connection']}")
print("ok: echo %.0f msg/s p99 %.0f us; hold 2000 in %.2f s, %.0f B/conn server RSS" % (
    e["messages_per_second"], l["p99"], h["time_to_establish_s"], h["server_rss_bytes_per_connection"]))
PY
