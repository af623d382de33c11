"""Case registry, verdicts and the expectations every case module shares.

Verdicts follow Autobahn|Testsuite: OK when the behaviour matches exactly; NON-STRICT only where
Autobahn also tolerates a deviation (the server drops TCP without a close frame where
expectedClose has requireClean=False; a close without a code where Autobahn accepts "or empty";
UTF-8 detected only at the end of the message in 6.4.x; 1000 instead of the echoed code in
7.7.x); INFORMATIONAL where Autobahn leaves the outcome to the implementation (7.1.6).
Anything else FAILS, and so does a server that leaves the TCP connection open after a closing
handshake (Autobahn's "FAILED BY CLIENT": the server, not the client, must close TCP,
RFC 6455 7.1.1). run.py --strict counts NON-STRICT as failed.

A case is a function of a Context; it raises CaseFailed with a sentence saying what was expected
and what arrived. The Context keeps its connections so the runner can print what each one sent
and received.
"""
import wsclient as wc

OK, NON_STRICT, INFORMATIONAL, FAILED = "OK", "NON-STRICT", "INFORMATIONAL", "FAILED"
T = 5.0               # seconds: bound on each wait for an answer the server owes us
DROP_TIMEOUT_S = 2.0  # seconds: the server must close TCP this soon after a closing handshake

VALID_CLOSE_CODES = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}


class CaseFailed(Exception):
    pass


class CaseSpec:
    def __init__(self, case_id, description, expectation, func, timeout, group):
        self.id, self.description, self.expectation = case_id, description, expectation
        self.func, self.timeout, self.group = func, timeout, group
        self.sort_key = tuple(int(p) for p in case_id.split("."))
        self.category = case_id.split(".")[0]


REGISTRY = []


def register(case_id, description, expectation, func, timeout=20.0, group="main"):
    if any(s.id == case_id for s in REGISTRY):
        raise RuntimeError(f"case {case_id} registered twice")
    REGISTRY.append(CaseSpec(case_id, description, expectation, func, timeout, group))


def case(case_id, description, expectation, timeout=20.0, group="main"):
    """Decorator: registers the function as case `case_id` (Autobahn numbering)."""
    def wrap(func):
        register(case_id, description, expectation, func, timeout, group)
        return func
    return wrap


class Context:
    def __init__(self, spec, url):
        self.spec, self.url = spec, url
        self.status, self.notes, self.conns = OK, [], []

    def connect(self, label=None):
        conn = wc.Connection(self.url, timeout=T, label=label or f"#{len(self.conns) + 1}")
        self.conns.append(conn)
        try:
            return conn.open()
        except (OSError, wc.HandshakeError) as e:
            raise CaseFailed(f"opening handshake failed: {e}") from e

    def non_strict(self, why):
        if self.status == OK:
            self.status = NON_STRICT
        self.notes.append(f"non-strict: {why}")

    def informational(self, why):
        self.status = INFORMATIONAL
        self.notes.append(why)

    def note(self, why):
        self.notes.append(why)

    def abort_all(self):
        for conn in self.conns:
            conn.abort()


# -- reading the server's frames ---------------------------------------------------------------

def frame_problem(frame):
    """Why a frame from the server is itself a protocol violation, or None."""
    if frame.masked:
        return "server frame is masked (RFC 6455 5.1: a server MUST NOT mask)"
    if frame.rsv:
        return f"server frame has RSV bits {frame.rsv} set without an extension"
    if frame.opcode not in wc.OP_NAMES:
        return f"server frame uses reserved opcode {frame.opcode:#x}"
    if frame.opcode >= 8 and (not frame.fin or frame.length > 125):
        return "server control frame is fragmented or longer than 125 bytes"
    return None


def next_frame(conn, timeout, expecting):
    """The next frame; fails on timeout, EOF, reset or an invalid server frame."""
    ev = conn.next_event(timeout)
    if ev is None:
        raise CaseFailed(f"expected {expecting}; nothing arrived within {timeout:g} s")
    if ev.kind != "frame":
        raise CaseFailed(f"expected {expecting}; got {ev.describe()}")
    problem = frame_problem(ev.frame)
    if problem:
        raise CaseFailed(f"expected {expecting}; {problem}: {ev.frame.describe()}")
    return ev.frame


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def expect_message(conn, opcode, payload, timeout=T):
    """The next thing from the server must be this message (the server may fragment it)."""
    what = f"echo {wc.op_name(opcode)} len={len(payload)} {wc.preview(payload)}"
    frame = next_frame(conn, timeout, what)
    if frame.opcode != opcode:
        raise CaseFailed(f"expected {what}; got {frame.describe()}")
    parts = [frame.payload]
    while not frame.fin:
        frame = next_frame(conn, timeout, f"continuation of the {what}")
        if frame.opcode != wc.OP_CONT:
            raise CaseFailed(f"expected continuation of the {what}; got {frame.describe()}")
        parts.append(frame.payload)
    got = b"".join(parts)
    if got != payload:
        at = first_difference(got, payload)
        raise CaseFailed(f"expected {what}; got {wc.op_name(opcode)} len={len(got)} "
                         f"{wc.preview(got)} (first difference at byte {at})")


