#!/usr/bin/env bash
# Pub/sub fan-out benchmark (issue 6), every figure from `ringgate-load fanout`, which verifies
# each subscriber's sequence numbers and exits 1 on anything missing or out of order:
#   1. burst: one message to N subscribers of one topic (--burst 1): time to the last delivery, and
#      the gateway's RSS with N idle subscribers, next to a fresh gateway holding N plain idle
#      WebSockets on /ws (`ringgate-load hold`), so the difference is the cost of a subscription.
#      The gateway gets ceil((N+1)/19000) workers (>= the 20,000-slot fixed-file table per ring);
#      ringgate-load picks ceil(conns/20000) rings itself. Not pinned: the workers share both cores.
#   2. sustained: S subscribers over T topics, P publishers at each rate of a sweep: deliveries/s,
#      the gateway's CPU (schedstat of every thread) and deliveries per CPU-second.
#   3. latency: the same S/T load at each --lat-rates rate, published over WebSocket `pub` frames (--via ws)
#      and over POST /publish (--via api): p50/p90/p99/p99.9 from publish to delivery.
# For 2 and 3 the gateway (--workers 1) runs on CPU1 under SCHED_RR 1 and ringgate-load on CPU0
# under SCHED_FIFO 1, as bench/run-echo.sh does: on this shared 2-core machine, unpinned CFS runs
# put tens of milliseconds of other jobs' time slices into every latency percentile (--no-rt to
# compare). Each cell starts a fresh gateway on kernel-chosen loopback ports and stops it by PID.
# Builds nothing: binaries from $RINGGATE / $RINGGATE_LOAD (default build/release).
# --servers "ringgate floor" adds, to the sustained cells only, the same load against
# bench/load/ws_floor_fanout ($WS_FLOOR_FANOUT, default build/release/bench/load): one epoll thread,
# one send() per delivery, no validation, what any server must at least pay (a second table).
#
# usage: bench/run-fanout.sh [--reps N] [--burst-subs "100000"] [--subs S] [--topics T] [--publishers P]
#          [--rates "1000 2000 4000"] [--lat-rates "200 1000"] [--size BYTES] [--duration S] [--warmup S]
#          [--settle S (15: time for an overloaded gateway's backlog to drain before the check)]
#          [--only burst,rate,latency] [--no-rt] [--results DIR] [--out FILE] [--servers "ringgate floor"]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RINGGATE=${RINGGATE:-$ROOT/build/release/src/app/ringgate}
LOAD=${RINGGATE_LOAD:-$ROOT/build/release/tools/load/ringgate-load}
FLOOR=${WS_FLOOR_FANOUT:-$ROOT/build/release/bench/load/ws_floor_fanout}
SERVERS="ringgate"
REPS=2
BURST_SUBS="100000"
SUBS=10000
TOPICS=100
PUBLISHERS=4
RATES="1000 2000 4000"
LAT_RATES="200 1000"
SETTLE=15
SIZE=64
DURATION=5
WARMUP=1
ONLY="burst,rate,latency"
USE_RT=1
RESULTS=""
OUT=""
TOKEN=bench-token-$$
die() { echo "run-fanout.sh: $*" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --reps) REPS=$2; shift 2 ;;
    --burst-subs) BURST_SUBS=$2; shift 2 ;;
    --subs) SUBS=$2; shift 2 ;;
    --topics) TOPICS=$2; shift 2 ;;
    --publishers) PUBLISHERS=$2; shift 2 ;;
    --rates) RATES=$2; shift 2 ;;
    --lat-rates) LAT_RATES=$2; shift 2 ;;
    --settle) SETTLE=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --no-rt) USE_RT=0; shift ;;
    --results) RESULTS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --servers) SERVERS=$2; shift 2 ;;
    -h|--help) sed -n '2,26p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown flag $1" ;;
  esac
