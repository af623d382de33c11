"""5.x Fragmentation (Autobahn 5.1-5.20): fragmented messages are echoed as one message, control
frames may be interleaved between fragments (and are answered at once), but a control frame
may not be fragmented, a continuation needs a message to continue, and a new data message may
not start while one is in progress: those fail the connection with 1002.

"frame-wise" writes each frame on its own (10 ms apart), "octet-wise" writes one byte at a time.
5.21-5.24 are extensions of this suite (binary and many-fragment messages, fragmented close).
"""
from casebase import (case, close_normally, expect_failure, expect_message, expect_pong,
                      text_payload, binary_payload)
import wsclient as wc

TEXT, BIN, CONT, PING, PONG = wc.OP_TEXT, wc.OP_BINARY, wc.OP_CONT, wc.OP_PING, wc.OP_PONG
CHOPS = {None: "", "frame": " Frames are sent one per write.",
         1: " Octets are sent in octet-wise chops."}
DELAY = {None: 0.0, "frame": 0.01, 1: 0.0005}


def _scenario(frames, echoes=(), fail=False, chop=None):
    """Send `frames`; expect the `echoes` in order ((kind, opcode, payload) with kind 'message'
    or 'pong'), then 1002 if `fail`, else a clean close."""
    def run(ctx):
        conn = ctx.connect()
        conn.send_frames(frames, chop=chop, delay=DELAY[chop])
        for kind, opcode, payload in echoes:
            if kind == "pong":
                expect_pong(conn, payload)
            else:
                expect_message(conn, opcode, payload)
        if fail:
            expect_failure(ctx, conn, (1002,))
        else:
            close_normally(ctx, conn)
    return run


FAIL_CTRL = ("The connection is failed immediately (1002), since control frames may not be "
             "fragmented.")
case("5.1", "Send Ping fragmented into 2 fragments.", FAIL_CTRL)(
    _scenario([(PING, b"fragment1", False, 0), (CONT, b"fragment2", True, 0)], fail=True))
case("5.2", "Send Pong fragmented into 2 fragments.", FAIL_CTRL)(
    _scenario([(PONG, b"fragment1", False, 0), (CONT, b"fragment2", True, 0)], fail=True))

TWO = [(TEXT, b"fragment1", False, 0), (CONT, b"fragment2", True, 0)]
for cid, chop in (("5.3", None), ("5.4", 1), ("5.5", "frame")):
    case(cid, "Send text Message fragmented into 2 fragments." + CHOPS[chop],
         "Message is processed and echo'ed back to us (as one message).")(
        _scenario(TWO, [("message", TEXT, b"fragment1fragment2")], chop=chop))

WITH_PING = [TWO[0], (PING, b"ping payload", True, 0), TWO[1]]
for cid, chop in (("5.6", None), ("5.7", 1), ("5.8", "frame")):
    case(cid, "Send text Message fragmented into 2 fragments, one ping with payload in-between."
         + CHOPS[chop], "A pong is received, then the message is echo'ed back to us.")(
        _scenario(WITH_PING, [("pong", PONG, b"ping payload"),
                              ("message", TEXT, b"fragment1fragment2")], chop=chop))

NOTHING = "The connection is failed immediately (1002), since there is no message to continue."
CONT_FIN = [(CONT, b"non-continuation payload", True, 0), (TEXT, b"Hello, world!", True, 0)]
for cid, chop in (("5.9", None), ("5.10", "frame"), ("5.11", 1)):
    case(cid, "Send unfragmented Text Message after Continuation Frame with FIN = true, where "
         "there is nothing to continue." + CHOPS[chop], NOTHING)(
        _scenario(CONT_FIN, fail=True, chop=chop))
CONT_NOFIN = [(CONT, b"non-continuation payload", False, 0), (TEXT, b"Hello, world!", True, 0)]
for cid, chop in (("5.12", None), ("5.13", "frame"), ("5.14", 1)):
    case(cid, "Send unfragmented Text Message after Continuation Frame with FIN = false, where "
         "there is nothing to continue." + CHOPS[chop], NOTHING)(
        _scenario(CONT_NOFIN, fail=True, chop=chop))

case("5.15", "Send text Message fragmented into 2 fragments, then Continuation Frame with "
     "FIN = false where there is nothing to continue, then unfragmented Text Message.",
     "The first message is echo'ed, then the connection is failed immediately (1002).")(
    _scenario(TWO + [(CONT, b"fragment3", False, 0), (TEXT, b"fragment4", True, 0)],
              [("message", TEXT, b"fragment1fragment2")], fail=True))
