#!/usr/bin/env python3
"""Turns the JSON files of bench/run-echo.sh (one per ringgate-load run) into a markdown report.

Each figure is the median over repetitions; msgs/s also shows min-max when there is more than one.
Ratios compare the first server of $SERVERS (the subject, normally ringgate) with `node`.
"""
import glob
import json
import os
import re
import statistics
import sys


def load_runs(results):
    runs = []
    for path in sorted(glob.glob(os.path.join(results, "*.json"))):
        m = re.match(r"(echo|hold)_([a-z0-9-]+)_(\d+)(?:x(\d+))?_r(\d+)\.json$", os.path.basename(path))
        if not m:
            continue
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            data = {}
        runs.append({"kind": m[1], "server": m[2], "conns": int(m[3]),
                     "size": int(m[4]) if m[4] else None, "rep": int(m[5]), "data": data})
    return runs


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, spec=",.0f"):
    return "—" if v is None else format(v, spec)


def spread(values):
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return ""
    return f" ({min(values) / 1000:.1f}k–{max(values) / 1000:.1f}k)"


# ringgate-load JSON keys (tools/load/report.cpp); cpu_us_per_msg is derived from ns per message.
SERVER_KEYS = {"rss_before": "server_rss_before_bytes", "rss_after_hold": "server_rss_after_bytes",
               "rss_bytes_per_conn": "server_rss_bytes_per_connection", "idle_cpu_cores": "server_cpu_cores"}


def server_field(run, key):
    d = run["data"]
    if key == "cpu_us_per_msg":
        ns = d.get("server_cpu_ns_per_message")
        return None if ns is None else ns / 1000.0
    return d.get(SERVER_KEYS.get(key, key))


def errors_of(runs):
    return sum(r["data"].get("errors") or 0 for r in runs) + \
        sum(1 for r in runs if not r["data"])