done
[[ -x "$RINGGATE" ]] || die "no gateway binary at $RINGGATE (set RINGGATE=...)"
[[ -x "$LOAD" ]] || die "no ringgate-load binary at $LOAD (set RINGGATE_LOAD=...)"
for s in $SERVERS; do [[ $s == ringgate || $s == floor ]] || die "--servers: unknown server $s"; done
serving() { [[ " $SERVERS " == *" $1 "* ]]; }
serving floor && { [[ -x "$FLOOR" ]] || die "no ws_floor_fanout binary at $FLOOR (set WS_FLOOR_FANOUT=...)"; }
[[ -n "$RESULTS" ]] || RESULTS=$(mktemp -d /tmp/run-fanout.XXXXXX)
mkdir -p "$RESULTS"
CMDS="$RESULTS/commands.txt"
: > "$CMDS"
log() { echo "[run-fanout $(date +%T)] $*" >&2; }
want() { [[ ",$ONLY," == *",$1,"* ]]; }

PIN_SERVER=(taskset -c 1)
PIN_CLIENT=(taskset -c 0)
if [[ $USE_RT == 1 ]]; then PIN_SERVER+=(chrt -r 1); PIN_CLIENT+=(chrt -f 1); fi

GW=""
WS_PORT=""
API_PORT=""
stop_gw() {
  [[ -n "$GW" ]] || return 0
  kill -TERM "$GW" 2>/dev/null || true
  for _ in $(seq 1 80); do kill -0 "$GW" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$GW" 2>/dev/null || true
  wait "$GW" 2>/dev/null || true
  GW=""
}
trap stop_gw EXIT

# start_gw LOG PIN(0|1) ARGS...: a fresh gateway; sets GW, WS_PORT and API_PORT (when --api given).
start_gw() {
  local logf=$1 pin=$2; shift 2
  local cmd=("$RINGGATE" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --client-publish on "$@")
  [[ ${1:-} == --floor ]] && cmd=("$FLOOR" --port 0)  # the fan-out floor (sustained cells only)
  [[ $pin == 1 ]] && cmd=("${PIN_SERVER[@]}" "${cmd[@]}")
  echo "${cmd[*]}" >> "$CMDS"
  "${cmd[@]}" 2> "$logf" &
  GW=$!
  WS_PORT="" API_PORT=""
  for _ in $(seq 1 100); do
    WS_PORT=$(grep -oP 'listening on ws://[0-9.]+:\K[0-9]+' "$logf" | head -1 || true)
    API_PORT=$(grep -oP 'api on http://[0-9.]+:\K[0-9]+' "$logf" | head -1 || true)
    if [[ -n "$WS_PORT" ]] && { [[ " $* " != *" --api "* ]] || [[ -n "$API_PORT" ]]; }; then return 0; fi
    kill -0 "$GW" 2>/dev/null || break
    sleep 0.1
  done
  log "gateway did not start; log:"; cat "$logf" >&2
  stop_gw
  return 1
}

# load TAG PIN(0|1) MODE ARGS...: one ringgate-load run (bounded by timeout) against the gateway.
load() {
  local tag=$1 pin=$2; shift 2
  local cmd=("$LOAD" "$@" --server-pid "$GW" --json "$RESULTS/$tag.json" --quiet)
  [[ $pin == 1 ]] && cmd=("${PIN_CLIENT[@]}" "${cmd[@]}")
  echo "${cmd[*]}" >> "$CMDS"
  local rc=0
  timeout 240 "${cmd[@]}" > "$RESULTS/$tag.txt" 2>&1 || rc=$?
  echo "$rc" > "$RESULTS/$tag.rc"
  [[ $rc == 0 ]] || log "$tag: ringgate-load exited $rc (see $RESULTS/$tag.txt)"
}

