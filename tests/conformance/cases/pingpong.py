"""2.x Pings/Pongs (Autobahn 2.1-2.11): a ping is answered by a pong with the same payload, a
control payload over 125 bytes fails the connection, unsolicited pongs are ignored."""
from casebase import (case, close_normally, expect_failure, expect_pong, expect_silence)
import wsclient as wc

BIN8 = b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
PONG_OK = "Pong with the same payload. Clean close with normal code."


def _ping_pong(payload, chop=None, delay=0.0):
    def run(ctx):
        conn = ctx.connect()
        conn.send_frame(wc.OP_PING, payload, chop=chop, delay=delay)
        expect_pong(conn, payload)
        close_normally(ctx, conn)
    return run


case("2.1", "Send ping without payload.", PONG_OK)(_ping_pong(b""))
case("2.2", "Send ping with small text payload.", PONG_OK)(_ping_pong(b"Hello, world!"))
case("2.3", "Send ping with small binary (non UTF-8) payload.", PONG_OK)(_ping_pong(BIN8))
case("2.4", "Send ping with binary payload of 125 octets.", PONG_OK)(_ping_pong(b"\xfe" * 125))
case("2.6", "Send ping with binary payload of 125 octets, sent in octet-wise chops.",
     PONG_OK)(_ping_pong(b"\xfe" * 125, chop=1, delay=0.001))


@case("2.5", "Send ping with binary payload of 126 octets.",
      "Connection is failed immediately (1002/protocol error), since control frames are only "
      "allowed to have payload up to and including 125 octets.")
def ping_126(ctx):
    conn = ctx.connect()
    conn.send_frame(wc.OP_PING, b"\xfe" * 126)
    expect_failure(ctx, conn, (1002,))


def _unsolicited(payload):
    def run(ctx):
        conn = ctx.connect()
        conn.send_frame(wc.OP_PONG, payload)
        expect_silence(conn, 0.5)
        close_normally(ctx, conn)
    return run


case("2.7", "Send unsolicited pong without payload.",
     "Nothing in reply. Clean close with normal code.")(_unsolicited(b""))
case("2.8", "Send unsolicited pong with payload.",
     "Nothing in reply. Clean close with normal code.")(_unsolicited(b"unsolicited pong payload"))


@case("2.9", "Send unsolicited pong with payload, then ping with payload.",
      "Pong for the ping only. Clean close with normal code.")
def pong_then_ping(ctx):
    conn = ctx.connect()
    conn.send_frame(wc.OP_PONG, b"unsolicited pong payload")
    conn.send_frame(wc.OP_PING, b"ping payload")
    expect_pong(conn, b"ping payload")
    close_normally(ctx, conn)


def _ten_pings(chop):
    def run(ctx):
        conn = ctx.connect()
        payloads = [f"payload-{i}".encode() for i in range(10)]
        conn.send_frames([(wc.OP_PING, p, True, 0) for p in payloads], chop=chop,
                         delay=0.0005 if chop else 0.0)
        for p in payloads:
            expect_pong(conn, p)
        close_normally(ctx, conn)
    return run


case("2.10", "Send 10 pings with payload.",
     "Pongs for our pings with all the payloads, in order. Clean close with normal code."
     )(_ten_pings(None))
case("2.11", "Send 10 pings with payload, sent in octet-wise chops.",
     "Pongs for our pings with all the payloads, in order. Clean close with normal code."
     )(_ten_pings(1))
