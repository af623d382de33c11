#!/usr/bin/env bash
# Worker responsiveness under attack (issue 13): the p50/p99/max round trip of an honest /echo
# client (an established connection echoing every 10 ms, plus a fresh connection every 100 ms)
# while each attack class of tests/integration/python/hostile_clients.py runs against a gateway
# with --workers 1 (so the attacker shares the honest client's worker), for a "before" and an
# "after" binary side by side: within each repetition every class runs on both, their order
# alternating per cell, so the shared machine's load hits both alike. Per cell: a fresh gateway
# on kernel-chosen 127.0.0.1 ports, a baseline window with no attack, then the attack sustained
# for --seconds (a new round as soon as one has finished), VmRSS growth, and SIGTERM with the
# attack connected (--drain-timeout 1; SIGKILL after 6 s). The admin class also times /healthz
# and /metrics. Probes that got no answer within 2 s are counted as timeouts (and recorded as
# 2000 ms), never dropped. Driver: bench/hostile_bench.py (/usr/bin/python3, no extra packages).
# Not pinned: gateway, probe and attacker share both cores, as in production.
# Builds nothing; the whole run is bounded by `timeout` (the driver kills what it started).
#
# usage: bench/run-hostile.sh [--reps N (3)] [--seconds S (5)] [--baseline-seconds S (2)]
#          [--before BIN] [--after BIN (build/release/src/app/ringgate)]
#          [--classes ping_flood,pong_flood,...] [--json FILE] [--out FILE] [--results DIR]
# Classes: ping_flood pong_flood close_then_frames tiny_frames fragment_flood fragmented_messages
#          slow_reader slow_subscriber slowloris admin_slowloris request_barrage (default: all)
# Without --before, only the --after binary is measured (no ratio column).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ORIG_ARGS="$*"
PY=/usr/bin/python3
REPS=3
SECONDS_=5
BASELINE=2
BEFORE=""
AFTER=${RINGGATE:-$ROOT/build/release/src/app/ringgate}
CLASSES=""
JSON=""
OUT=""
RESULTS=""
die() { echo "run-hostile.sh: $*" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --reps) REPS=$2; shift 2 ;;
    --seconds) SECONDS_=$2; shift 2 ;;
    --baseline-seconds) BASELINE=$2; shift 2 ;;
    --before) BEFORE=$2; shift 2 ;;
    --after) AFTER=$2; shift 2 ;;
    --classes) CLASSES=$2; shift 2 ;;
    --json) JSON=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --results) RESULTS=$2; shift 2 ;;
    -h|--help) sed -n '2,21p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown flag $1" ;;
  esac
done
[[ -x "$AFTER" ]] || die "no gateway binary at $AFTER (--after BIN)"
[[ -z "$BEFORE" || -x "$BEFORE" ]] || die "no gateway binary at $BEFORE (--before BIN)"
[[ -x "$PY" ]] || die "$PY is missing (Debian's python3)"
[[ -n "$RESULTS" ]] || RESULTS=$(mktemp -d /tmp/run-hostile.XXXXXX)
mkdir -p "$RESULTS"

# Snapshots: a shared build directory may be rebuilt during the run; every cell of a label
# must run the same binary.
mkdir -p "$RESULTS/bin"
BINS=()
DESC=""
snapshot() {  # LABEL PATH
  cp "$2" "$RESULTS/bin/$1"
  BINS+=(--binary "$1=$RESULTS/bin/$1")
  DESC+="${DESC:+, }$1 = \`$2\` (sha256 $(sha256sum "$2" | cut -c1-12), built $(date -r "$2" '+%F %T'))"
}
[[ -z "$BEFORE" ]] || snapshot before "$BEFORE"
snapshot after "$AFTER"
ARGS=("${BINS[@]}" --reps "$REPS" --seconds "$SECONDS_" --baseline-seconds "$BASELINE" --results "$RESULTS")
[[ -z "$CLASSES" ]] || ARGS+=(--classes "$CLASSES")
[[ -z "$JSON" ]] || ARGS+=(--json "$JSON")

# Bound: per cell the two windows, probe start/stop (<= 30 s when a gateway is frozen) and a
# SIGTERM that may need its 6 s; the driver turns SIGTERM into cleanup of its own processes.
n_classes=11
[[ -z "$CLASSES" ]] || n_classes=$(tr ',' '\n' <<<"$CLASSES" | grep -c .)
cells=$(( REPS * n_classes * (${#BINS[@]} / 2) ))
budget=$(( cells * (${SECONDS_%.*} + ${BASELINE%.*} + 60) + 60 ))
echo "[run-hostile $(date +%T)] $cells cells, load average $(cut -d' ' -f1-3 /proc/loadavg), bound ${budget}s;" \
     "gateway logs in $RESULTS" >&2
echo "$0 $ORIG_ARGS" > "$RESULTS/command.txt"
REPORT="Binaries: $DESC; git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')."$'\n\n'
REPORT+=$(timeout -k 20 "$budget" "$PY" "$ROOT/bench/hostile_bench.py" "${ARGS[@]}")
echo "$REPORT"
[[ -z "$OUT" ]] || { echo "$REPORT" > "$OUT"; echo "[run-hostile] report written to $OUT" >&2; }
echo "[run-hostile $(date +%T)] done, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
