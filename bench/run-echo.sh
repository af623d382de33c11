#!/usr/bin/env bash
# End-to-end echo benchmark: Ringgate (--workers 1; holds: ceil(N/19000)) side by side with the Node `ws` echo server
# and ws_floor_echo (a minimal epoll WebSocket echo: the same-run floor, one syscall pair per msg).
# Client (tools/load: ringgate-load, io_uring) pinned to CPU0 under SCHED_FIFO 1, server pinned to CPU1 (see
# shared/research/perf-anchors.md §1: on this 2-core box nice does nothing and runs are
# client-bound, so server CPU per message is the discriminating figure). Every server is started
# fresh on a kernel-chosen free port for each run, killed by PID, and the two servers alternate
# order per matrix cell so their ratio is measured under the same neighbours. Only 127.0.0.1.
# Servers run SCHED_RR by default, not FIFO: stock node pinned to one CPU under SCHED_FIFO
# livelocks (its main thread spins on an async wake-up waiting for V8 worker threads that
# FIFO never lets run on that CPU), which cut node to a third of its throughput and burned a
# full core while idle. RR is identical for a single runnable thread and time-slices the rest.
#
# usage: bench/run-echo.sh [--out FILE] [--warmup S] [--duration S] [--reps N]
#          [--conns "100 1000"] [--sizes "16 1024"] [--inflight K]
#          [--hold-conns "N..."] [--hold-rate PER_S] [--hold-duration S] [--no-hold] [--servers "ringgate node floor"]
#          [--hold-servers "ringgate node"]
#          [--ringgate PATH] [--ringgate-args "..."] [--node-args "..."] [--build-dir DIR] [--results DIR]
#          [--server-sched rr|fifo|none] [--no-rt]
# ringgate-load (and ringgate, unless --ringgate is given) are built (Release) in BUILD_DIR/main;
# ws_floor_echo in BUILD_DIR/load. Hold cells give each server enough rings / processes for the
# 20,000-file cap: ringgate --workers ceil(N/19000), node --procs ceil(N/19000) (cluster module). Writes a markdown report to stdout and to --out.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=""
WARMUP=2
DURATION=5
REPS=1
CONNS="100 1000"
SIZES="16 1024"
INFLIGHT=1
HOLD_CONNS="10000 100000"  # two sizes separate the fixed cost from the per-connection slope
HOLD_RATE=20000
HOLD_DURATION=5
DO_HOLD=1
SERVERS="ringgate node floor"
HOLD_SERVERS="ringgate node"
RINGGATE=""
RINGGATE_ARGS=""
NODE_ARGS=""
SERVER_SCHED=rr
BUILD_DIR=/work/build-bench
RESULTS=""
USE_RT=1

die() { echo "run-echo.sh: $*" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --sizes) SIZES=$2; shift 2 ;;
    --inflight) INFLIGHT=$2; shift 2 ;;
    --hold-conns) HOLD_CONNS=$2; shift 2 ;;
    --hold-duration) HOLD_DURATION=$2; shift 2 ;;
    --hold-rate) HOLD_RATE=$2; shift 2 ;;
    --no-hold) DO_HOLD=0; shift ;;
    --servers) SERVERS=$2; shift 2 ;;
    --hold-servers) HOLD_SERVERS=$2; shift 2 ;;
    --ringgate) RINGGATE=$2; shift 2 ;;
    --ringgate-args) RINGGATE_ARGS=$2; shift 2 ;;
    --node-args) NODE_ARGS=$2; shift 2 ;;
    --server-sched) SERVER_SCHED=$2; shift 2 ;;
    --build-dir) BUILD_DIR=$2; shift 2 ;;
    --results) RESULTS=$2; shift 2 ;;
    --no-rt) USE_RT=0; shift ;;
    -h|--help) sed -n '2,23p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown flag $1" ;;
  esac
