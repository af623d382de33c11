#!/usr/bin/python3
"""RFC 6455 conformance suite for WebSocket echo servers, modelled on Autobahn|Testsuite's
fuzzingclient (cases numbered like Autobahn's; see README.md). Python 3 stdlib only.

Server under test, in order of precedence:
  --url ws://HOST:PORT/echo [--limit-url ws://...]  an already running server; the 10.2.x
                                                    limit cases need --limit-url (a server
                                                    with --max-message-bytes 65536) or are skipped
  --server-cmd "CMD ARGS"                           started here with --listen 127.0.0.1:0
  $RINGGATE_BIN                                     same as --server-cmd "$RINGGATE_BIN"
A started server is stopped (SIGTERM to its PID) at the end, also on failure; a server that
exits during the run fails the case it happened in and all later ones.

Prints every failure (case, what was sent, what was expected, what arrived), a summary table
per category and a last line `N passed, M failed`; exits 1 on any failure. NON-STRICT results
count as passed unless --strict.
"""
import argparse
import fnmatch
import json
import os
import shlex
import signal
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import casebase as cb  # noqa: E402
import cases  # noqa: E402,F401  (registers the cases)
from cases.limits import LIMIT  # noqa: E402
import servers  # noqa: E402
import wsclient as wc  # noqa: E402

CATEGORIES = {"1": "Framing", "2": "Pings/Pongs", "3": "Reserved Bits", "4": "Opcodes",
              "5": "Fragmentation", "6": "UTF-8 Handling", "7": "Close Handling",
              "9": "Limits/Performance", "10": "Misc/Limits"}
SKIPPED = "SKIPPED"
SHOW_CONNECTIONS = 2  # a failing case prints the log of its last N connections


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="ws:// URL of a running echo server")
    p.add_argument("--limit-url", help=f"ws:// URL of a server with --max-message-bytes {LIMIT}")
    p.add_argument("--server-cmd", help="command starting the server (gets --listen appended)")
    p.add_argument("--cases", nargs="*", default=[],
                   help="case ids, prefixes (6.4) or globs (7.9.*); default all")
    p.add_argument("--strict", action="store_true", help="count NON-STRICT as failed")
    p.add_argument("--json", metavar="FILE", help="write a JSON report")
    p.add_argument("--log-dir", help="where server logs go (default $RINGGATE_TEST_LOGDIR or /tmp)")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="print every case result")
    return p.parse_args(argv)


def select(patterns):
    specs = sorted(cb.REGISTRY, key=lambda s: s.sort_key)
    if not patterns:
        return specs
    return [s for s in specs if any(s.id == p or s.id.startswith(p + ".") or
                                    fnmatch.fnmatchcase(s.id, p) for p in patterns)]


class Result:
    def __init__(self, spec, status, reason="", notes=(), duration=0.0, conns=()):
        self.spec, self.status, self.reason = spec, status, reason
        self.notes, self.duration, self.conns = list(notes), duration, list(conns)

    def passed(self, strict):
        return self.status in (cb.OK, cb.INFORMATIONAL) or (
            self.status == cb.NON_STRICT and not strict)


def run_case(spec, url):
    """Runs one case on its own thread so its timeout holds even if a write blocks."""
    ctx = cb.Context(spec, url)
    outcome = {}

    def target():
        try:
            spec.func(ctx)
        except cb.CaseFailed as e:
            outcome["fail"] = str(e)
        except Exception:  # a bug in the case itself must be visible, not a pass
            outcome["fail"] = "suite error: " + traceback.format_exc()

    t0 = time.monotonic()
    worker = threading.Thread(target=target, daemon=True, name=f"case-{spec.id}")
    worker.start()
    worker.join(spec.timeout)
    timed_out = worker.is_alive()
    ctx.abort_all()
    worker.join(5.0)
    duration = time.monotonic() - t0
    if timed_out:
        return Result(spec, cb.FAILED, f"case timed out after {spec.timeout:g} s",
                      ctx.notes, duration, ctx.conns)
    if "fail" in outcome:
        return Result(spec, cb.FAILED, outcome["fail"], ctx.notes, duration, ctx.conns)
    return Result(spec, ctx.status, "", ctx.notes, duration, ctx.conns)


def print_result(r, strict, verbose):
    if r.passed(strict) and r.status == cb.OK and not verbose:
        return
    print(f"{r.status:<13} {r.spec.id:<8} ({r.duration * 1000:.0f} ms) {r.spec.description}",
          flush=True)
    if r.passed(strict) and not verbose:
        for note in r.notes:
            print(f"    note: {note}")
        return
    print(f"    expected: {r.spec.expectation}")
    if r.reason:
        print(f"    problem:  {r.reason.rstrip()}")
    for note in r.notes:
        print(f"    note:     {note}")
    for conn in r.conns[-SHOW_CONNECTIONS:]:
        for line in conn.log_lines():
            print("    " + line)
    sys.stdout.flush()


