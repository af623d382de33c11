#!/usr/bin/env bash
# Integration test (CTest label "integration"): starts the real gateway ($RINGGATE_BIN) on
# 127.0.0.1:0 and runs a small echo (50 connections x 2 s) and a small hold (2,000 connections)
# with ringgate-load ($1), then checks the JSON: every connection established, zero errors, sane
# throughput, latency percentiles ordered, server figures present. Also checks the loopback rule.
# With openssl available, the gateway also serves wss:// (a throw-away self-signed cert) and a small
# wss echo plus a TLS 1.2 and a TLS 1.3 `handshake --resume tickets` run must succeed and resume.
set -euo pipefail
LOAD=${1:?usage: integration_test.sh PATH/TO/ringgate-load}
BIN=${RINGGATE_BIN:?RINGGATE_BIN must point at the ringgate binary}
TMP=$(mktemp -d /tmp/ringgate-load-it.XXXXXX)
PID=""
cleanup() { [[ -n "$PID" ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

TLS_ARGS=()
if command -v openssl > /dev/null; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2> /dev/null || fail "openssl could not make a certificate"
  TLS_ARGS=(--listen-tls 127.0.0.1:0 --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem")
fi
"$BIN" --listen 127.0.0.1:0 "${TLS_ARGS[@]}" --workers 2 2> "$TMP/server.log" &
PID=$!
PORT=""
TLS_PORT=""
for _ in $(seq 1 100); do
  PORT=$(grep -oP 'listening on ws://[0-9.]+:\K[0-9]+' "$TMP/server.log" | head -1 || true)
  TLS_PORT=$(grep -oP 'listening on wss://[0-9.]+:\K[0-9]+' "$TMP/server.log" | head -1 || true)
  [[ -n "$PORT" && ( ${#TLS_ARGS[@]} == 0 || -n "$TLS_PORT" ) ]] && break
  sleep 0.05
done
[[ -n "$PORT" ]] || { cat "$TMP/server.log" >&2; fail "gateway did not start"; }
[[ ${#TLS_ARGS[@]} == 0 || -n "$TLS_PORT" ]] || { cat "$TMP/server.log" >&2; fail "gateway did not start wss"; }
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

[[ -n "$TLS_PORT" ]] || { echo "skip: no openssl, wss not checked"; exit 0; }
WSS="wss://localhost:$TLS_PORT/echo"
timeout 60 "$LOAD" echo --url "$WSS" --connections 20 --size 3000 --inflight 2 --warmup 0.3 --duration 1 \
  --json "$TMP/wss.json" --quiet > "$TMP/wss.txt" || { cat "$TMP/wss.txt"; fail "wss echo run failed"; }
for v in 1.2 1.3; do
  timeout 60 "$LOAD" handshake --url "$WSS" --connections 2 --resume tickets --tls-version $v --warmup 0.3 \
    --duration 1 --server-pid "$PID" --json "$TMP/hs$v.json" --quiet > "$TMP/hs$v.txt" ||
    { cat "$TMP/hs$v.txt"; fail "handshake --tls-version $v run failed"; }
done
python3 - "$TMP/wss.json" "$TMP/hs1.2.json" "$TMP/hs1.3.json" <<'PY'
import json, sys
w = json.load(open(sys.argv[1]))
def check(cond, what):
    if not cond:
        print("FAIL:", what); sys.exit(1)
check(w["connections_established"] == 20 and w["errors"] == 0, f"wss echo {w['errors_by_cause']}")
check(w["closed_cleanly"] == 20 and w["messages_per_second"] > 100, f"wss echo {w['messages_per_second']}")
out = []
for f in sys.argv[2:]:
    h = json.load(open(f))
    check(h["mode"] == "handshake" and h["failures"] == 0, f"{f}: failures {h['failures_by_cause']}")
    check(h["handshakes"] == h["full"] + h["resumed"] and h["resumed"] > 0, f"{f}: resumed {h['resumed']}")
    l = h["latency_us"]
    check(0 < l["p50"] <= l["p90"] <= l["p99"] <= l["p999"] <= l["max"], f"{f}: latency {l}")
    check(h.get("server_cpu_ns_per_handshake", 0) > 0, f"{f}: server cpu per handshake")
    out.append("%s %.0f/s" % (h["parameters"]["tls_version"], h["handshakes_per_s"]))
print("ok: wss echo %.0f msg/s; resumed handshakes %s" % (w["messages_per_second"], ", ".join(out)))
PY
