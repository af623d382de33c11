"""6.x UTF-8 handling (Autobahn 6.1-6.23): valid text is echoed, invalid text fails the
connection with 1007 and is never echoed.

- 6.1-6.3: empty and fragmented texts, valid and invalid, split into fragments.
- 6.4.x fail-fast: the valid prefix goes out, then (after a 1 s pause) the part holding the
  invalid byte, WITHOUT finishing the message; the close 1007 must arrive while the message is
  still open. Detecting it only once the message is complete is NON-STRICT (as in Autobahn).
- 6.5-6.23: Markus Kuhn's UTF-8 decoder test vectors, generated exactly like Autobahn's
  case6_x_x.py (same order, so 6.N.M maps to Autobahn's case). Each is sent in one frame like
  Autobahn, and additionally (extension) split into 2 fragments at every byte position and in
  octet-wise fragments; the case fails on the first variant that misbehaves.
"""
from casebase import (case, close_normally, expect_failure, expect_message, CaseFailed)
import wsclient as wc

TEXT, CONT = wc.OP_TEXT, wc.OP_CONT
KOSME = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"  # "κόσμε"
HELLO_UTF8 = "Hello-µ@ßöäüàá-UTF-8!!".encode()


def _expect(ctx, conn, payload, valid):
    if valid:
        expect_message(conn, TEXT, payload)
        close_normally(ctx, conn)
    else:
        expect_failure(ctx, conn, (1007,))


def _frames(payload, kind):
    """Fragmentations of payload: 'one', 'octets' or an int k (split in 2 at byte k)."""
    if kind == "one":
        return [(TEXT, payload, True, 0)]
    if kind == "octets":
        n = len(payload)
        return [(TEXT if i == 0 else CONT, payload[i:i + 1], i == n - 1, 0) for i in range(n)]
    return [(TEXT, payload[:kind], False, 0), (CONT, payload[kind:], True, 0)]


def _send_and_judge(payload, valid, kinds):
    def run(ctx):
        for kind in kinds:
            conn = ctx.connect(label=f"{kind if isinstance(kind, str) else f'split@{kind}'}")
            conn.send_frames(_frames(payload, kind))
            try:
                _expect(ctx, conn, payload, valid)
            except CaseFailed as e:
                what = {"one": "in one frame", "octets": "in octet-wise fragments"}.get(
                    kind, f"in 2 fragments split at byte {kind}")
                raise CaseFailed(f"payload 0x{payload.hex()} sent {what}: {e}") from None
    return run


VALID_EXP = "The message is echo'ed back to us."
INVALID_EXP = ("The connection is failed immediately (1007), since the payload is not valid "
               "UTF-8; nothing is echo'ed.")

case("6.1.1", "Send text message of length 0.", VALID_EXP)(_send_and_judge(b"", True, ["one"]))


@case("6.1.2", "Send fragmented text message, 3 fragments each of length 0.", VALID_EXP)
def empty_fragments(ctx):
    conn = ctx.connect()
    conn.send_frames([(TEXT, b"", False, 0), (CONT, b"", False, 0), (CONT, b"", True, 0)])
    _expect(ctx, conn, b"", True)


@case("6.1.3", "Send fragmented text message, 3 fragments, first and last of length 0, middle "
      "non-empty.", VALID_EXP)
def middle_fragment(ctx):
    conn = ctx.connect()
    conn.send_frames([(TEXT, b"", False, 0), (CONT, b"middle frame payload", False, 0),
                      (CONT, b"", True, 0)])
    _expect(ctx, conn, b"middle frame payload", True)


case("6.2.1", "Send a valid UTF-8 text message in one fragment.", VALID_EXP)(
    _send_and_judge(HELLO_UTF8, True, ["one"]))
case("6.2.2", "Send a valid UTF-8 text message in two fragments, fragmented on UTF-8 code "
     "point boundary.", VALID_EXP)(_send_and_judge(HELLO_UTF8, True, [11]))
case("6.2.3", "Send a valid UTF-8 text message in fragments of 1 octet, resulting in frames "
     "ending on positions which are not code point ends.", VALID_EXP)(
    _send_and_judge(HELLO_UTF8, True, ["octets"]))
case("6.2.4", "Send a valid UTF-8 text message ('κόσμε') in fragments of 1 octet.", VALID_EXP)(
    _send_and_judge(KOSME, True, ["octets"]))

INVALID = KOSME + b"\xed\xa0\x80" + b"edited"
case("6.3.1", "Send invalid UTF-8 text message unfragmented (a surrogate).", INVALID_EXP)(
    _send_and_judge(INVALID, False, ["one"]))
case("6.3.2", "Send invalid UTF-8 text message in fragments of 1 octet.", INVALID_EXP)(
    _send_and_judge(INVALID, False, ["octets"]))


# -- 6.4.x fail fast ------------------------------------------------------------------------------

FF_PAYLOAD = KOSME + b"\xf4\x90\x80\x80" + b"edited"  # U+110000 makes byte 12 (0x90) invalid


