#!/usr/bin/python3
"""Worker responsiveness under attack (issue 13): the latency an honest /echo client sees while
one attack class from tests/integration/python/hostile_clients.py runs, for two gateway binaries
side by side (before and after the issue-13 fixes). Entry point: bench/run-hostile.sh.

For each repetition, each class and each binary (their order alternating per cell, so that the
shared machine's drift hits both alike), a fresh gateway with ONE worker (the attacker shares
the honest client's worker) on kernel-chosen loopback ports:
  1. baseline: EchoProbe (a child process: attacker threads here cannot delay it through the GIL)
     for --baseline-seconds, no attack;
  2. attack: a new EchoProbe, then the attack for --seconds, sustained: when one round of the
     attack has finished (everything sent, or the gateway closed it) it is closed and the next
     round starts, so the worker is under attack for the whole window. VmRSS sampled every 20 ms
     (the attack is stopped if it grows by more than 512 MiB);
  3. SIGTERM with the last round still connected: seconds to exit (--drain-timeout 1), SIGKILL
     after 6 s.
EchoProbe's timeout is 2 s: a round trip with no answer within it (or a failed fresh connection)
is recorded as >= 2000 ms and counted here as a timeout, never dropped.
Prints a markdown report (per-class tables: ranges over the repetitions, ratio of medians) and
optionally writes every raw figure as JSON (`hostile_bench.py --report FILE.json` prints the
report from it again). Kills only the processes it started.
"""
import argparse
import json
import os
import signal
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "python"))
import ringgate_harness as rh  # noqa: E402
import hostile_clients as hc  # noqa: E402

TIMEOUT_MS = 2000.0      # EchoProbe's per-probe timeout
DRAIN_S = 1.0            # --drain-timeout
KILL_AFTER_S = 6.0       # SIGKILL a gateway still running this long after SIGTERM
API_TOKEN = "bench-hostile-token"
MAX_HEAD = 8192


# -- attack classes ---------------------------------------------------------------------------
def _cached(attack):
    """Builds an attack's payload once per class: later rounds send the same bytes, so the
    attacker's Python spends its CPU sending, not building frames."""
    cache = _cached.store.setdefault(type(attack).__name__ + str(getattr(attack, "count", "")), [])
    build = attack.payload

    def payload():
        if not cache:
            cache.append(build())
        return cache[0]
    attack.payload = payload
    return attack


_cached.store = {}


def _flood(cls, **kw):
    return lambda s, left, ctx: [_cached(cls(s.port, duration=left, **kw))]


def _slowloris_all(s, left, ctx):
    api_head = (f"POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {API_TOKEN}\r\n"
                f"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n").encode()
    pad = ("X-Pad: " + "a" * 4000 + "\r\n").encode()
    lor = lambda port, data, **kw: hc.Slowloris(port, data, conns=10, duration=left, **kw)  # noqa: E731
    return [lor(s.port, hc.slow_head()), lor(s.tls_port, hc.client_hello()),
            lor(s.tls_port, hc.slow_head(), tls=True), lor(s.api_port, api_head[:-2] + pad),
            lor(s.api_port, b'{"topic":"t","data":"' + b"b" * 99000, prefix=api_head),
            lor(s.redirect_ports[0], b"GET /x HTTP/1.1\r\nHost: h\r\n" + pad)]


def _admin_slowloris(s, left, ctx):
    head = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 200 + b"\r\n"
    return [hc.Slowloris(s.admin_port, head, conns=50, interval=1.0, duration=left)]


