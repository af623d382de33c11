"""10.x Limits. 10.1.1 is Autobahn's (auto-fragmented 64 KiB message). The rest are this
suite's: a message over the server's maximum size fails the connection with 1009 (RFC 6455
7.4.1), and the maximum itself still passes.

10.2.x run against a second server started with --max-message-bytes 65536 (group "limit";
with --url, give its URL as --limit-url). 10.3.1 checks the default 16 MiB limit.
"""
from casebase import (case, close_normally, expect_failure, expect_message,
                      text_payload, binary_payload)
import wsclient as wc

LIMIT = 65536  # run.py starts the limit server with --max-message-bytes LIMIT
TOO_BIG = "The connection is failed with 1009 (message too big); nothing is echoed."
ECHO = "The message is echoed (its size equals the maximum). Clean close with normal code."


def _fragments(opcode, payload, frag):
    n = len(payload)
    return [(opcode if i == 0 else wc.OP_CONT, payload[i:i + frag], i + frag >= n, 0)
            for i in range(0, n, frag)]


def _run(opcode, make, frag=None, too_big=False, timeout=10.0):
    """make() builds the payload when the case runs (some are 16 MiB)."""
    def run(ctx):
        payload = make()
        conn = ctx.connect()
        if frag:
            frames = _fragments(opcode, payload, frag)
            conn.send_frames(frames, summary=f"{wc.op_name(opcode)} len={len(payload)} in "
                             f"{len(frames)} fragments of <= {frag} bytes")
        else:
            conn.send_frame(opcode, payload)
        if too_big:
            expect_failure(ctx, conn, (1009,), timeout=timeout)
        else:
            expect_message(conn, opcode, payload, timeout=timeout)
            close_normally(ctx, conn)
    return run


case("10.1.1", "Send text message with payload of length 65536 auto-fragmented with "
     "autoFragmentSize = 1300.", "Receive echo'ed text message (with payload as sent). "
     "Clean close with normal code.")(_run(wc.OP_TEXT, lambda: b"*" * 65536, frag=1300))

LIM = f" (server started with --max-message-bytes {LIMIT})"
case("10.2.1", f"Send text message of exactly {LIMIT} bytes in one frame{LIM}.", ECHO,
     group="limit")(_run(wc.OP_TEXT, lambda: text_payload(LIMIT)))
case("10.2.2", f"Send binary message of exactly {LIMIT} bytes in fragments of 1000{LIM}.", ECHO,
     group="limit")(_run(wc.OP_BINARY, lambda: binary_payload(LIMIT), frag=1000))
case("10.2.3", f"Send text message of {LIMIT + 1} bytes in one frame{LIM}.", TOO_BIG,
     group="limit")(_run(wc.OP_TEXT, lambda: text_payload(LIMIT + 1), too_big=True))
case("10.2.4", f"Send binary message of {LIMIT + 1} bytes in one frame{LIM}.", TOO_BIG,
     group="limit")(_run(wc.OP_BINARY, lambda: binary_payload(LIMIT + 1), too_big=True))
case("10.2.5", f"Send binary message of {LIMIT + 1} bytes as fragments of {LIMIT} and 1 "
     f"bytes{LIM}.", TOO_BIG, group="limit")(
    _run(wc.OP_BINARY, lambda: binary_payload(LIMIT + 1), frag=LIMIT, too_big=True))
case("10.2.6", f"Send text message of {LIMIT + 1} bytes in fragments of 1000{LIM}.", TOO_BIG,
     group="limit")(_run(wc.OP_TEXT, lambda: text_payload(LIMIT + 1), frag=1000, too_big=True))


@case("10.2.7", f"Send a binary frame header declaring 4 GiB and no payload{LIM}.",
      "The connection is failed with 1009 as soon as the header is read (the server cannot "
      "wait for 4 GiB it will not accept).", group="limit")
def huge_header(ctx):
    conn = ctx.connect()
    conn.send_frame(wc.OP_BINARY, b"", length=1 << 32)
    expect_failure(ctx, conn, (1009,))


case("10.3.1", "Send binary message of 16 MiB + 1 bytes in one frame (default maximum 16 MiB).",
     TOO_BIG, timeout=90.0)(
    _run(wc.OP_BINARY, lambda: binary_payload((16 << 20) + 1), too_big=True, timeout=60.0))