def expect_pong(conn, payload, timeout=T):
    what = f"PONG len={len(payload)} {wc.preview(payload)}"
    frame = next_frame(conn, timeout, what)
    if frame.opcode != wc.OP_PONG or frame.payload != payload:
        raise CaseFailed(f"expected {what}; got {frame.describe()}")


def expect_silence(conn, duration):
    """Nothing may arrive for `duration` seconds (e.g. after an unsolicited pong)."""
    ev = conn.next_event(duration)
    if ev is not None:
        raise CaseFailed(f"expected no answer for {duration:g} s; got {ev.describe()}")


def expect_eof(conn, timeout=DROP_TIMEOUT_S):
    ev = conn.next_event(timeout)
    if ev is None:
        raise CaseFailed(f"the server did not close the TCP connection within {timeout:g} s "
                         "after the closing handshake (RFC 6455 7.1.1: the server closes first)")
    if ev.kind == "frame":
        raise CaseFailed(f"expected TCP close after the closing handshake; got {ev.describe()}")


def parse_close(frame):
    """(code or None, reason bytes); fails on a 1-byte or otherwise malformed close payload."""
    p = frame.payload
    if len(p) == 0:
        return None, b""
    if len(p) == 1:
        raise CaseFailed(f"server sent a close frame with a 1-byte payload: {frame.describe()}")
    code, reason = int.from_bytes(p[:2], "big"), p[2:]
    try:
        reason.decode("utf-8")
    except UnicodeDecodeError:
        raise CaseFailed(f"server close reason is not valid UTF-8: {frame.describe()}") from None
    if code not in VALID_CLOSE_CODES and not 3000 <= code <= 4999:
        raise CaseFailed(f"server sent a close code that may not go on the wire: {code}")
    return code, reason


def close_handshake(ctx, conn, code=1000, reason=b"", accept=(1000,), tolerate=(),
                    accept_empty=False, timeout=T):
    """We close: the server must answer with a close whose code is in `accept` (in `tolerate`:
    NON-STRICT; empty close: OK if accept_empty), send nothing else first, then close TCP."""
    conn.send_close(code, reason)
    want = "close " + "/".join(map(str, accept)) + (" or empty" if accept_empty else "")
    frame = next_frame(conn, timeout, f"{want} in answer to our close {code}")
    if frame.opcode != wc.OP_CLOSE:
        raise CaseFailed(f"expected {want} in answer to our close {code}; got {frame.describe()}")
    got, _ = parse_close(frame)
    if got is None and not accept_empty:
        raise CaseFailed(f"expected {want}; got a close without a code")
    if got is not None and got not in accept:
        if got not in tolerate:
            raise CaseFailed(f"expected {want}; got close {got}")
        ctx.non_strict(f"answered close {got}, expected {want}")
    expect_eof(conn)


def close_normally(ctx, conn):
    """The closing sequence Autobahn ends every passing echo case with."""
    close_handshake(ctx, conn, 1000, accept=(1000,))


def expect_failure(ctx, conn, codes=(1002,), timeout=T):
    """The server must fail the connection: a close with a code in `codes` (no data frame, pong
    or echo before it), then TCP close. TCP dropped without any close frame is NON-STRICT
    (Autobahn requireClean=False); a close without a code too (Autobahn accepts "or empty")."""
    want = "close " + "/".join(map(str, codes))
    ev = conn.next_event(timeout)
    if ev is None:
        raise CaseFailed(f"expected {want}; nothing arrived within {timeout:g} s "
                         "(the server did not fail the connection)")
    if ev.kind in ("eof", "reset"):
        ctx.non_strict(f"server dropped TCP ({ev.describe()}) without sending {want}")
        return
    if ev.kind != "frame":
        raise CaseFailed(f"expected {want}; got {ev.describe()}")
    frame = ev.frame
    problem = frame_problem(frame)
    if problem:
        raise CaseFailed(f"expected {want}; {problem}: {frame.describe()}")
    if frame.opcode != wc.OP_CLOSE:
        raise CaseFailed(f"expected {want}; got {frame.describe()}")
    got, _ = parse_close(frame)
    if got is None:
        ctx.non_strict(f"server closed without a status code, expected {want}")
    elif got not in codes:
        raise CaseFailed(f"expected {want}; got close {got}")
    conn.send_close(got, note=" (client echoes the server's close)")
    expect_eof(conn)


# -- payloads and the common echo round trip ---------------------------------------------------

def text_payload(n):
    """n bytes of valid UTF-8: mostly multi-byte characters, padded with ASCII to exactly n."""
    unit = "κόσμε-€-😀-ascii-".encode()
    body = (unit * (n // len(unit) + 1))[: n - n % len(unit)]
    pad = b"*" * (n - len(body))
    return body + pad if n >= len(unit) else b"*" * n


def binary_payload(n, seed=1):
    import random
    return random.Random(seed * 7919 + n).randbytes(n)


def echo_roundtrip(ctx, opcode, payload, chop=None, delay=0.0, timeout=T):
    conn = ctx.connect()
    conn.send_frame(opcode, payload, chop=chop, delay=delay)
    expect_message(conn, opcode, payload, timeout=timeout)
    close_normally(ctx, conn)
