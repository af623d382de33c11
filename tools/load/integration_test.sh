#!/usr/bin/env bash
# Integration test (CTest label "integration"): starts the real gateway ($RINGGATE_BIN) on
# 127.0.0.1:0 and runs a small echo (50 connections x 2 s) and a small hold (2,000 connections)
# with ringgate-load ($1), then checks the JSON: every connection established, zero errors, sane
# throughput, latency percentiles ordered, server figures present. Also checks the loopback rule.
# With openssl available, the gateway also serves wss:// (a throw-away self-signed cert) and a small
# wss echo plus a TLS 1.2 and a TLS 1.3 `handshake --resume tickets` run must succeed and resume.
# Fanout (issue 6): against fanout_fake_server.py (python3-websockets; skipped without it) a ws and
# an api publishing run must verify clean, a burst must reach every subscriber, and injected faults
# must be caught: silent drops -> exit 1 with missing > 0; drops announced by gap frames -> exit 0.
# LOAD_IT_ONLY=fanout runs just the fanout part (no gateway needed).
set -euo pipefail
LOAD=${1:?usage: integration_test.sh PATH/TO/ringgate-load}
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d /tmp/ringgate-load-it.XXXXXX)
PID=""
FAKE_PIDS=()
cleanup() {
  if [[ -n "$PID" ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  for p in "${FAKE_PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Starts a fake pub/sub server with the given flags; sets FAKE_WS (port) and FAKE_API (URL or "").
start_fake() {
  local log="$TMP/fake.$RANDOM.log"
  /usr/bin/python3 "$HERE/fanout_fake_server.py" "$@" > "$log" 2>&1 &
  FAKE_PIDS+=($!)
  FAKE_WS=""; FAKE_API=""
  for _ in $(seq 1 100); do
    FAKE_WS=$(grep -oP 'listening on ws://[0-9.]+:\K[0-9]+' "$log" || true)
    FAKE_API=$(grep -oP 'api on \K\S+' "$log" || true)
    [[ -n "$FAKE_WS" && ( "$*" != *--api* || -n "$FAKE_API" ) ]] && return 0
    sleep 0.05
  done
  cat "$log" >&2; fail "fake pub/sub server did not start"
}

fanout_checks() {
  if ! /usr/bin/python3 -c 'import websockets' 2> /dev/null; then
    echo "skip: no python3-websockets, fanout not checked"; return 0
  fi
  start_fake --api --token t0k
  local fake=${FAKE_PIDS[-1]} url="ws://127.0.0.1:$FAKE_WS/ws" api=$FAKE_API
  timeout 60 "$LOAD" fanout --url "$url" --subscribers 200 --topics 4 --publishers 2 --rate 400 --duration 1.5 \
    --warmup 0.3 --size 100 --server-pid "$fake" --json "$TMP/fo-ws.json" --quiet > "$TMP/fo-ws.txt" ||
    { cat "$TMP/fo-ws.txt"; fail "fanout ws run failed"; }
  timeout 60 "$LOAD" fanout --url "$url" --subscribers 50 --topics 2 --publishers 2 --rate 200 --duration 1 \
    --warmup 0 --via api --api "$api" --api-token t0k --json "$TMP/fo-api.json" --quiet > "$TMP/fo-api.txt" ||
    { cat "$TMP/fo-api.txt"; fail "fanout api run failed"; }
  rc=0; timeout 60 "$LOAD" fanout --url "$url" --subscribers 5 --publishers 1 --rate 50 --duration 0.5 --warmup 0 \
    --via api --api "$api" --api-token wrong --json "$TMP/fo-401.json" --quiet > "$TMP/fo-401.txt" || rc=$?
  [[ $rc == 1 ]] || { cat "$TMP/fo-401.txt"; fail "fanout with a bad API token: rc=$rc, expected 1"; }
  timeout 60 "$LOAD" fanout --url "$url" --subscribers 500 --burst 1 --json "$TMP/fo-burst.json" --quiet \
    > "$TMP/fo-burst.txt" || { cat "$TMP/fo-burst.txt"; fail "fanout burst run failed"; }
  start_fake --drop-every 37
  rc=0; timeout 60 "$LOAD" fanout --url "ws://127.0.0.1:$FAKE_WS/ws" --subscribers 20 --topics 2 --rate 100 \
    --duration 1 --warmup 0 --json "$TMP/fo-drop.json" --quiet > "$TMP/fo-drop.txt" || rc=$?
  [[ $rc == 1 ]] || { cat "$TMP/fo-drop.txt"; fail "silent drops not caught: rc=$rc, expected 1"; }
  start_fake --gap-every 41
  timeout 60 "$LOAD" fanout --url "ws://127.0.0.1:$FAKE_WS/ws" --subscribers 20 --topics 2 --rate 100 \
    --duration 1 --warmup 0 --json "$TMP/fo-gap.json" --quiet > "$TMP/fo-gap.txt" ||
    { cat "$TMP/fo-gap.txt"; fail "announced gaps failed the run"; }
  python3 - "$TMP" <<'PY'
import json, os, sys
d = sys.argv[1]
j = {n: json.load(open(os.path.join(d, f"fo-{n}.json"))) for n in ("ws", "api", "401", "burst", "drop", "gap")}
def check(cond, what):
    if not cond:
        print("FAIL:", what); sys.exit(1)
for n in ("ws", "api", "burst", "gap"):
    r = j[n]
    check(r["ok"] and r["missing"] == 0 and r["out_of_order"] == 0, f"{n}: {r}")
    check(r["errors"] == 0 and r["subscribed"] == r["parameters"]["subscribers"], f"{n}: subscribed {r['subscribed']}")
    check(r["acked"] == r["published"] > 0 and r["publish_errors"] == 0, f"{n}: published/acked")
    l = r["latency_us"]
    check(0 < l["p50"] <= l["p90"] <= l["p99"] <= l["p999"] <= l["max"] < 30e6, f"{n}: latency {l}")
w = j["ws"]
check(w["expected_deliveries"] == w["acked"] * 50 == w["deliveries"], f"ws: deliveries {w['deliveries']} of {w['expected_deliveries']}")
check(abs(w["published"] - 400 * 1.8) < 60, f"ws: published {w['published']} at 400/s for 1.8 s")
check(w["deliveries_per_second"] > 5000 and w["subscriber_setup_s"] > 0, f"ws: {w['deliveries_per_second']}/s")
check(w.get("server_cpu_cores", 0) > 0 and w.get("server_cpu_ns_per_delivery"), "ws: server CPU missing")
a = j["api"]
check(a["expected_deliveries"] == a["acked"] * 25 == a["deliveries"] and a["parameters"]["via"] == "api", f"api: {a}")
u = j["401"]
check(not u["ok"] and u["publish_errors"] > 0 and u["acked"] == 0 and "401" in u["first_error"], f"bad token: {u}")
b = j["burst"]
check(b["deliveries"] == 500 and b["published"] == 1 and 0 < b["time_to_last_delivery_us"] < 30e6, f"burst: {b}")
x = j["drop"]
check(not x["ok"] and x["missing"] > 0 and x["out_of_order"] > 0 and x["gaps"] == 0, f"drop: {x}")
g = j["gap"]
check(g["gaps"] > 0 and g["lost_to_gaps"] == g["gaps"] and g["deliveries"] + g["gaps"] == g["expected_deliveries"], f"gap: {g}")
print("ok: fanout ws %.0f deliveries/s p99 %.0f us; api %d acked; burst to 500 in %.1f ms; drops caught (%d missing); %d gaps allowed" % (
    w["deliveries_per_second"], w["latency_us"]["p99"], a["acked"], b["time_to_last_delivery_us"] / 1e3, x["missing"], g["gaps"]))
PY
}

if [[ ${LOAD_IT_ONLY:-} == fanout ]]; then fanout_checks; exit 0; fi
BIN=${RINGGATE_BIN:?RINGGATE_BIN must point at the ringgate binary}

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

fanout_checks

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