def _fail_fast(parts, chops):
    """parts: 3 byte strings; frames (chops=False) or chops of ONE frame (chops=True)."""
    def run(ctx):
        conn = ctx.connect()
        whole = b"".join(parts)
        if chops:
            data = wc.encode_frame(TEXT, whole)
            cut1 = wc.header_len(len(whole)) + len(parts[0])
            cut2 = cut1 + len(parts[1])
            pieces = [data[:cut1], data[cut1:cut2], data[cut2:]]
            conn.sent_log.add(f"TEXT fin=1 len={len(whole)} 0x{whole.hex()} in 3 writes "
                              f"(payload bytes {len(parts[0])} | {len(parts[1])} | rest)")
            send = [lambda i=i: conn.send_raw(pieces[i]) for i in range(3)]
        else:
            frames = [(TEXT, parts[0], False, 0), (CONT, parts[1], False, 0),
                      (CONT, parts[2], True, 0)]
            send = [lambda f=f: conn.send_frames([f]) for f in frames]
        send[0]()
        ev = conn.next_event(1.0)  # Autobahn's "timeout A": the valid prefix is accepted
        if ev is not None:
            raise CaseFailed(f"the server reacted to the valid first part 0x{parts[0].hex()}: "
                             f"{ev.describe()}")
        conn.sent_log.add("(paused 1 s)")
        send[1]()
        ev = conn.next_event(1.0)
        if ev is not None:
            conn.unget(ev)
            expect_failure(ctx, conn, (1007,))
            return
        conn.sent_log.add("(paused 1 s: no close yet, sending the rest of the message)")
        send[2]()
        expect_failure(ctx, conn, (1007,))
        ctx.non_strict("no fail-fast: the invalid UTF-8 was only rejected once the message was "
                       "complete, not while it was still open (after the invalid byte)")
    return run


FF_EXP = ("The first part is accepted (we time out on the first wait). The 2nd part is rejected "
          "immediately with 1007 (fail fast on UTF-8), while the message is still unfinished.")
case("6.4.1", "Send invalid UTF-8 text message in 3 fragments (frames): valid 'κόσμε', then "
     "0xf4908080 (U+110000), then 'edited', pausing 1 s after the first two.", FF_EXP)(
    _fail_fast([KOSME, b"\xf4\x90\x80\x80", b"edited"], chops=False))
case("6.4.2", "Same as 6.4.1, but the 2nd frame holds only up to and including the octet that "
     "makes the payload invalid (0x90).", FF_EXP)(
    _fail_fast([FF_PAYLOAD[:12], FF_PAYLOAD[12:13], FF_PAYLOAD[13:]], chops=False))
case("6.4.3", "Same as 6.4.1, but the message is one frame written in 3 chops.", FF_EXP)(
    _fail_fast([KOSME, b"\xf4\x90\x80\x80", b"edited"], chops=True))
case("6.4.4", "Same as 6.4.2, but the message is one frame written in 3 chops.", FF_EXP)(
    _fail_fast([FF_PAYLOAD[:12], FF_PAYLOAD[12:13], FF_PAYLOAD[13:]], chops=True))


# -- 6.5-6.23: Markus Kuhn's vectors, in Autobahn's order ------------------------------------

