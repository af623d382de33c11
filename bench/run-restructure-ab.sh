#!/usr/bin/env bash
# Before/after driver (first used for issue 14): alternates two gateway binaries, BEFORE (A) and
# AFTER (B), cell by cell, the order flipped per cell (AB, BA, ...), with one ringgate-load for both
# arms, so only the server differs. Summarise with bench/summarize_ab.py OUTD.
# usage: BEFORE=path/to/ringgate AFTER=path/to/ringgate LOAD=path/to/ringgate-load \
#        [OUTD=dir] [ECHO_REPS=5] [FAN_REPS=3] [SIZES="16 1024"] [RATES="1000 2000 4000"] bench/run-restructure-ab.sh
# echo cells: the exact command lines of bench/run-echo.sh (--servers ringgate, --no-hold), run directly
#   because run-echo.sh always builds ringgate-load from the working tree;
# fanout cells: bench/run-fanout.sh --only rate itself (one rate per invocation), RINGGATE/RINGGATE_LOAD env.
set -uo pipefail
OUTD=${OUTD:-/tmp/bench14/runN}
ECHO_REPS=${ECHO_REPS:-5}
FAN_REPS=${FAN_REPS:-3}
SIZES=${SIZES:-"16 1024"}
RATES=${RATES:-"1000 2000 4000"}
DO_ECHO=${DO_ECHO:-1}
DO_FAN=${DO_FAN:-1}
A=${BEFORE:?set BEFORE to the gateway binary before the change}
B=${AFTER:?set AFTER to the gateway binary after the change}
LOAD=${LOAD:?set LOAD to the ringgate-load binary both arms use}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$OUTD"; CMDS=$OUTD/commands.txt
log() { echo "[drive $(date +%T)] $* (load $(cut -d' ' -f1-3 /proc/loadavg))" | tee -a "$OUTD/drive.log" >&2; }
bin_of() { [[ $1 == before ]] && echo "$A" || echo "$B"; }
SPID=""
stop_server() {
  [[ -n "$SPID" ]] || return 0
  kill -TERM "$SPID" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SPID" 2>/dev/null || true
  wait "$SPID" 2>/dev/null || true
  SPID=""
}
trap stop_server EXIT
echo_cell() {  # arm size rep
  local arm=$1 sz=$2 rep=$3 rg port="" tag
  rg=$(bin_of "$arm"); tag="echo_${arm}_100x${sz}_r${rep}"
  local scmd=(taskset -c 1 chrt -r 1 "$rg" --listen 127.0.0.1:0 --workers 1)
  echo "${scmd[*]}" >> "$CMDS"
  "${scmd[@]}" 2> "$OUTD/$tag.server.log" & SPID=$!
  for _ in $(seq 1 100); do
    port=$(grep -oP 'listening on ws://[0-9.]+:\K[0-9]+' "$OUTD/$tag.server.log" | head -1 || true)
    [[ -n "$port" ]] && break; sleep 0.1
  done
  [[ -n "$port" ]] || { log "$tag: server did not start"; stop_server; return; }
  local ccmd=(taskset -c 0 chrt -f 1 "$LOAD" echo --connections 100 --size "$sz" --inflight 1 --warmup 2 --duration 5
              --url "ws://127.0.0.1:$port/echo" --server-pid "$SPID" --json "$OUTD/$tag.json" --quiet)
  echo "${ccmd[*]}" >> "$CMDS"
  timeout 180 "${ccmd[@]}" > "$OUTD/$tag.txt" 2>&1 || log "$tag: ringgate-load rc=$?"
  stop_server
}
fan_cell() {  # arm rate rep
  local arm=$1 r=$2 rep=$3 tag
  tag="fan_${arm}_${r}_r${rep}"
  echo "RINGGATE=$(bin_of "$arm") RINGGATE_LOAD=$LOAD bench/run-fanout.sh --only rate --rates $r --reps 1 --results $OUTD/$tag" >> "$CMDS"
  RINGGATE=$(bin_of "$arm") RINGGATE_LOAD=$LOAD timeout 300 "$ROOT/bench/run-fanout.sh" --only rate --rates "$r" --reps 1 \
    --results "$OUTD/$tag" > "$OUTD/$tag.report.md" 2> "$OUTD/$tag.stderr" || log "$tag: run-fanout rc=$?"
}
flip=0
order() { flip=$((flip + 1)); if (( flip % 2 )); then echo "before after"; else echo "after before"; fi; }
MAXREP=$(( ECHO_REPS > FAN_REPS ? ECHO_REPS : FAN_REPS ))
for rep in $(seq 1 "$MAXREP"); do
  if [[ $DO_ECHO == 1 ]] && (( rep <= ECHO_REPS )); then
    for sz in $SIZES; do for arm in $(order); do log "echo $arm 100x$sz rep $rep"; echo_cell "$arm" "$sz" "$rep"; done; done
  fi
  if [[ $DO_FAN == 1 ]] && (( rep <= FAN_REPS )); then
    for r in $RATES; do for arm in $(order); do log "fanout $arm rate $r rep $rep"; fan_cell "$arm" "$r" "$rep"; done; done
  fi
done
log done
