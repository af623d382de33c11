"""1.x Framing: text (1.1.x) and binary (1.2.x) messages at every payload-length encoding
boundary (7-bit, 16-bit, 64-bit), sent in one write or chopped.

1.x.1-1.x.8 are Autobahn's; 1.x.9 (16 MiB in 64 KiB writes) and 1.x.10 (octet-wise writes,
splitting the extended-length header at every byte) are extensions of this suite.
"""
from casebase import case, echo_roundtrip, text_payload, binary_payload, T
import wsclient as wc

LENGTHS = [0, 125, 126, 127, 128, 65535, 65536]
KINDS = [(1, wc.OP_TEXT, "text", text_payload), (2, wc.OP_BINARY, "binary", binary_payload)]


def _make(opcode, gen, n, chop=None, delay=0.0, timeout=T):
    def run(ctx):
        echo_roundtrip(ctx, opcode, gen(n), chop=chop, delay=delay, timeout=timeout)
    return run


for sub, opcode, kind, gen in KINDS:
    echo = f"Receive echo'ed {kind} message (with payload as sent). Clean close with normal code."
    for i, n in enumerate(LENGTHS, start=1):
        case(f"1.{sub}.{i}", f"Send {kind} message with payload of length {n}.", echo)(
            _make(opcode, gen, n))
    case(f"1.{sub}.8", f"Send {kind} message message with payload of length 65536, sent in "
         "chops of 997 octets.", echo)(_make(opcode, gen, 65536, chop=997))
    case(f"1.{sub}.9", f"[extension] Send {kind} message of 16 MiB (the default maximum) as one "
         "frame in 64 KiB writes.", echo, timeout=90.0)(
        _make(opcode, gen, 16 << 20, chop=65536, timeout=60.0))
    n10 = 126 if sub == 1 else 65536
    case(f"1.{sub}.10", f"[extension] Send {kind} message of {n10} bytes in octet-wise writes "
         "(the extended length header arrives one byte at a time).", echo, timeout=60.0)(
        _make(opcode, gen, n10, chop=1, delay=0.0005 if n10 < 1000 else 0.0, timeout=30.0))