done
[[ -n "$RESULTS" ]] || RESULTS=$(mktemp -d /tmp/run-echo.XXXXXX)
mkdir -p "$RESULTS"
CMDS="$RESULTS/commands.txt"
: > "$CMDS"
log() { echo "[run-echo $(date +%T)] $*" >&2; }

# ---------------------------------------------------------------- build
log "building ws_floor_echo (Release) in $BUILD_DIR/load"
cmake -G Ninja -S "$ROOT/bench/load" -B "$BUILD_DIR/load" -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$BUILD_DIR/load" -j1 ws_floor_echo >/dev/null
FLOOR="$BUILD_DIR/load/ws_floor_echo"
log "building ringgate-load (Release) in $BUILD_DIR/main"
cmake -G Ninja -S "$ROOT" -B "$BUILD_DIR/main" -DCMAKE_BUILD_TYPE=Release \
  -DRINGGATE_TESTS=OFF -DRINGGATE_BENCH=OFF >/dev/null
ninja -C "$BUILD_DIR/main" -j1 ringgate-load >/dev/null
LOAD="$BUILD_DIR/main/tools/load/ringgate-load"

if [[ " $SERVERS $HOLD_SERVERS " == *" node "* ]]; then
  if [[ ! -d "$ROOT/bench/load/node_modules/ws" ]]; then
    log "installing node deps (npm ci) in bench/load"
    (cd "$ROOT/bench/load" && npm ci --no-audit --no-fund >/dev/null)
  fi
fi
if [[ " $SERVERS $HOLD_SERVERS " == *" ringgate "* && -z "$RINGGATE" ]]; then
  log "building ringgate (Release) in $BUILD_DIR/main"
  ninja -C "$BUILD_DIR/main" -j1 ringgate >/dev/null
  RINGGATE="$BUILD_DIR/main/src/app/ringgate"
fi
RINGGATE_BUILD_TYPE="n/a"
if [[ -n "$RINGGATE" ]]; then
  [[ -x "$RINGGATE" ]] || die "ringgate binary not found: $RINGGATE"
  cache="$(dirname "$(dirname "$(dirname "$RINGGATE")")")/CMakeCache.txt"
  [[ -f "$cache" ]] && RINGGATE_BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$cache")
fi

# ---------------------------------------------------------------- servers
PIN_SERVER=(taskset -c 1)
PIN_CLIENT=(taskset -c 0)
[[ $USE_RT == 1 ]] || SERVER_SCHED=none
case "$SERVER_SCHED" in
  rr) PIN_SERVER+=(chrt -r 1) ;;
  fifo) PIN_SERVER+=(chrt -f 1) ;;
  none) ;;
  *) die "--server-sched must be rr, fifo or none" ;;
esac
[[ $USE_RT == 1 ]] && PIN_CLIENT+=(chrt -f 1)
SERVER_PID=""
SERVER_PORT=""

stop_server() {
  [[ -n "$SERVER_PID" ]] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
trap stop_server EXIT

# start_server NAME LOGFILE [CONNS]: sets SERVER_PID and SERVER_PORT (kernel-chosen free port).
# CONNS (hold cells) sizes ringgate's rings and node's processes for the 20,000-file cap.
start_server() {
  local name=$1 logf=$2 conns=${3:-0} cmd
  local units=$(( conns > 19000 ? (conns + 18999) / 19000 : 1 ))
  case "$name" in
    ringgate) cmd=("${PIN_SERVER[@]}" "$RINGGATE" --listen 127.0.0.1:0 --workers "$units" $RINGGATE_ARGS) ;;
    node) cmd=("${PIN_SERVER[@]}" node $NODE_ARGS "$ROOT/bench/load/node-ws-echo.js" --port 0 --procs "$units") ;;
    floor) cmd=("${PIN_SERVER[@]}" "$FLOOR" --port 0) ;;
    *) die "unknown server $name" ;;
  esac
  echo "${cmd[*]}" >> "$CMDS"
  : > "$logf"
  "${cmd[@]}" 2> "$logf" &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    SERVER_PORT=$(grep -oP 'listening on ws://[0-9.]+:\K[0-9]+' "$logf" | head -1 || true)
    [[ -n "$SERVER_PORT" ]] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  log "server $name did not start; log:"; cat "$logf" >&2
  stop_server
  return 1
}

