"""4.x Opcodes (Autobahn 4.1.x non-control 3-7, 4.2.x control 0xB-0xF): a reserved opcode fails
the connection with 1002; a valid message sent before it is still echoed first, and the ping
sent after it gets no pong."""
from casebase import case, expect_failure, expect_message
import wsclient as wc

HELLO = b"Hello, world!"
PAYLOAD = b"reserved opcode payload"


def _reserved(opcode, payload, after_message):
    def run(ctx):
        conn = ctx.connect()
        frames = [(opcode, payload, True, 0)]
        if after_message:
            frames = [(wc.OP_TEXT, HELLO, True, 0)] + frames + [(wc.OP_PING, b"", True, 0)]
        conn.send_frames(frames)
        if after_message:
            expect_message(conn, wc.OP_TEXT, HELLO)
        expect_failure(ctx, conn, (1002,))
    return run


for group, opcodes in ((1, [3, 4, 5, 6, 7]), (2, [11, 12, 13, 14, 15])):
    kind = "non-control" if group == 1 else "control"
    for i, op in enumerate(opcodes, start=1):
        payload = b"" if i in (1, 3) else PAYLOAD
        with_payload = "" if not payload else " with non-empty payload"
        if i <= 2:
            desc = f"Send frame with reserved {kind} Opcode = {op}{with_payload}."
            exp = "The connection is failed immediately (1002)."
        else:
            desc = (f"Send small text message, then send frame with reserved {kind} Opcode = "
                    f"{op}{with_payload}, then send Ping.")
            exp = ("Echo for first message is received, but then connection is failed "
                   "immediately (1002). The Ping is not answered.")
        case(f"4.{group}.{i}", desc, exp)(_reserved(op, payload, i >= 3))