def _is_valid(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def utf8_test_sequences():
    """[(title, [(valid, bytes)])], transcribed from Autobahn's createUtf8TestSequences()
    (including its half-open ranges, e.g. 0x80..0xbe for 'all continuation bytes')."""
    seqs = []
    seqs.append(("Some valid UTF-8 sequences", [
        (True, b"hello\x24world"), (True, b"hello\xc2\xa2world"),
        (True, b"hello\xe2\x82\xacworld"), (True, b"hello\xf0\xa4\xad\xa2world"), (True, KOSME)]))
    seqs.append(("All prefixes of a valid UTF-8 string that contains multi-byte code points",
                 [(_is_valid(KOSME[:i]), KOSME[:i]) for i in range(1, len(KOSME) + 1)]))
    seqs.append(("First possible sequence of a certain length", [
        (True, b"\x00"), (True, b"\xc2\x80"), (True, b"\xe0\xa0\x80"),
        (True, b"\xf0\x90\x80\x80")]))
    seqs.append(("First possible sequence length 5/6 (invalid codepoints)", [
        (False, b"\xf8\x88\x80\x80\x80"), (False, b"\xfc\x84\x80\x80\x80\x80")]))
    seqs.append(("Last possible sequence of a certain length", [
        (True, b"\x7f"), (True, b"\xdf\xbf"), (True, b"\xef\xbf\xbf"),
        (True, b"\xf4\x8f\xbf\xbf")]))
    seqs.append(("Last possible sequence length 4/5/6 (invalid codepoints)", [
        (False, b"\xf7\xbf\xbf\xbf"), (False, b"\xfb\xbf\xbf\xbf\xbf"),
        (False, b"\xfd\xbf\xbf\xbf\xbf\xbf")]))
    seqs.append(("Other boundary conditions", [
        (True, b"\xed\x9f\xbf"), (True, b"\xee\x80\x80"), (True, b"\xef\xbf\xbd"),
        (True, b"\xf4\x8f\xbf\xbf"), (False, b"\xf4\x90\x80\x80")]))
    seqs.append(("Unexpected continuation bytes", [
        (False, b"\x80"), (False, b"\xbf"), (False, b"\x80\xbf"), (False, b"\x80\xbf\x80"),
        (False, b"\x80\xbf\x80\xbf"), (False, b"\x80\xbf\x80\xbf\x80"),
        (False, b"\x80\xbf\x80\xbf\x80\xbf"), (False, bytes(range(0x80, 0xbf)))]))
    seqs.append(("Lonely start characters", [
        (False, b"".join(bytes((i, 0x20)) for i in range(lo, hi)))
        for lo, hi in [(0xc0, 0xdf), (0xe0, 0xef), (0xf0, 0xf7), (0xf8, 0xfb), (0xfc, 0xfd)]]))
    missing = [b"\xc0", b"\xe0\x80", b"\xf0\x80\x80", b"\xf8\x80\x80\x80", b"\xfc\x80\x80\x80\x80",
               b"\xdf", b"\xef\xbf", b"\xf7\xbf\xbf", b"\xfb\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf"]
    seqs.append(("Sequences with last continuation byte missing", [(False, k) for k in missing]))
    seqs.append(("Concatenation of incomplete sequences", [(False, b"".join(missing))]))
    seqs.append(("Impossible bytes", [(False, b"\xfe"), (False, b"\xff"),
                                      (False, b"\xfe\xfe\xff\xff")]))
    seqs.append(("Examples of an overlong ASCII character", [
        (False, b"\xc0\xaf"), (False, b"\xe0\x80\xaf"), (False, b"\xf0\x80\x80\xaf"),
        (False, b"\xf8\x80\x80\x80\xaf"), (False, b"\xfc\x80\x80\x80\x80\xaf")]))
    seqs.append(("Maximum overlong sequences", [
        (False, b"\xc1\xbf"), (False, b"\xe0\x9f\xbf"), (False, b"\xf0\x8f\xbf\xbf"),
        (False, b"\xf8\x87\xbf\xbf\xbf"), (False, b"\xfc\x83\xbf\xbf\xbf\xbf")]))
    seqs.append(("Overlong representation of the NUL character", [
        (False, b"\xc0\x80"), (False, b"\xe0\x80\x80"), (False, b"\xf0\x80\x80\x80"),
        (False, b"\xf8\x80\x80\x80\x80"), (False, b"\xfc\x80\x80\x80\x80\x80")]))
    seqs.append(("Single UTF-16 surrogates", [(False, bytes.fromhex(h)) for h in [
        "eda080", "edadbf", "edae80", "edafbf", "edb080", "edbe80", "edbfbf"]]))
    seqs.append(("Paired UTF-16 surrogates", [(False, bytes.fromhex(h)) for h in [
        "eda080edb080", "eda080edbfbf", "edadbfedb080", "edadbfedbfbf",
        "edae80edb080", "edae80edbfbf", "edafbfedb080", "edafbfedbfbf"]]))
    nonchars = [(True, b"\xef\xbf\xbe"), (True, b"\xef\xbf\xbf")]
    for z1 in b"\xf0\xf1\xf2\xf3\xf4":
        for z2 in b"\x8f\x9f\xaf\xbf":
            if z1 == 0xf4 and z2 != 0x8f:
                continue  # beyond U+10FFFF
            for z3 in b"\xbe\xbf":
                zz = bytes((z1, z2, 0xbf, z3))
                if zz not in (b"\xf0\x8f\xbf\xbe", b"\xf0\x8f\xbf\xbf"):  # overlong
                    nonchars.append((True, zz))
    seqs.append(("Non-character code points (valid UTF-8)", nonchars))
    seqs.append(("Unicode specials (i.e. replacement char)", [
        (True, bytes((0xef, 0xbf, b))) for b in range(0xb9, 0xc0)]))
    for title, vectors in seqs:  # the flags above must agree with a strict decoder
        for valid, b in vectors:
            assert valid == _is_valid(b), (title, b.hex())
    return seqs


for _i, (_title, _vectors) in enumerate(utf8_test_sequences(), start=5):
    for _j, (_valid, _payload) in enumerate(_vectors, start=1):
        _kinds = ["one"] + list(range(1, len(_payload))) + (["octets"] if len(_payload) > 2 else [])
        case(f"6.{_i}.{_j}",
             f"{_title}: send a text message with payload 0x{_payload.hex()} "
             f"({'valid' if _valid else 'NOT valid'} UTF-8) in one frame; then [extension] split "
             "in 2 fragments at every byte, and in octet-wise fragments.",
             VALID_EXP if _valid else INVALID_EXP, timeout=60.0)(
            _send_and_judge(_payload, _valid, _kinds))