def echo_table(runs, servers, subject, ref):
    cells = sorted({(r["conns"], r["size"]) for r in runs if r["kind"] == "echo"})
    head = ["conns × size"]
    for s in servers:
        head += [f"{s} msg/s", f"{s} µs CPU/msg"]
    if subject != ref:
        head += [f"msg/s {subject}÷{ref}", f"CPU/msg {ref}÷{subject}"]
    if "floor" in servers and subject != "floor":
        head += [f"CPU/msg {subject}÷floor"]
    for s in servers:
        head += [f"{s} p50/p99 µs"]
    head += ["client CPU (" + "/".join(servers) + ")", "errors"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for conns, size in cells:
        row = [f"{conns} × {size} B"]
        by = {s: [r for r in runs if r["kind"] == "echo" and r["server"] == s
                  and r["conns"] == conns and r["size"] == size] for s in servers}
        mps = {s: med([r["data"].get("messages_per_second") for r in by[s]]) for s in servers}
        cpu = {s: med([server_field(r, "cpu_us_per_msg") for r in by[s]]) for s in servers}
        for s in servers:
            row += [fmt(mps[s]) + spread([r["data"].get("messages_per_second") for r in by[s]]), fmt(cpu[s], ".2f")]
        if subject != ref:
            a, b = mps.get(subject), mps.get(ref)
            row.append(f"{a / b:.2f}×" if a and b else "—")
            a, b = cpu.get(ref), cpu.get(subject)
            row.append(f"{a / b:.2f}×" if a and b else "—")
        if "floor" in servers and subject != "floor":
            a, b = cpu.get(subject), cpu.get("floor")
            row.append(f"{a / b:.2f}×" if a and b else "—")
        for s in servers:
            p50 = med([(r["data"].get("latency_us") or {}).get("p50") for r in by[s]])
            p99 = med([(r["data"].get("latency_us") or {}).get("p99") for r in by[s]])
            row.append(f"{fmt(p50)} / {fmt(p99)}")
        row.append(" / ".join(fmt(med([r["data"].get("client_cpu_cores") for r in by[s]]), ".2f") for s in servers))
        row.append(str(sum(errors_of(by[s]) for s in servers)))
        lines.append("| " + " | ".join(row) + " |")
    return lines


def hold_table(runs, servers):
    holds = [r for r in runs if r["kind"] == "hold"]
    if not holds:
        return []
    mib = 1048576.0
    lines = ["| server | idle conns | established (median) | set-up s | RSS before MiB | RSS held MiB | "
             "**RSS bytes per idle conn** | server idle CPU | errors |", "|---|---|---|---|---|---|---|---|---|"]
    slopes = []
    for s in servers:
        sizes = sorted({r["conns"] for r in holds if r["server"] == s})
        held = {}
        for n in sizes:
            rs = [r for r in holds if r["server"] == s and r["conns"] == n]
            before = med([server_field(r, "rss_before") for r in rs])
            after = med([server_field(r, "rss_after_hold") for r in rs])
            est = med([r["data"].get("connections_established") for r in rs])
            if before is not None and after is not None and est:
                held[n] = (after - before, est)
            per = [p for p in (server_field(r, "rss_bytes_per_conn") for r in rs) if p is not None]
            per_s = fmt(med(per))
            if len(per) > 1:
                per_s += f" ({min(per):,.0f}–{max(per):,.0f})"
            lines.append("| " + " | ".join([
                s, f"{n:,}", fmt(est), fmt(med([r["data"].get("time_to_establish_s") for r in rs]), ".2f"),
                fmt(before / mib if before else None, ".1f"), fmt(after / mib if after else None, ".1f"),
                f"**{per_s}**", fmt(med([server_field(r, "idle_cpu_cores") for r in rs]), ".4f"),
                str(errors_of(rs))]) + " |")
        if len(held) >= 2:
            lo, hi = min(held), max(held)
            (d_lo, e_lo), (d_hi, e_hi) = held[lo], held[hi]
            if e_hi != e_lo:
                slope = (d_hi - d_lo) / (e_hi - e_lo)
                fixed = d_lo - slope * e_lo
                slopes.append(f"{s}: {slope:,.0f} B per extra connection between {lo:,} and {hi:,} "
                              f"(plus ~{fixed / mib:.1f} MiB touched once load arrives)")
    if slopes:
        lines += ["", "Marginal RSS (slope between the two sizes): " + "; ".join(slopes) + "."]
    return lines


def main():
    results = sys.argv[1]
    env = os.environ
    servers = env.get("SERVERS", "ringgate node").split()
    subject, ref = servers[0], ("node" if "node" in servers else servers[0])
    runs = load_runs(results)
    out = ["# Echo benchmark: " + " vs ".join(servers), ""]
    out.append(f"- When: {env.get('STARTED', '?')} – {env.get('ENDED', '?')}; kernel {env.get('KERNEL', '?')}; "
               f"git {env.get('GIT_REV', '?')}")
    out.append(f"- ringgate: {env.get('RG_VERSION', 'n/a')} (build type {env.get('RINGGATE_BUILD_TYPE', '?')}), "
               "`--workers 1` for echo, ceil(N/19000) workers for holds; node: " + env.get("NODE_VERSION", "?") + " (perMessageDeflate off)")
    out.append(f"- Load: closed loop, {env.get('INFLIGHT', '1')} message(s) in flight per connection, "
               f"{env.get('WARMUP', '?')} s warm-up + {env.get('DURATION', '?')} s measured, "
               f"{env.get('REPS', '1')} repetition(s), median shown; every echo verified (opcode, length, bytes).")
    sched = {"rr": "`chrt -r 1` (SCHED_RR)", "fifo": "`chrt -f 1` (SCHED_FIFO)", "none": "default scheduling"}
    out.append(f"- Client `ringgate-load` on CPU0 under {sched.get(env.get('CLIENT_SCHED', 'fifo'), '?')}, server on CPU1 "
               f"under {sched.get(env.get('SERVER_SCHED', 'rr'), '?')}; each server started fresh per run; "
               "the servers alternate order per cell. Server CPU/msg = Δ Σ /proc/PID/task/*/schedstat over the "
               "measured window ÷ echoed messages. On 2 cores the fast servers are client-bound, so CPU/msg is "
               "the discriminating figure, not msg/s.")
    out += ["", "## Echo throughput", ""] + echo_table(runs, servers, subject, ref)
    if "floor" in servers:
        out += ["", "`floor` is bench/load/ws_floor_echo: one epoll thread, one recv + one send per message, WS "
                "framing but no UTF-8 check; it stands in for the raw TCP echo / uWS floor of perf-anchors.md "
                "(uWS measured within ~5 % of that floor), measured in the same run."]
    ht = hold_table(runs, servers + [s for s in env.get("HOLD_SERVERS", "").split() if s not in servers])
    if ht:
        out += ["", "## Idle connections (server RSS)", "",
                "RSS per idle conn = (VmRSS after holding − VmRSS of the fresh server before connecting) ÷ "
                "established connections. User-space only; the kernel adds ~4 KB per socket on each end.", ""] + ht
    firsts = sorted({(r["server"], ", ".join(f"{k}={v}" for k, v in (r["data"].get("errors_by_cause") or {}).items()))
                     for r in runs if r["data"].get("errors")})
    if firsts:
        out += ["", "First error per server: " + "; ".join(f"{s}: {e}" for s, e in firsts)]
    cmds_path = os.path.join(results, "commands.txt")
    if os.path.exists(cmds_path):
        with open(cmds_path) as f:
            cmds = f.read().rstrip("\n")
        out += ["", "## Exact commands (in run order; raw JSON in " + results + ")", "", "```", cmds, "```"]
    print("\n".join(out))


if __name__ == "__main__":
    main()
