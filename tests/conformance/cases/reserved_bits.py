"""3.x Reserved bits (Autobahn 3.1-3.7): with no extension negotiated, a frame with any RSV bit
set fails the connection with 1002; a valid message sent before it is still echoed, and
nothing after it (the trailing ping) is answered."""
from casebase import case, expect_failure, expect_message
import wsclient as wc

HELLO = b"Hello, world!"
FAIL = "The connection is failed immediately (1002/protocol error), since RSV must be 0."


def _rsv(rsv, chop=None, delay=0.0):
    """Autobahn 3.2-3.4: valid text, text with RSV, ping; expect the echo and then 1002."""
    def run(ctx):
        conn = ctx.connect()
        conn.send_frames([(wc.OP_TEXT, HELLO, True, 0), (wc.OP_TEXT, HELLO, True, rsv),
                          (wc.OP_PING, b"", True, 0)], chop=chop, delay=delay)
        expect_message(conn, wc.OP_TEXT, HELLO)
        expect_failure(ctx, conn, (1002,))
    return run


def _single(opcode, payload, rsv):
    def run(ctx):
        conn = ctx.connect()
        conn.send_frame(opcode, payload, rsv=rsv)
        expect_failure(ctx, conn, (1002,))
    return run


case("3.1", "Send small text message with RSV = 1.", FAIL)(_single(wc.OP_TEXT, HELLO, 1))
case("3.2", "Send small text message, then send again with RSV = 2, then send Ping.",
     "Echo for first message is received, but then connection is failed immediately (1002), "
     "since RSV must be 0. The Ping is not answered.")(_rsv(2))
case("3.3", "Send small text message, then send again with RSV = 3, then send Ping. Octets are "
     "sent in frame-wise chops.",
     "Echo for first message is received, but then connection is failed immediately (1002). "
     "The Ping is not answered.")(_rsv(3, chop="frame", delay=0.01))
case("3.4", "Send small text message, then send again with RSV = 4, then send Ping. Octets are "
     "sent in octet-wise chops.",
     "Echo for first message is received, but then connection is failed immediately (1002). "
     "The Ping is not answered.")(_rsv(4, chop=1, delay=0.002))
case("3.5", "Send small binary message with RSV = 5.", FAIL)(
    _single(wc.OP_BINARY, b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff", 5))
case("3.6", "Send Ping with RSV = 6.", FAIL + " No Pong.")(_single(wc.OP_PING, HELLO, 6))
case("3.7", "Send Close with RSV = 7.", FAIL)(
    _single(wc.OP_CLOSE, wc.close_payload(1000), 7))