for cid, fin in (("5.16", False), ("5.17", True)):
    frames = [(CONT, b"fragment1", fin, 0), (TEXT, b"fragment2", False, 0),
              (CONT, b"fragment3", True, 0)] * 2
    case(cid, f"Repeated 2x: Continuation Frame with FIN = {str(fin).lower()} (where there is "
         "nothing to continue), then text Message fragmented into 2 fragments.", NOTHING)(
        _scenario(frames, fail=True))
case("5.18", "Send text Message fragmented into 2 fragments, with both frame opcodes set to text.",
     "The connection is failed immediately (1002), since a new message may not start while "
     "one is in progress.")(
    _scenario([(TEXT, b"fragment1", False, 0), (TEXT, b"fragment2", True, 0)], fail=True))


def _pings_between(chop):
    """Autobahn 5.19/5.20: 2 fragments + ping, wait 1 s, 2 fragments + ping + last fragment."""
    def run(ctx):
        conn = ctx.connect()
        frags = [f"fragment{i}".encode() for i in range(1, 6)]
        conn.send_frames([(TEXT, frags[0], False, 0), (CONT, frags[1], False, 0),
                          (PING, b"pongme 1!", True, 0)], chop=chop, delay=DELAY[chop])
        early = conn.next_event(1.0)
        if early is not None:
            conn.unget(early)  # judged in order below
        else:
            ctx.note("the first pong did not arrive within the 1 s pause before the last "
                     "fragments (Autobahn expects it 'immediately' but scores only the order)")
        conn.send_frames([(CONT, frags[2], False, 0), (CONT, frags[3], False, 0),
                          (PING, b"pongme 2!", True, 0), (CONT, frags[4], True, 0)],
                         chop=chop, delay=DELAY[chop])
        expect_pong(conn, b"pongme 1!")
        expect_pong(conn, b"pongme 2!")
        expect_message(conn, TEXT, b"".join(frags))
        close_normally(ctx, conn)
    return run


PINGS_EXP = ("The peer answers the first Ping before it has received the last text fragment, "
             "pongs both payloads exactly, and echoes the fragmented message.")
case("5.19", "A fragmented text message is sent in multiple frames. After the first 2 frames a "
     "Ping is sent; then we wait 1 s, then send 2 more text fragments, another Ping and the "
     "final text fragment.", PINGS_EXP)(_pings_between(None))
case("5.20", "Same as 5.19, but frames are sent one per write.", PINGS_EXP)(
    _pings_between("frame"))


def _many_fragments(opcode, payload, sizes):
    frames, pos, i = [], 0, 0
    while pos < len(payload) or not frames:
        n = sizes[i % len(sizes)]
        frames.append((CONT if frames else opcode, payload[pos:pos + n], False, 0))
        pos, i = pos + n, i + 1
    frames.append((CONT, b"", True, 0))
    return frames


case("5.21", "[extension] Send binary Message fragmented into 2 fragments.",
     "The message is echo'ed back as one binary message.")(
    _scenario([(BIN, b"\x00\xff" * 10, False, 0), (CONT, b"\xfe\x01" * 10, True, 0)],
              [("message", BIN, b"\x00\xff" * 10 + b"\xfe\x01" * 10)]))
_BIN = binary_payload(5000, seed=5)
case("5.22", "[extension] Send binary Message of 5000 bytes in 100+ fragments of sizes 0, 1, 7, "
     "64 and 100, with a final empty fragment.",
     "The message is echo'ed back as one binary message.")(
    _scenario(_many_fragments(BIN, _BIN, [0, 1, 7, 64, 100]), [("message", BIN, _BIN)]))
_TXT = text_payload(3000)
case("5.23", "[extension] Send text Message (multi-byte UTF-8) of 3000 bytes in fragments of 1, "
     "2, 3 and 5 bytes, splitting code points across fragments; with a ping in between.",
     "A pong, then the message echo'ed back as one text message.")(
    _scenario(_many_fragments(TEXT, _TXT[:1500], [1, 2, 3, 5])[:-1]
              + [(PING, b"mid", True, 0)]
              + [(CONT, _TXT[1500:], True, 0)],
              [("pong", PONG, b"mid"), ("message", TEXT, _TXT)]))
case("5.24", "[extension] Send a Close frame with FIN = false, then a continuation.",
     FAIL_CTRL)(_scenario([(wc.OP_CLOSE, wc.close_payload(1000), False, 0),
                           (CONT, b"", True, 0)], fail=True))
