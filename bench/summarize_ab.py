#!/usr/bin/python3
"""Medians per arm of server CPU per echoed message / per delivery; ratio AFTER/BEFORE, paired ratios."""
import glob, json, os, re, statistics, sys
cells = {}
for d in sys.argv[1:]:
    for f in glob.glob(f"{d}/echo_*_r*.json"):
        m = re.search(r"echo_(before|after)_100x(\d+)_r(\d+)\.json$", f)
        j = json.load(open(f))
        cells.setdefault(("echo 100 conns", int(m[2])), {}).setdefault(m[1], {})[(d, int(m[3]))] = (
            j.get("server_cpu_ns_per_message"), j.get("messages_per_second"), j.get("errors"))
    for f in glob.glob(f"{d}/fan_*_r*/rate_*_r1.json"):
        m = re.search(r"fan_(before|after)_(\d+)_r(\d+)/", f)
        j = json.load(open(f))
        rc = open(f[:-5] + ".rc").read().strip()
        ok = rc == "0" and j.get("ok", True)
        cells.setdefault(("fanout rate", int(m[2])), {}).setdefault(m[1], {})[(d, int(m[3]))] = (
            j.get("server_cpu_ns_per_delivery"), j.get("deliveries_per_second"), None if ok else f"FAIL rc={rc}")
for key in sorted(cells):
    c = cells[key]
    b = {k: v for k, v in c.get("before", {}).items() if v[0]}
    a = {k: v for k, v in c.get("after", {}).items() if v[0]}
    bm = statistics.median(v[0] for v in b.values()); am = statistics.median(v[0] for v in a.values())
    paired = sorted(a[k][0] / b[k][0] for k in a if k in b)
    thr_b = statistics.median(v[1] for v in b.values()); thr_a = statistics.median(v[1] for v in a.values())
    bad = [(k, v[2]) for v in (b | a).values() for k in [0] if v[2]]
    print(f"{key[0]:15s} {key[1]:5d}: before {bm:7.0f} ns [{min(v[0] for v in b.values()):.0f}-{max(v[0] for v in b.values()):.0f}] n={len(b)}"
          f" | after {am:7.0f} ns [{min(v[0] for v in a.values()):.0f}-{max(v[0] for v in a.values()):.0f}] n={len(a)}"
          f" | ratio {am/bm:.3f} | paired ratios med {statistics.median(paired):.3f} [{paired[0]:.3f}-{paired[-1]:.3f}]"
          f" | thr b/a {thr_b:,.0f}/{thr_a:,.0f} {'ERR ' + str(bad) if bad else ''}")