STARTED=$(date -u +%FT%TZ)
for rep in $(seq 1 "$REPS"); do
  if want burst; then
    for n in $BURST_SUBS; do
      workers=$(( (n + 1 + 18999) / 19000 )); (( workers >= 1 )) || workers=1
      log "burst ${n} subscribers, rep $rep ($workers workers)"
      start_gw "$RESULTS/burst_${n}_r$rep.gw.log" 0 --workers "$workers" || continue
      sleep 0.5  # settle before the baseline RSS
      load "burst_${n}_r$rep" 0 fanout --url "ws://127.0.0.1:$WS_PORT/ws" --subscribers "$n" --topics 1 --burst 1 \
        --size "$SIZE" --connect-timeout 90
      stop_gw
      log "hold ${n} plain connections on /ws, rep $rep"
      start_gw "$RESULTS/hold_${n}_r$rep.gw.log" 0 --workers "$workers" || continue
      sleep 0.5
      load "hold_${n}_r$rep" 0 hold --url "ws://127.0.0.1:$WS_PORT/ws" --connections "$n" --rate 20000 \
        --duration 2 --connect-timeout 90
      stop_gw
    done
  fi
  if want rate; then
    for r in $RATES; do
      for srv in $SERVERS; do
        tag="rate_${r}_r$rep" args=(--workers 1) what=""
        [[ $srv == floor ]] && tag="floor_$tag" args=(--floor) what=" (ws_floor_fanout)"
        log "sustained $SUBS subscribers / $TOPICS topics at $r msg/s, rep $rep$what"
        start_gw "$RESULTS/$tag.gw.log" 1 "${args[@]}" || continue
        load "$tag" 1 fanout --url "ws://127.0.0.1:$WS_PORT/ws" --subscribers "$SUBS" --topics "$TOPICS" \
          --publishers "$PUBLISHERS" --rate "$r" --duration "$DURATION" --warmup "$WARMUP" --size "$SIZE" \
          --settle "$SETTLE"
        stop_gw
      done
    done
  fi
  if want latency; then
    for lr in $LAT_RATES; do
      for via in ws api; do
        tag="lat_${via}_${lr}_r$rep"
        log "latency via $via: $lr msg/s to $SUBS subscribers / $TOPICS topics, rep $rep"
        if [[ $via == api ]]; then
          start_gw "$RESULTS/$tag.gw.log" 1 --workers 1 --api 127.0.0.1:0 --api-token "$TOKEN" || continue
          extra=(--via api --api "http://127.0.0.1:$API_PORT" --api-token "$TOKEN")
        else
          start_gw "$RESULTS/$tag.gw.log" 1 --workers 1 || continue
          extra=(--via ws)
        fi
        load "$tag" 1 fanout --url "ws://127.0.0.1:$WS_PORT/ws" --subscribers "$SUBS" --topics "$TOPICS" \
          --publishers "$PUBLISHERS" --rate "$lr" --duration "$DURATION" --warmup "$WARMUP" --size "$SIZE" \
          --settle "$SETTLE" "${extra[@]}"
        stop_gw
      done
    done
  fi
done

