#!/usr/bin/env bash
# Pub/sub through an external broker (issue 7): the same `ringgate-load fanout` scenario against a
# gateway with --broker embedded, redis://.. and nats://.., side by side in one run, so the ratios
# to embedded are measured under the same machine load. ringgate-load verifies every delivery (with
# an external broker acks carry seq 0, so it checks counts per subscriber plus seq continuity) and
# exits 1 on anything missing or out of order.
#   rate:    S subscribers over T topics, P publishers at --rate msg/s, over WebSocket `pub` frames
#            and over POST /publish: deliveries/s, gateway CPU per delivery, p50/p99.
#   latency: the same at --lat-rate msg/s (below saturation): p50/p90/p99/p99.9.
#   twonode: two gateways sharing Redis: subscribers on node A, publishers (POST /publish) on node
#            B, at --rate and --lat-rate; CPU summed over both gateways. Only the HTTP API can target
#            another node: ringgate-load's ws publishers use the subscribers' --url.
# redis-server (--save '' --appendonly no) and nats-server run for the whole script on
# kernel-free loopback ports and are stopped by PID on exit; each cell starts a fresh gateway.
# Placement as in bench/run-fanout.sh: gateway(s) on CPU1 under SCHED_RR 1, ringgate-load on CPU0
# under SCHED_FIFO 1; the broker shares the gateway's core (--broker-cpu 1, SCHED_RR 1) so that,
# as in a real deployment, its work competes with the gateway's rather than with the load's.
# The broker's own CPU is sampled (schedstat, whole load run) and reported per published message.
# Builds nothing: binaries from $RINGGATE / $RINGGATE_LOAD (default build/release).
#
# usage: bench/run-broker.sh [--reps N (3)] [--brokers "embedded redis nats"] [--subs S] [--topics T]
#          [--publishers P] [--rate R (2000)] [--lat-rate R (200)] [--size BYTES] [--duration S]
#          [--warmup S] [--settle S (15)] [--only rate,latency,twonode] [--broker-cpu 0|1] [--no-rt]
#          [--results DIR] [--out FILE]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RINGGATE=${RINGGATE:-$ROOT/build/release/src/app/ringgate}
LOAD=${RINGGATE_LOAD:-$ROOT/build/release/tools/load/ringgate-load}
REDIS_SERVER=${REDIS_SERVER:-$(command -v redis-server || true)}
NATS_SERVER=${NATS_SERVER:-$(PATH=$PATH:/usr/sbin:/usr/local/bin command -v nats-server || true)}
REPS=3
BROKERS="embedded redis nats"
SUBS=10000
TOPICS=100
PUBLISHERS=4
RATE=2000
LAT_RATE=200
SIZE=64
DURATION=5
WARMUP=1
SETTLE=15
ONLY="rate,latency,twonode"
BROKER_CPU=1
USE_RT=1
RESULTS=""
OUT=""
TOKEN=bench-token-$$
die() { echo "run-broker.sh: $*" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --reps) REPS=$2; shift 2 ;;
    --brokers) BROKERS=$2; shift 2 ;;
    --subs) SUBS=$2; shift 2 ;;
    --topics) TOPICS=$2; shift 2 ;;
    --publishers) PUBLISHERS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --lat-rate) LAT_RATE=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --settle) SETTLE=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --broker-cpu) BROKER_CPU=$2; shift 2 ;;
    --no-rt) USE_RT=0; shift ;;
    --results) RESULTS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,24p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown flag $1" ;;
  esac
done
[[ -x "$RINGGATE" ]] || die "no gateway binary at $RINGGATE (set RINGGATE=...)"
[[ -x "$LOAD" ]] || die "no ringgate-load binary at $LOAD (set RINGGATE_LOAD=...)"
[[ " $BROKERS " != *" redis "* || -x "$REDIS_SERVER" ]] || die "no redis-server (set REDIS_SERVER=...)"
[[ " $BROKERS " != *" nats "* || -x "$NATS_SERVER" ]] || die "no nats-server (set NATS_SERVER=...)"
[[ -n "$RESULTS" ]] || RESULTS=$(mktemp -d /tmp/run-broker.XXXXXX)
mkdir -p "$RESULTS"
CMDS="$RESULTS/commands.txt"
: > "$CMDS"
log() { echo "[run-broker $(date +%T)] $*" >&2; }
want() { [[ ",$ONLY," == *",$1,"* ]]; }