def _barrage(s, left, ctx):
    """The repeated/conflicting-header and oversize cases of test_hostile, over and over."""
    up = hc.request()
    api_cl = (f"POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {API_TOKEN}\r\n"
              f"Content-Length: 25\r\nContent-Length: 26\r\n\r\n" + '{"topic":"t","data":11}  ').encode()
    cases = {
        "two Host": hc.request(headers=["Host: evil.example"]),
        "two keys": hc.request(headers=["Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]),
        "two Content-Length": hc.request(headers=["Content-Length: 0", "Content-Length: 5"], body=b"hello"),
        "API two Content-Length": (api_cl, b"", s.api_port),
        "100 X-Forwarded-For": hc.request(headers=[f"X-Forwarded-For: 10.0.{i}.1" for i in range(100)]),
        "head under limit": hc.head_of_size(MAX_HEAD - 16),
        "head over limit": hc.head_of_size(MAX_HEAD + 100),
        "60 fields": hc.many_headers(55, value_bytes=130),
        "frame 2**63": (up, hc.frame_header(rh.OP_BINARY, 1 << 63)),
        "message over limit": (up, hc.frame(rh.OP_BINARY, bytes(65537))),
        "fragments over limit": (up, hc.frame(rh.OP_BINARY, bytes(40000), fin=False)
                                 + hc.frame(rh.OP_CONT, bytes(40000))),
        "ping payload 126": (up, hc.frame(rh.OP_PING, bytes(126))),
        "PROXY garbage": b"PROXY TCP4 1.2.3.400 5.6.7.8 1 2\r\n" + up,
    }
    return [hc.RequestBarrage(s.port, cases, duration=left)]


def _slow_subscriber(s, left, ctx):
    ctx["round"] = ctx.get("round", 0) + 1
    return [hc.SlowSubscriber(s.port, topic=f"bench.slow{ctx['round']}", count=4000, size=4096,
                              duration=left)]


def _all_listener_flags(tmp):
    cert = rh.make_cert(tmp, "bench")
    return ["--handshake-timeout", "1.5", "--listen-tls", "127.0.0.1:0", "--tls-cert", cert[0],
            "--tls-key", cert[1], "--redirect-http", "127.0.0.1:0", "--api", "127.0.0.1:0",
            "--api-token", API_TOKEN]


# name -> (description, extra gateway flags (tmp dir -> list), attacks(server, seconds left, ctx),
#          probe the admin port too)
CLASSES = {
    "ping_flood": ("40,000 empty pings on one connection that never reads (finding 1)",
                   lambda t: [], _flood(hc.PingFlood, count=40000), False),
    "pong_flood": ("100,000 unsolicited pongs", lambda t: [], _flood(hc.PongFlood, count=100000), False),
    "close_then_frames": ("a close, then 100,000 text frames and pings",
                          lambda t: [], _flood(hc.CloseThenFrames, count=100000), False),
    "tiny_frames": ("100,000 1-byte messages on /echo, never reading the echoes",
                    lambda t: [], _flood(hc.TinyFrameFlood, count=100000), False),
    "fragment_flood": ("one message of 100,000 1-byte fragments",
                       lambda t: [], _flood(hc.FragmentFlood, count=100000), False),
    "fragmented_messages": ("20,000 messages of 4 fragments, never reading",
                            lambda t: [], _flood(hc.FragmentedMessages, count=20000), False),
    "slow_reader": ("16 MiB of 64 KiB messages to /echo, SO_RCVBUF 4096, never reading",
                    lambda t: [], _flood(hc.SlowReader, count=256, size=65536), False),
    "slow_subscriber": ("a /ws subscriber that never reads, 4 KiB publishes to its topic",
                        lambda t: ["--client-publish", "on"], _slow_subscriber, False),
    "slowloris": ("10 slowloris connections each on the WebSocket head, TLS ClientHello, head inside "
                  "TLS, API head, API body and redirect listeners (--handshake-timeout 1.5)",
                  _all_listener_flags, _slowloris_all, False),
    "admin_slowloris": ("50 connections trickling a byte a second into the admin port (finding 2)",
                        lambda t: [], _admin_slowloris, True),
    "request_barrage": ("repeated/conflicting headers and oversized heads, frames and messages, "
                        "sent over and over", lambda t: ["--trusted-proxies", "127.0.0.1/32", "--api",
                        "127.0.0.1:0", "--api-token", API_TOKEN, "--max-message-bytes", "65536",
                        "--proxy-protocol", "optional"], _barrage, False),
}


# -- measurement ------------------------------------------------------------------------------
def pct(values, q):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def probe_stats(result):
    """The figures of one probe window (ms); timeouts: samples at the probe's 2 s timeout."""
    est, fresh, admin = result.established, result.fresh, result.admin
    return {"n": len(est), "p50": pct(est, 0.5), "p99": pct(est, 0.99), "max": max(est, default=None),
            "fresh_n": len(fresh), "fresh_p99": pct(fresh, 0.99), "admin_n": len(admin),
            "admin_p99": pct(admin, 0.99),
            "timeouts": sum(1 for v in est + fresh + admin if v >= TIMEOUT_MS),
            "errors": len(result.errors), "first_errors": result.errors[:3]}


def probe_window(server, admin, seconds, during=None):
    """An EchoProbe for `seconds` (`during(seconds)` runs the attack meanwhile); its stats."""
    probe = hc.ProbeProcess(server.port, server.admin_port if admin else None,
                            max_seconds=seconds + 30)
    try:
        if during:
            extra = during(seconds)
        else:
            time.sleep(seconds)  # a measuring window, not a wait for a condition
            extra = {}
        return probe.finish(timeout=30), extra
    finally:
        probe.kill()


def sustained(server, make, seconds, sampler, live):
    """Runs rounds of the attack until `seconds` are up; the last round stays in `live`."""
    end, ctx, rounds, errors = time.monotonic() + seconds, {}, 0, []
    while time.monotonic() < end - 0.05 and not sampler.aborted:
        for a in live:
            a.close()
        live[:] = make(server, end - time.monotonic(), ctx)
        sampler.attacks = list(live)
        for a in live:
            a.start()
        rounds += 1
        while time.monotonic() < end and not all(a.done.is_set() for a in live):
            time.sleep(0.02)
        for a in live:
            if a.done.is_set() and time.monotonic() < end:
                processed(a, end)
        errors += [repr(a.error)[:160] for a in live if a.error is not None and a.done.is_set()]
    return {"rounds": rounds, "attack_errors": errors[:3], "rss_aborted": sampler.aborted}


MARKER = b"bench-hostile-round-done"


def processed(a, end):
    """Waits (until `end`) for the gateway to have processed a frame flood that is all sent,
    reading its answers only now (the attacker never reads during the flood). Without this the
    next round's close would reset a connection whose bytes still sat unread in the gateway's
    socket buffer, and the kernel would throw the attack away instead of the worker handling
    it. Ping flood: up to the last ping's pong; close-then-frames: up to EOF; others: a text
    frame after the flood, up to its echo."""
    if not isinstance(a, hc._FrameFlood) or a.result is not None:
        return
    try:
        if isinstance(a, hc.PingFlood):
            a.read_pongs(timeout=max(0.0, end - time.monotonic()))
        elif isinstance(a, hc.CloseThenFrames):
            rh.read_until_eof(a.sock, timeout=max(0.01, end - time.monotonic()))
        else:
            a.sock.settimeout(max(0.01, end - time.monotonic()))
            a.sock.sendall(hc.frame(rh.OP_TEXT, MARKER))
            reader = hc.FrameReader(a.sock, a.leftover)
            while (f := reader.next(end)) is not None and f != (True, rh.OP_TEXT, MARKER):
                pass
    except (OSError, EOFError, AssertionError):
        pass


def drain(server):
    """SIGTERM with the attack connected: (seconds to exit, exit code or None if killed)."""
    t0 = time.monotonic()
    server.signal(signal.SIGTERM)
    code = server.wait(KILL_AFTER_S)
    took = time.monotonic() - t0
    if code is None:
        server.kill()
    return took, code


def run_cell(binary, cls, seconds, baseline_s, tmp):
    """One gateway, one class: baseline, attack, drain. Returns the record."""
    desc, flags, make, admin = CLASSES[cls]
    os.environ["RINGGATE_BIN"] = binary
    server = rh.Server("--workers", "1", "--drain-timeout", str(DRAIN_S), *flags(tmp))
    live, rec = [], {"loadavg": os.getloadavg()[0]}
    try:
        server.start()
        base, _ = probe_window(server, admin, baseline_s)
        rec["baseline"] = probe_stats(base)
        sampler = hc.RssSampler(server.pid())
        sampler.start()
        try:
            res, extra = probe_window(server, admin, seconds,
                                      lambda s: sustained(server, make, s, sampler, live))
        finally:
            rec["rss_mib"] = sampler.finish() / 1024
        rec["attack"] = probe_stats(res)
        rec.update(extra)
        rec["sigterm_s"], rec["exit_code"] = drain(server)
    finally:
        for a in live:
            a.close()
        server.kill()
    return rec


# -- report -----------------------------------------------------------------------------------
def _fmt(v, capped=False):
    """capped: a latency at the probe's timeout is a lower bound (the stall lasted longer)."""
    if v is None:
        return "–"
    if isinstance(v, int):
        return str(v)
    if capped and v >= TIMEOUT_MS:
        return f"≥{TIMEOUT_MS:.0f}"
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def _range(vals, capped=False):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "–"
    lo, hi = _fmt(min(vals), capped), _fmt(max(vals), capped)
    return lo if lo == hi else f"{lo}–{hi}"


def _ratio(a, b):
    """Median of a over median of b; a lower bound (≥) when a's median is a timeout."""
    a, b = [v for v in a if v is not None], [v for v in b if v is not None]
    if not a or not b or statistics.median(b) <= 0:
        return "–"
    ma = statistics.median(a)
    return f"{'≥' if ma >= TIMEOUT_MS else ''}{ma / statistics.median(b):.1f}×"


ROWS = [  # label, figure of a record, ratio column
    ("baseline echo p99 (ms)", lambda r: r["baseline"]["p99"], True),
    ("attack echo p50 (ms)", lambda r: r["attack"]["p50"], True),
    ("attack echo p99 (ms)", lambda r: r["attack"]["p99"], True),
    ("attack echo max (ms)", lambda r: r["attack"]["max"], True),
    ("attack fresh connection p99 (ms)", lambda r: r["attack"]["fresh_p99"], True),
    ("timeouts (probes > 2 s)", lambda r: r["attack"]["timeouts"], False),
    ("probes sent (echo + fresh + admin)", lambda r: _probes(r["attack"]), False),
    ("echo samples (established)", lambda r: r["attack"]["n"], False),
    ("attack rounds", lambda r: r["rounds"], False),
    ("RSS growth (MiB)", lambda r: r["rss_mib"], False),
    ("SIGTERM to exit (s)", lambda r: r["sigterm_s"], False),
]
def _probes(st):
    """Every probe sent: after a timeout a probe thread waits 2 s per try, so few probes with
    all of them timeouts means the worker answered nothing for the whole window."""
    return st["n"] + st["fresh_n"] + st["admin_n"]


ADMIN_ROWS = [("baseline admin p99 (ms)", lambda r: r["baseline"]["admin_p99"], True),
              ("attack admin p99 (ms)", lambda r: r["attack"]["admin_p99"], True),
              ("attack admin probes sent", lambda r: r["attack"]["admin_n"], False)]


def class_table(cls, labels, recs):
    """Markdown: one row per figure, one column per binary (range over repetitions)."""
    ratio = len(labels) == 2
    head = "| | " + " | ".join(labels) + (f" | {labels[0]} ÷ {labels[1]} |" if ratio else " |")
    out = [f"**{cls}**: {CLASSES[cls][0]}.", "", head, "|---" * (len(labels) + 1 + ratio) + "|"]
    for label, get, with_ratio in ROWS + (ADMIN_ROWS if CLASSES[cls][3] else []):
        cols = [[get(r) for r in recs[(cls, b)]] for b in labels]
        row = f"| {label} | " + " | ".join(_range(c, with_ratio) for c in cols)
        out.append(row + (f" | {_ratio(*cols) if with_ratio else ''} |" if ratio else " |"))
    notes = _notes(labels, recs, cls)
    return "\n".join(out + ([""] + notes if notes else []))


def _notes(labels, recs, cls):
    notes = []
    for b in labels:
        rs = recs[(cls, b)]
        killed = sum(1 for r in rs if r["exit_code"] is None)
        bad = sorted({r["exit_code"] for r in rs if r["exit_code"] not in (0, None)})
        errs = [e for r in rs for e in r["attack"]["first_errors"]][:2]
        if killed:
            notes.append(f"- {b}: still running {KILL_AFTER_S:.0f} s after SIGTERM in {killed}/{len(rs)} "
                         f"runs (killed).")
        if bad:
            notes.append(f"- {b}: exit status {bad} after SIGTERM.")
        if any(r["rss_aborted"] for r in rs):
            notes.append(f"- {b}: RSS grew past {hc.RSS_ABORT_MIB} MiB, attack stopped early.")
        if errs:
            notes.append(f"- {b}: probe errors, e.g. {'; '.join(e[:120] for e in errs)}")
    return notes


def summary_table(labels, classes, recs):
    ratio = len(labels) == 2
    cols = ["echo p99 " + b for b in labels] + (["p99 ÷"] if ratio else []) + \
           ["fresh p99 " + b for b in labels] + ["timeouts/probes " + b for b in labels]
    out = ["| class (ms) | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for cls in classes:
        p99 = [[r["attack"]["p99"] for r in recs[(cls, b)]] for b in labels]
        fresh = [[r["attack"]["fresh_p99"] for r in recs[(cls, b)]] for b in labels]
        tmo = [", ".join(f"{r['attack']['timeouts']}/{_probes(r['attack'])}" for r in recs[(cls, b)])
               for b in labels]
        cells = [_range(c, True) for c in p99] + ([_ratio(*p99)] if ratio else []) + \
                [_range(c, True) for c in fresh] + tmo
        out.append(f"| {cls} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def report(args, labels, classes, recs, started, loads):
    lines = [f"Run of {started}: {args['reps']} repetition(s), baseline {args['baseline_seconds']:g} s + "
             f"attack {args['seconds']:g} s per cell, gateway `--workers 1 --drain-timeout {DRAIN_S:g}`; "
             f"{os.cpu_count()} CPUs, load average (1 min) {min(loads):.1f}–{max(loads):.1f} during "
             f"the run.",
             "", "Attack echo p99 / fresh-connection p99 in ms, ranges over the repetitions; "
             "ratio of the medians; timeouts/probes per repetition:", "", summary_table(labels, classes, recs)]
    for cls in classes:
        lines += ["", class_table(cls, labels, recs)]
    return "\n".join(lines)


# -- main -------------------------------------------------------------------------------------
def parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", action="append", default=[], metavar="LABEL=PATH", required=True)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--baseline-seconds", type=float, default=2.0)
    p.add_argument("--classes", default=",".join(CLASSES))
    p.add_argument("--results", required=True, help="directory for gateway logs and the certificate")
    p.add_argument("--json", help="write every raw figure here")
    a = p.parse_args(argv)
    a.labels = [b.split("=", 1)[0] for b in a.binary]
    a.binaries = [b.split("=", 1)[1] for b in a.binary]
    a.class_list = [c for c in a.classes.split(",") if c]
    unknown = [c for c in a.class_list if c not in CLASSES]
    if unknown:
        p.error(f"unknown classes {unknown}; known: {', '.join(CLASSES)}")
    return a


def main(argv):
    args = parse(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks: kill what we started
    os.makedirs(args.results, exist_ok=True)
    os.environ["RINGGATE_TEST_LOGDIR"] = args.results
    recs = {(c, b): [] for c in args.class_list for b in args.labels}
    started, loads, cell = time.strftime("%Y-%m-%d %H:%M"), [], 0
    for rep in range(1, args.reps + 1):
        for cls in args.class_list:
            cell += 1
            order = list(zip(args.labels, args.binaries))
            for label, binary in (order if cell % 2 else order[::-1]):
                print(f"[hostile {time.strftime('%T')}] rep {rep} {cls} {label}", file=sys.stderr, flush=True)
                rec = run_cell(binary, cls, args.seconds, args.baseline_seconds, args.results)
                rec.update(rep=rep, cls=cls, binary=label)
                loads.append(rec["loadavg"])
                recs[(cls, label)].append(rec)
                a = rec["attack"]
                print(f"    echo p99 {_fmt(a['p99'])} ms, max {_fmt(a['max'])}, fresh p99 "
                      f"{_fmt(a['fresh_p99'])}, timeouts {a['timeouts']}, rss +{rec['rss_mib']:.1f} MiB, "
                      f"SIGTERM {rec['sigterm_s']:.2f}s -> {rec['exit_code']}", file=sys.stderr, flush=True)
    print(report(vars(args), args.labels, args.class_list, recs, started, loads))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"started": started, "args": vars(args), "records": [r for v in recs.values() for r in v]},
                      f, indent=1)
    return 0


def rerender(path):
    """The report again from a --json file (after a change to the tables, without a rerun)."""
    with open(path) as f:
        d = json.load(f)
    a = d["args"]
    recs = {(c, b): [] for c in a["class_list"] for b in a["labels"]}
    for r in d["records"]:
        recs[(r["cls"], r["binary"])].append(r)
    loads = [r["loadavg"] for r in d["records"]]
    print(report(a, a["labels"], a["class_list"], recs, d["started"], loads))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--report"] and len(sys.argv) == 3:
        sys.exit(rerender(sys.argv[2]))
    sys.exit(main(sys.argv[1:]))
