"""7.x Close handling (Autobahn 7.1.x, 7.3.x, 7.5.1, 7.7.x, 7.9.x, 7.13.x).

After our close the server answers with one close and then closes TCP; it processes nothing
we send after our close (no echo, no pong). Close payloads: empty is fine, 1 byte or over 125
bytes is a protocol error (1002), a code that may not be sent is 1002, a reason that is not
UTF-8 is 1007. For valid codes Autobahn accepts the echoed code or 1000; this suite expects the
echo (ringgate's documented behaviour) and scores 1000 NON-STRICT.
Extensions: 7.7.x also carry a reason; 7.9.10 (1015); 7.13.x expect 1002, where Autobahn
only records what happens (INFORMATIONAL).
"""
from casebase import (case, close_handshake, expect_eof, expect_failure, expect_message,
                      next_frame, parse_close, CaseFailed, T)
import wsclient as wc

HELLO = b"Hello World!"
CLEAN = "Clean close with normal code."


def _expect_close_then_eof(conn, accept=(1000,)):
    frame = next_frame(conn, T, "close " + "/".join(map(str, accept)))
    if frame.opcode != wc.OP_CLOSE:
        raise CaseFailed(f"expected close {accept}; got {frame.describe()}")
    code, _ = parse_close(frame)
    if code not in accept:
        raise CaseFailed(f"expected close {accept}; got close {code}")
    expect_eof(conn)


@case("7.1.1", "Send a message followed by a close frame.",
      "Echoed message followed by clean close with normal code.")
def message_then_close(ctx):
    conn = ctx.connect()
    conn.send_frame(wc.OP_TEXT, HELLO)
    expect_message(conn, wc.OP_TEXT, HELLO)
    close_handshake(ctx, conn, 1000)


def _close_then(frames, desc, exp, case_id, before=()):
    def run(ctx):
        conn = ctx.connect()
        close = [(wc.OP_CLOSE, wc.close_payload(1000), True, 0)]
        conn.send_frames(list(before) + close + frames)
        _expect_close_then_eof(conn)
    case(case_id, desc, exp)(run)


_close_then([(wc.OP_CLOSE, wc.close_payload(1000), True, 0)], "Send two close frames.",
            "Clean close with normal code. The second close frame is ignored.", "7.1.2")
_close_then([(wc.OP_PING, HELLO, True, 0)], "Send a ping after close message.",
            "Clean close with normal code, no pong.", "7.1.3")
_close_then([(wc.OP_TEXT, HELLO, True, 0)], "Send text message after sending a close frame.",
            "Clean close with normal code. Text message ignored.", "7.1.4")
_close_then([(wc.OP_CONT, b"fragment2", True, 0)],
            "Send message fragment1 followed by close then fragment2.",
            "Clean close with normal code. The message is not echoed.", "7.1.5",
            before=[(wc.OP_TEXT, b"fragment1", False, 0)])


@case("7.1.6", "Send 256K message followed by a text message, close, then a ping.",
      "Implementation defined (INFORMATIONAL): the text may or may not be echoed before the "
      "close; then clean close with normal code, no pong.", timeout=30.0)
def big_then_close(ctx):
    conn = ctx.connect()
    big = (b"BAsd7&jh23" * (256 * 1024 // 10 + 1))[:256 * 1024]
    conn.send_frames([(wc.OP_TEXT, big, True, 0), (wc.OP_TEXT, HELLO, True, 0),
                      (wc.OP_CLOSE, wc.close_payload(1000), True, 0), (wc.OP_PING, b"", True, 0)],
                     summary="TEXT len=262144 'BAsd7&jh23...', TEXT 'Hello World!', "
                             "CLOSE 1000, PING")
    seen = []
    while True:
        ev = conn.next_event(T)
        if ev is None or ev.kind != "frame":
            seen.append("nothing" if ev is None else ev.describe())
            break
        seen.append(ev.frame.describe())
    ctx.informational("received: " + "; ".join(seen))


@case("7.3.1", "Send close with payload length 0 (no close code, no close reason).",
      "Clean close with normal code or an empty close.")
def close_empty(ctx):
    conn = ctx.connect()
    close_handshake(ctx, conn, None, accept=(1000,), accept_empty=True)


@case("7.3.2", "Send close with payload length 1.",
      "Clean close with protocol error code (1002) or drop TCP.")
def close_one_byte(ctx):
    conn = ctx.connect()
    conn.send_frame(wc.OP_CLOSE, b"a")
    expect_failure(ctx, conn, (1002,))


case("7.3.3", "Send close with close code 1000 and no reason.", CLEAN)(
    lambda ctx: close_handshake(ctx, ctx.connect(), 1000))
case("7.3.4", "Send close with close code 1000 and reason 'Hello World!'.", CLEAN)(
    lambda ctx: close_handshake(ctx, ctx.connect(), 1000, HELLO))
case("7.3.5", "Send close with close code 1000 and a reason of 123 bytes (payload 125).", CLEAN)(
    lambda ctx: close_handshake(ctx, ctx.connect(), 1000, b"*" * 123))


@case("7.3.6", "Send close with close code 1000 and a reason of 124 bytes (payload 126).",
      "Connection is failed with protocol error code (1002) or drop TCP.")
def close_too_long(ctx):
    conn = ctx.connect()
    conn.send_close(1000, b"*" * 124)
    expect_failure(ctx, conn, (1002,))


@case("7.5.1", "Send close with invalid UTF-8 reason 'κόσμε' + 0xeda080 + 'edited'.",
      "Connection is failed with invalid payload code (1007) or drop TCP.")
def close_bad_utf8(ctx):
    conn = ctx.connect()
    conn.send_close(1000, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited")
    expect_failure(ctx, conn, (1007,))


def _valid_code(code):
    def run(ctx):
        conn = ctx.connect()
        close_handshake(ctx, conn, code, f"code {code}".encode(), accept=(code,), tolerate=(1000,))
    return run


for _i, _code in enumerate([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999,
                            4000, 4999], start=1):
    case(f"7.7.{_i}", f"Send close with valid close code {_code} (and a short reason).",
         f"Clean close with the echoed code {_code} (1000: NON-STRICT).")(_valid_code(_code))


def _invalid_code(code):
    def run(ctx):
        conn = ctx.connect()
        conn.send_close(code)
        expect_failure(ctx, conn, (1002,))
    return run


for _i, _code in enumerate([0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999, 1015], start=1):
    ext = "[extension] " if _code == 1015 else ""
    case(f"7.9.{_i}", f"{ext}Send close with invalid close code {_code}.",
         "Close with protocol error code (1002) or drop TCP.")(_invalid_code(_code))
for _i, _code in enumerate([5000, 65535], start=1):
    case(f"7.13.{_i}", f"Send close with close code {_code} (outside 1000-4999).",
         "[stricter than Autobahn, which only records it] Close with protocol error code "
         "(1002) or drop TCP.")(_invalid_code(_code))