# ---------------------------------------------------------------- report
export RESULTS STARTED SUBS TOPICS PUBLISHERS LAT_RATES SIZE DURATION USE_RT
export GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
REPORT=$(python3 - <<'EOF'
import glob, json, os, re
R = os.environ["RESULTS"]
def runs(prefix):
    out = []
    for f in sorted(glob.glob(f"{R}/{prefix}_r*.json")):
        try: d = json.load(open(f))
        except Exception: continue
        rc = open(f[:-5] + ".rc").read().strip() if os.path.exists(f[:-5] + ".rc") else "?"
        out.append((re.search(r"_r(\d+)\.json$", f).group(1), d, rc))
    return out
def verdict(d, rc):
    if rc == "0" and d.get("ok", True): return "ok"
    return f"FAIL rc={rc} missing={d.get('missing')} ooo={d.get('out_of_order')} errors={d.get('errors')}"
rt = "gateway CPU1 SCHED_RR, load CPU0 SCHED_FIFO" if os.environ["USE_RT"] == "1" else "pinned, no RT"
print(f"Ringgate {os.environ['GIT_REV']}, {os.environ['STARTED']}, results in {R}\n")
sizes = sorted({int(m.group(1)) for f in glob.glob(f"{R}/burst_*_r*.json")
                for m in [re.search(r"burst_(\d+)_r", f)]})
if sizes:
    print("| subscribers (1 topic) | rep | time to last delivery | connect+subscribe | gateway CPU/delivery | RSS fresh -> subscribed | B per subscriber | B per plain idle conn (hold) | result |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in sizes:
        holds = {rep: d for rep, d, _ in runs(f"hold_{n}")}
        for rep, d, rc in runs(f"burst_{n}"):
            b, a = d.get("server_rss_before_bytes", 0), d.get("server_rss_after_bytes", 0)
            h = holds.get(rep, {}).get("server_rss_bytes_per_connection")
            ttl = d.get("time_to_last_delivery_us")
            print(f"| {n:,} | {rep} | {ttl/1000:.0f} ms | {d['subscriber_setup_s']:.1f} s | "
                  f"{d.get('server_cpu_ns_per_delivery') or 0:.0f} ns | {b/2**20:.1f} -> {a/2**20:.1f} MiB | "
                  f"{(a-b)/n:.0f} | {h if h is None else f'{h:.0f}'} | {verdict(d, rc)} |" if ttl else
                  f"| {n:,} | {rep} | n/a | | | | | | {verdict(d, rc)} |")
    print()
rates = sorted({int(m.group(1)) for f in glob.glob(f"{R}/rate_*_r*.json") for m in [re.search(r"rate_(\d+)_r", f)]})
if rates:
    print(f"Sustained: {os.environ['SUBS']} subscribers over {os.environ['TOPICS']} topics, {os.environ['PUBLISHERS']} ws publishers, "
          f"{os.environ['SIZE']} B, {os.environ['DURATION']} s measured, gateway --workers 1 ({rt})\n")
    print("| publish rate | rep | deliveries/s | gateway cores | gateway ns CPU/delivery | deliveries per CPU-second | load cores | p50 / p99 latency | result |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rates:
        for rep, d, rc in runs(f"rate_{r}"):
            ns = d.get("server_cpu_ns_per_delivery") or 0
            lat = d["latency_us"]
            print(f"| {r:,} msg/s | {rep} | {d['deliveries_per_second']:,.0f} | {d.get('server_cpu_cores', 0):.2f} | {ns:.0f} | "
                  f"{(1e9/ns if ns else 0):,.0f} | {d['client_cpu_cores']:.2f} | {lat['p50']/1000:.2f} / {lat['p99']/1000:.2f} ms | {verdict(d, rc)} |")
    print()
frates = sorted({int(m.group(1)) for f in glob.glob(f"{R}/floor_rate_*_r*.json") for m in [re.search(r"floor_rate_(\d+)_r", f)]})
if frates:
    print(f"Floor (bench/load/ws_floor_fanout: one epoll thread, one send() per delivery, no validation), same load ({rt})\n")
    print("| publish rate | rep | deliveries/s | floor cores | floor ns CPU/delivery | deliveries per CPU-second | load cores | p50 / p99 latency | result |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in frates:
        for rep, d, rc in runs(f"floor_rate_{r}"):
            ns = d.get("server_cpu_ns_per_delivery") or 0
            lat = d["latency_us"]
            print(f"| {r:,} msg/s | {rep} | {d['deliveries_per_second']:,.0f} | {d.get('server_cpu_cores', 0):.2f} | {ns:.0f} | "
                  f"{(1e9/ns if ns else 0):,.0f} | {d['client_cpu_cores']:.2f} | {lat['p50']/1000:.2f} / {lat['p99']/1000:.2f} ms | {verdict(d, rc)} |")
    print()
lrates = sorted({int(m.group(1)) for f in glob.glob(f"{R}/lat_*_r*.json") for m in [re.search(r"lat_[a-z]+_(\d+)_r", f)]})
if lrates:
    print(f"Latency: {os.environ['SUBS']} subscribers over {os.environ['TOPICS']} topics, {os.environ['SIZE']} B data, "
          f"{os.environ['PUBLISHERS']} publishers, gateway --workers 1 ({rt})\n")
    print("| publish rate | via | rep | deliveries/s | p50 | p90 | p99 | p99.9 | max | gateway cores | gateway ns CPU/delivery | result |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for lr in lrates:
        for via in ("ws", "api"):
            for rep, d, rc in runs(f"lat_{via}_{lr}"):
                l = d["latency_us"]
                print(f"| {lr:,} msg/s | {via} | {rep} | {d['deliveries_per_second']:,.0f} | " +
                      " | ".join(f"{l[k]/1000:.2f} ms" for k in ("p50", "p90", "p99", "p999", "max")) +
                      f" | {d.get('server_cpu_cores', 0):.2f} | {d.get('server_cpu_ns_per_delivery') or 0:.0f} | {verdict(d, rc)} |")
EOF
)
echo "$REPORT"
[[ -z "$OUT" ]] || { echo "$REPORT" > "$OUT"; log "report written to $OUT"; }
log "raw results and exact commands in $RESULTS"