PIN_SERVER=(taskset -c 1)
PIN_CLIENT=(taskset -c 0)
PIN_BROKER=(taskset -c "$BROKER_CPU")
if [[ $USE_RT == 1 ]]; then PIN_SERVER+=(chrt -r 1); PIN_CLIENT+=(chrt -f 1); PIN_BROKER+=(chrt -r 1); fi

# ---------------------------------------------------------------- processes, stopped by PID
GW="" GW_B="" REDIS_PID="" NATS_PID="" REDIS_PORT="" NATS_PORT=""
stop_pid() {  # stop_pid PID: TERM, up to 8 s, then KILL
  local pid=$1
  [[ -n "$pid" ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 80); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
stop_gw() { stop_pid "$GW"; GW=""; stop_pid "$GW_B"; GW_B=""; }
cleanup() { stop_gw; stop_pid "$REDIS_PID"; stop_pid "$NATS_PID"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_redis() {
  for _ in 1 2 3; do
    REDIS_PORT=$(free_port)
    local cmd=("${PIN_BROKER[@]}" "$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no)
    printf "%q " "${cmd[@]}" >> "$CMDS"; echo >> "$CMDS"
    "${cmd[@]}" > "$RESULTS/redis.log" 2>&1 &
    REDIS_PID=$!
    for _ in $(seq 1 50); do
      [[ $(redis-cli -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]] && return 0
      kill -0 "$REDIS_PID" 2>/dev/null || break
      sleep 0.1
    done
    stop_pid "$REDIS_PID"; REDIS_PID=""
  done
  log "redis-server did not start; log:"; cat "$RESULTS/redis.log" >&2; return 1
}

start_nats() {
  for _ in 1 2 3; do
    NATS_PORT=$(free_port)
    local cmd=("${PIN_BROKER[@]}" "$NATS_SERVER" -a 127.0.0.1 -p "$NATS_PORT")
    printf "%q " "${cmd[@]}" >> "$CMDS"; echo >> "$CMDS"
    "${cmd[@]}" > "$RESULTS/nats.log" 2>&1 &
    NATS_PID=$!
    for _ in $(seq 1 50); do
      port_open "$NATS_PORT" && return 0
      kill -0 "$NATS_PID" 2>/dev/null || break
      sleep 0.1
    done
    stop_pid "$NATS_PID"; NATS_PID=""
  done
  log "nats-server did not start; log:"; cat "$RESULTS/nats.log" >&2; return 1
}

broker_url() {
  case "$1" in
    embedded) echo embedded ;;
    redis) echo "redis://127.0.0.1:$REDIS_PORT" ;;
    nats) echo "nats://127.0.0.1:$NATS_PORT" ;;
  esac
}
broker_pid() { case "$1" in redis) echo "$REDIS_PID" ;; nats) echo "$NATS_PID" ;; *) echo "" ;; esac; }
cpu_ns() {  # Σ schedstat run time of every thread of PID (0 when none)
  local pid=$1 s=0 t
  [[ -n "$pid" ]] || { echo 0; return; }
  for t in /proc/"$pid"/task/*/schedstat; do s=$(( s + $(cut -d' ' -f1 "$t" 2>/dev/null || echo 0) )); done
  echo "$s"
}

# start_one LOG ARGS...: a fresh gateway on CPU1; prints "PID WS_PORT API_PORT" once it listens
# and (with an external broker) its worker reported the broker up.
start_one() {
  local logf=$1; shift
  local cmd=("${PIN_SERVER[@]}" "$RINGGATE" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --client-publish on --workers 1 "$@")
  printf "%q " "${cmd[@]}" >> "$CMDS"; echo >> "$CMDS"
  "${cmd[@]}" > "$logf.out" 2> "$logf" &  # not our stdout: the caller reads it through $(...)
  local pid=$! ws="" api="" up
  for _ in $(seq 1 100); do
    ws=$(grep -oP 'listening on ws://[0-9.]+:\K[0-9]+' "$logf" | head -1 || true)
    api=$(grep -oP 'api on http://[0-9.]+:\K[0-9]+' "$logf" | head -1 || true)
    up=1
    [[ " $* " == *" --broker embedded "* ]] || grep -q 'broker .* is up' "$logf" || up=0
    if [[ -n "$ws" && $up == 1 ]] && { [[ " $* " != *" --api "* ]] || [[ -n "$api" ]]; }; then
      echo "$pid $ws ${api:-0}"; return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  log "gateway did not start; log:"; cat "$logf" >&2
  stop_pid "$pid"
  return 1
}

# load TAG BROKER SERVER_PIDS ARGS...: one ringgate-load fanout run (bounded by timeout); the
# broker's CPU over the run goes to TAG.broker_ns.
load() {
  local tag=$1 broker=$2 spids=$3; shift 3
  local cmd=("${PIN_CLIENT[@]}" "$LOAD" fanout "$@" --subscribers "$SUBS" --topics "$TOPICS" --publishers "$PUBLISHERS"
             --duration "$DURATION" --warmup "$WARMUP" --size "$SIZE" --settle "$SETTLE"
             --server-pid "$spids" --json "$RESULTS/$tag.json" --quiet)
  printf "%q " "${cmd[@]}" >> "$CMDS"; echo >> "$CMDS"
  local bpid rc=0 b0 b1
  bpid=$(broker_pid "$broker")
  b0=$(cpu_ns "$bpid")
  timeout 240 "${cmd[@]}" > "$RESULTS/$tag.txt" 2>&1 || rc=$?
  b1=$(cpu_ns "$bpid")
  echo $(( b1 - b0 )) > "$RESULTS/$tag.broker_ns"
  echo "$rc" > "$RESULTS/$tag.rc"
  [[ $rc == 0 ]] || log "$tag: ringgate-load exited $rc (see $RESULTS/$tag.txt)"
}

# cell KIND BROKER VIA RATE REP: one gateway (two for twonode), one load run, gateways stopped.
cell() {
  local kind=$1 broker=$2 via=$3 rate=$4 rep=$5
  local tag="${kind}_${broker}_${via}_r$rep" url g ws api
  url=$(broker_url "$broker")
  log "$kind: $broker via $via at $rate msg/s, rep $rep"
  g=$(start_one "$RESULTS/$tag.gw.log" --broker "$url" --api 127.0.0.1:0 --api-token "$TOKEN") || return 0
  read -r GW ws api <<< "$g"
  local spids=$GW target=$api
  if [[ $kind == twonode ]]; then
    g=$(start_one "$RESULTS/$tag.gwb.log" --broker "$url" --api 127.0.0.1:0 --api-token "$TOKEN") || { stop_gw; return 0; }
    read -r GW_B _ target <<< "$g"
    spids="$GW,$GW_B"
  fi
  local extra=(--via ws)
  [[ $via == api ]] && extra=(--via api --api "http://127.0.0.1:$target" --api-token "$TOKEN")
  load "$tag" "$broker" "$spids" --url "ws://127.0.0.1:$ws/ws" --rate "$rate" "${extra[@]}"
  stop_gw
}

if [[ " $BROKERS " == *" redis "* ]] || want twonode; then start_redis; fi
if [[ " $BROKERS " == *" nats "* ]]; then start_nats; fi
STARTED=$(date -u +%FT%TZ)
for rep in $(seq 1 "$REPS"); do
  # Brokers alternate inside each repetition, so a change in the machine's load hits all of them.
  for broker in $BROKERS; do
    if want rate; then for via in ws api; do cell rate "$broker" "$via" "$RATE" "$rep"; done; fi
    if want latency; then for via in ws api; do cell lat "$broker" "$via" "$LAT_RATE" "$rep"; done; fi
  done
  if want twonode && [[ -n "$REDIS_PID" ]]; then
    cell twonode redis api "$RATE" "$rep"
    cell twolat redis api "$LAT_RATE" "$rep"
  fi
done

# ---------------------------------------------------------------- report
export RESULTS STARTED SUBS TOPICS PUBLISHERS RATE LAT_RATE SIZE DURATION USE_RT BROKERS BROKER_CPU
export GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
REPORT=$(python3 - <<'EOF'
import glob, json, os, re
R = os.environ["RESULTS"]
E = os.environ
def runs(prefix):
    out = []
    for f in sorted(glob.glob(f"{R}/{prefix}_r*.json")):
        try: d = json.load(open(f))
        except Exception: continue
        base = f[:-5]
        rc = open(base + ".rc").read().strip() if os.path.exists(base + ".rc") else "?"
        bns = int(open(base + ".broker_ns").read().strip() or 0) if os.path.exists(base + ".broker_ns") else 0
        out.append((d, rc, bns))
    return out
def ok(d, rc): return rc == "0" and d.get("ok", False)
def rng(vals, fmt):
    vals = [v for v in vals if v is not None]
    if not vals: return "n/a"
    lo, hi = min(vals), max(vals)
    return fmt(lo) if fmt(lo) == fmt(hi) else f"{fmt(lo)}–{fmt(hi)}"
ms = lambda v: f"{v/1000:.2f} ms" if v < 100_000 else f"{v/1e6:.2f} s"  # v in µs
us = lambda v: f"{v/1000:.1f} µs"
k = lambda v: f"{v/1000:,.0f}k"
def row(label, rs, emb=None):
    if not rs: return None
    good = sum(ok(d, rc) for d, rc, _ in rs)
    dps = [d["deliveries_per_second"] for d, _, _ in rs]
    ns = [d.get("server_cpu_ns_per_delivery") for d, _, _ in rs]
    p50 = [d["latency_us"]["p50"] for d, _, _ in rs]
    p90 = [d["latency_us"]["p90"] for d, _, _ in rs]
    p99 = [d["latency_us"]["p99"] for d, _, _ in rs]
    p999 = [d["latency_us"]["p999"] for d, _, _ in rs]
    bpm = [b / d["published"] if d.get("published") and b else None for d, _, b in rs]
    cores = [d.get("server_cpu_cores") for d, _, _ in rs]
    ratio = "1.00×"  # the embedded row itself
    if emb is not None:
        e = sorted(x for x in emb if x); m = sorted(x for x in ns if x)
        ratio = f"{m[len(m)//2] / e[len(e)//2]:.2f}×" if e and m else "n/a (no embedded run)"
    return (f"| {label} | {rng(dps, k)} | {rng(cores, lambda v: f'{v:.2f}')} | {rng(ns, us)} | {ratio} | "
            f"{rng(bpm, us)} | {rng(p50, ms)} | {rng(p90, ms)} | {rng(p99, ms)} | {rng(p999, ms)} | "
            f"{good}/{len(rs)} ok |")
rt = "gateway and broker CPU%s SCHED_RR, load CPU0 SCHED_FIFO" % E["BROKER_CPU"] if E["USE_RT"] == "1" else "pinned, no RT"
print(f"Ringgate {E['GIT_REV']}, {E['STARTED']}, results in {R}; {E['SUBS']} subscribers over {E['TOPICS']} topics, "
      f"{E['PUBLISHERS']} publishers, {E['SIZE']} B data, {E['DURATION']} s measured, gateway --workers 1 ({rt})\n")
hdr = ("| broker, via | deliveries/s | gateway cores | gateway CPU/delivery | CPU/delivery ÷ embedded (medians) | "
       "broker CPU per message | p50 | p90 | p99 | p99.9 | result |\n|---|---|---|---|---|---|---|---|---|---|---|")
for kind, rate in (("rate", E["RATE"]), ("lat", E["LAT_RATE"])):
    rows = []
    for via in ("ws", "api"):
        emb = [d.get("server_cpu_ns_per_delivery") for d, _, _ in runs(f"{kind}_embedded_{via}")]
        for b in E["BROKERS"].split():
            r = row(f"{b}, {via}", runs(f"{kind}_{b}_{via}"), emb if b != "embedded" else None)
            if r: rows.append(r)
    if rows:
        print(f"{'Sustained' if kind == 'rate' else 'Latency'}: {rate} msg/s\n\n{hdr}")
        print("\n".join(rows) + "\n")
for kind, rate in (("twonode", E["RATE"]), ("twolat", E["LAT_RATE"])):
    emb = [d.get("server_cpu_ns_per_delivery") for d, _, _ in runs(f"{'rate' if kind == 'twonode' else 'lat'}_embedded_api")]
    r = row("redis, api on node B -> subscribers on node A", runs(f"{kind}_redis_api"), emb)
    if r:
        print(f"Two gateways sharing Redis, {rate} msg/s (CPU summed over both gateways)\n\n{hdr}\n{r}\n")
EOF
)
echo "$REPORT"
[[ -z "$OUT" ]] || { echo "$REPORT" > "$OUT"; log "report written to $OUT"; }
log "raw results and exact commands in $RESULTS"