def summarize(results, strict):
    rows = {}
    for r in results:
        row = rows.setdefault(r.spec.category, {k: 0 for k in
                                                (cb.OK, cb.NON_STRICT, cb.INFORMATIONAL,
                                                 cb.FAILED, SKIPPED, "passed", "failed")})
        row[r.status] += 1
        if r.status != SKIPPED:
            row["passed" if r.passed(strict) else "failed"] += 1
    print()
    head = f"{'category':<22}{'OK':>6}{'NON-STRICT':>12}{'INFO':>6}{'FAILED':>8}{'SKIPPED':>9}"
    print(head + f"{'passed':>8}{'failed':>8}")
    for cat in sorted(rows, key=int):
        row = rows[cat]
        print(f"{cat + ' ' + CATEGORIES.get(cat, ''):<22}{row[cb.OK]:>6}{row[cb.NON_STRICT]:>12}"
              f"{row[cb.INFORMATIONAL]:>6}{row[cb.FAILED]:>8}{row[SKIPPED]:>9}"
              f"{row['passed']:>8}{row['failed']:>8}")
    return rows


def write_json(path, results, strict, servers_used, rows):
    def conn_json(c):
        return {"label": c.label, "url": c.url, "sent": c.sent_log.render(),
                "received": c.recv_log.render()}
    report = {
        "strict": strict,
        "servers": servers_used,
        "summary": rows,
        "cases": [{
            "id": r.spec.id, "category": r.spec.category, "description": r.spec.description,
            "expectation": r.spec.expectation, "status": r.status,
            "passed": r.passed(strict) if r.status != SKIPPED else None, "reason": r.reason,
            "notes": r.notes, "duration_ms": round(r.duration * 1000, 1),
            "connections": [conn_json(c) for c in r.conns[-SHOW_CONNECTIONS:]]
            if r.status in (cb.FAILED, cb.NON_STRICT) else [],
        } for r in results],
    }
    with open(path, "w") as f:
        json.dump(report, f, indent=1)


def start_servers(cmd, need_limit, log_dir):
    argv = shlex.split(cmd)
    procs = {"main": servers.ServerProcess(argv, "main", log_dir)}
    if need_limit:
        procs["limit"] = servers.ServerProcess(argv + ["--max-message-bytes", str(LIMIT)],
                                               "limit", log_dir)
    for p in procs.values():  # all forks happen before any thread exists
        p.launch()
    for p in procs.values():
        p.wait_ready()
    return procs


def probe(url):
    """None if the server still completes an opening handshake, else why not."""
    conn = wc.Connection(url, timeout=cb.T, label="probe")
    try:
        conn.open()
        return None
    except (OSError, wc.HandshakeError) as e:
        return str(e) or type(e).__name__
    finally:
        conn.abort()


def run_all(specs, urls, procs, strict, verbose):
    results, dead = [], {}
    for spec in specs:
        url = urls.get(spec.group)
        proc = procs.get(spec.group)
        if url is None:
            results.append(Result(spec, SKIPPED, f"no server for group {spec.group!r}"))
            continue
        if spec.group in dead:
            results.append(Result(spec, cb.FAILED, dead[spec.group]))
            print_result(results[-1], strict, verbose)
            continue
        r = run_case(spec, url)
        if proc is not None and not proc.alive():
            dead[spec.group] = (f"the {spec.group} server exited (status {proc.exit_status()}) "
                                f"during case {spec.id}")
            r.status, r.reason = cb.FAILED, dead[spec.group] + (
                f"; case said: {r.reason}" if r.reason else "") + "\n" + proc.tail()
        elif r.status == cb.FAILED:
            # a wedged server would cost every later case its full timeouts: stop asking it
            why = probe(url)
            if why:
                dead[spec.group] = (f"the {spec.group} server stopped completing opening "
                                    f"handshakes after case {spec.id} ({why})")
                r.reason += f"\nafterwards {dead[spec.group]}"
        results.append(r)
        print_result(r, strict, verbose)
    return results


def main(argv):
    args = parse_args(argv)
    specs = select(args.cases)
    if args.list:
        for s in specs:
            print(f"{s.id:<8} [{s.group}] {s.description}")
        return 0
    if not specs:
        print(f"no case matches {args.cases}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))  # so `finally` stops the servers
    cmd = args.server_cmd or (shlex.quote(os.environ["RINGGATE_BIN"])
                              if os.environ.get("RINGGATE_BIN") else None)
    procs = {}
    try:
        if args.url:
            urls = {"main": args.url, "limit": args.limit_url}
        elif cmd:
            procs = start_servers(cmd, any(s.group == "limit" for s in specs), args.log_dir)
            urls = {g: p.url for g, p in procs.items()}
        else:
            print("give --url, --server-cmd or set RINGGATE_BIN", file=sys.stderr)
            return 2
        print(f"conformance suite: {len(specs)} cases against "
              + ", ".join(f"{g}={u}" for g, u in urls.items() if u)
              + (f" (server: {cmd})" if procs else "") + (" [strict]" if args.strict else ""),
              flush=True)
        results = run_all(specs, urls, procs, args.strict, args.verbose)
    except servers.ServerError as e:
        print(f"cannot start the server: {e}", file=sys.stderr)
        print("0 passed, 1 failed")
        return 1
    finally:
        for p in procs.values():
            p.stop()
    rows = summarize(results, args.strict)
    counted = [r for r in results if r.status != SKIPPED]
    passed = sum(r.passed(args.strict) for r in counted)
    failed = len(counted) - passed
    for g, p in procs.items():
        status = p.exit_status()
        print(f"{g} server stopped with status {status}; log: {p.log_path}")
    if args.json:
        write_json(args.json, results, args.strict,
                   {g: u for g, u in urls.items() if u}, rows)
    skipped = len(results) - len(counted)
    if skipped:
        print(f"{skipped} skipped (no server for their group)")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