# server_pids: the server process and its children (node --procs), comma-separated.
server_pids() {
  local kids
  kids=$(pgrep -d, -P "$SERVER_PID" 2>/dev/null || true)
  echo "$SERVER_PID${kids:+,$kids}"
}

# run_client NAME JSON ARGS...: one ringgate-load run against the current server.
run_client() {
  local name=$1 json=$2; shift 2
  local cmd=("${PIN_CLIENT[@]}" "$LOAD" "$@" --url "ws://127.0.0.1:$SERVER_PORT/echo"
             --server-pid "$(server_pids)" --json "$json" --quiet)
  echo "${cmd[*]}" >> "$CMDS"
  local rc=0
  timeout 180 "${cmd[@]}" > "${json%.json}.txt" 2>&1 || rc=$?
  [[ $rc == 0 ]] || log "$name: ringgate-load exited $rc (see ${json%.json}.txt)"
  return 0
}

ordered_servers() {  # alternate the order per cell so drift hits all servers alike
  local flip=$1 s=($2)
  if (( flip % 2 == 1 )); then printf '%s\n' "${s[@]}" | tac; else printf '%s\n' "${s[@]}"; fi
}

# ---------------------------------------------------------------- matrix
STARTED=$(date '+%F %T')
cell=0
for rep in $(seq 1 "$REPS"); do
  for c in $CONNS; do
    for sz in $SIZES; do
      cell=$((cell + 1))
      for s in $(ordered_servers $cell "$SERVERS"); do
        tag="echo_${s}_${c}x${sz}_r${rep}"
        log "$tag"
        start_server "$s" "$RESULTS/$tag.server.log" || continue
        run_client "$tag" "$RESULTS/$tag.json" echo --connections "$c" --size "$sz" --inflight "$INFLIGHT" \
          --warmup "$WARMUP" --duration "$DURATION"
        stop_server
      done
    done
  done
  if [[ $DO_HOLD == 1 ]]; then
    for hc in $HOLD_CONNS; do
      cell=$((cell + 1))
      for s in $(ordered_servers $cell "$HOLD_SERVERS"); do
        tag="hold_${s}_${hc}_r${rep}"
        log "$tag"
        start_server "$s" "$RESULTS/$tag.server.log" "$hc" || continue
        sleep 1  # let the fresh server settle (and node fork its workers) before baseline RSS
        run_client "$tag" "$RESULTS/$tag.json" hold --connections "$hc" --rate "$HOLD_RATE" \
          --duration "$HOLD_DURATION" --connect-timeout 60
        stop_server
      done
    done
  fi
done
ENDED=$(date '+%F %T')

# ---------------------------------------------------------------- report
RG_VERSION="n/a"
[[ -n "$RINGGATE" ]] && RG_VERSION=$("$RINGGATE" --version 2>&1 | head -1 || true)
NODE_VERSION="$(node --version) + ws $(node -p "require('$ROOT/bench/load/node_modules/ws/package.json').version" 2>/dev/null || echo '?')"
export STARTED ENDED RG_VERSION RINGGATE_BUILD_TYPE NODE_VERSION SERVERS RESULTS WARMUP DURATION INFLIGHT REPS
export HOLD_SERVERS SERVER_SCHED CLIENT_SCHED=$([[ $USE_RT == 1 ]] && echo fifo || echo none)
export GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
export KERNEL=$(uname -r)
REPORT=$(python3 "$ROOT/bench/load/summarize_echo.py" "$RESULTS")
echo "$REPORT"
[[ -z "$OUT" ]] || { echo "$REPORT" > "$OUT"; log "report written to $OUT"; }
log "raw results in $RESULTS"
