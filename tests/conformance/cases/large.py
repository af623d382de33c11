"""9.x Limits/Performance, limited (Autobahn 9.1-9.8): large messages in one frame, in many
fragments, written in small chops, and many small round trips; all echoed intact. Autobahn
scores these on correctness only (timings are informational), and so does this suite.

Sizes stay within ringgate's default 16 MiB maximum message. 9.3.10/9.4.10 (16 MiB in 64 KiB
fragments) are extensions of this suite.
"""
from casebase import (case, close_normally, expect_message, text_payload, binary_payload)
import wsclient as wc

KIB, MIB = 1 << 10, 1 << 20
KINDS = {"text": (wc.OP_TEXT, text_payload), "binary": (wc.OP_BINARY, binary_payload)}
ECHO = "Receive echo'ed {kind} message (with payload as sent). Clean close with normal code."


def _size(n):
    return f"{n // MIB}M" if n >= MIB else f"{n // KIB}K" if n >= KIB else str(n)


def _big(kind, n, frag=None, chop=None):
    opcode, gen = KINDS[kind]

    def run(ctx):
        payload = gen(n)
        conn = ctx.connect()
        if frag:
            frames = [(opcode if i == 0 else wc.OP_CONT, payload[i:i + frag], i + frag >= n, 0)
                      for i in range(0, n, frag)]
            conn.send_frames(frames, summary=f"{wc.op_name(opcode)} len={n} in {len(frames)} "
                             f"fragments of {frag} bytes")
        else:
            conn.send_frame(opcode, payload, chop=chop)
        expect_message(conn, opcode, payload, timeout=60.0)
        close_normally(ctx, conn)
    return run


def _round_trips(kind, n, count=1000):
    opcode, gen = KINDS[kind]

    def run(ctx):
        payload = gen(n)
        conn = ctx.connect()
        for i in range(count):
            if i < 3:
                conn.send_frame(opcode, payload)
            else:  # unlogged: 1000 identical lines would bury a failure report
                conn.send_raw(wc.encode_frame(opcode, payload))
            expect_message(conn, opcode, payload)
        close_normally(ctx, conn)
    return run


SIZES = [64 * KIB, 256 * KIB, MIB, 4 * MIB, 8 * MIB, 16 * MIB]
FRAGS = [64, 256, KIB, 4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, MIB, 4 * MIB]
CHOPS = [64, 128, 256, 512, 1024, 2048]
SMALL = [0, 16, 64, 256, KIB, 4 * KIB]

for base, kind in ((0, "text"), (1, "binary")):
    for i, n in enumerate(SIZES, start=1):
        case(f"9.{1 + base}.{i}", f"Send {kind} message message with payload of length {_size(n)}.",
             ECHO.format(kind=kind), timeout=120.0)(_big(kind, n))
    for i, f in enumerate(FRAGS, start=1):
        case(f"9.{3 + base}.{i}", f"Send fragmented {kind} message message with fragments of "
             f"{_size(f)} and total length 4M.", ECHO.format(kind=kind), timeout=120.0)(
            _big(kind, 4 * MIB, frag=f))
    case(f"9.{3 + base}.10", f"[extension] Send fragmented {kind} message with fragments of 64K "
         "and total length 16M.", ECHO.format(kind=kind), timeout=120.0)(
        _big(kind, 16 * MIB, frag=64 * KIB))
    for i, c in enumerate(CHOPS, start=1):
        case(f"9.{5 + base}.{i}", f"Send {kind} message message with payload of length 1M, "
             f"written in chops of {c} octets.", ECHO.format(kind=kind), timeout=120.0)(
            _big(kind, MIB, chop=c))
    for i, n in enumerate(SMALL, start=1):
        case(f"9.{7 + base}.{i}", f"Send 1000 {kind} messages of payload size {n} to measure "
             "implementation/network RTT (round trip time) / latency.",
             f"Receive echo'ed {kind} messages (with payload as sent), in order. Clean close.",
             timeout=120.0)(_round_trips(kind, n))
