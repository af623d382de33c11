"""Upgrade handshakes over raw sockets: the 101 answer, and each refusal reason of the spec with
its status line, extra header, one-line body, `Connection: close`, its counter
ringgate_handshake_rejected_total{reason=...} moving by exactly one (and no other reason moving),
and the rate-limited `handshake refused:` line on stderr naming the peer."""
import base64
import hashlib
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringgate_harness as rh  # noqa: E402

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def request(method="GET", target="/echo", version="HTTP/1.1", drop=(), override=None, extra=()):
    """An upgrade request with exactly the defect the caller asks for."""
    headers = {
        "Host": "127.0.0.1",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
    }
    headers.update(override or {})
    lines = [f"{method} {target} {version}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k not in drop]
    lines += list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def tokens(values):
    """Lower-cased tokens of comma-separated header values (`Connection: close, Upgrade`)."""
    return [t.strip().lower() for v in values for t in v.split(",") if t.strip()]


def refusal_log_pattern(fields):
    """A regex for one `handshake refused:` line holding every key=value of `fields`, in any
    order (the spec lists reason, status, peer, method, target, headers)."""
    pattern = r"(?m)^.*handshake refused:"
    for key, value in fields.items():
        pattern += rf"(?=.*\s{key}={re.escape(value)}(\s|$))"
    return pattern


class Refusal:
    def __init__(self, reason, status, raw, header=None, method=None, target=None):
        self.reason, self.status, self.raw = reason, status, raw
        self.header = header  # (name, value) the response must carry, or None
        self.method, self.target = method, target  # what the log line must name, when parsed


REFUSALS = {
    "method_not_allowed": Refusal("method_not_allowed", 405, request(method="POST"),
                                  ("Allow", "GET"), "POST", "/echo"),
    "missing_upgrade": Refusal("missing_upgrade", 426, request(drop=("Upgrade",)),
                               ("Upgrade", "websocket"), "GET", "/echo"),
    "missing_connection_upgrade": Refusal("missing_connection_upgrade", 426,
                                          request(override={"Connection": "keep-alive"}),
                                          None, "GET", "/echo"),
    "bad_version": Refusal("bad_version", 426, request(override={"Sec-WebSocket-Version": "8"}),
                           ("Sec-WebSocket-Version", "13"), "GET", "/echo"),
    "bad_key": Refusal("bad_key", 400, request(override={"Sec-WebSocket-Key": "dG9vIHNob3J0"}),
                       None, "GET", "/echo"),
    "http2_preface": Refusal("http2_preface", 400, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    "head_too_large": Refusal("head_too_large", 431,
                              request(extra=("X-Filler: " + "a" * 9000,))),
    "not_found": Refusal("not_found", 404, request(target="/nope"), None, "GET", "/nope"),
    "malformed": Refusal("malformed", 400, request(extra=("this line has no colon",))),
}


class HandshakeRefusalTest(rh.IntegrationCase):
    def setUp(self):
        self.server = rh.start_server(self)

    def check_refusal(self, refusal, raw=None):
        raw = raw or refusal.raw
        before = self.server.metrics()
        with rh.connect(self.server.port) as sock:
            peer = "%s:%d" % sock.getsockname()
            sock.sendall(raw)
            resp, rest = rh.read_http_response(sock)
            closed, extra = rh.read_until_eof(sock, timeout=5)
        where = f"request {raw[:120]!r}... -> response {resp!r}"
        self.assertRegex(resp.status_line, rf"^HTTP/1\.1 {refusal.status} \S", where)
        if refusal.header:
            name, value = refusal.header
            self.assertIn(value.lower(), tokens(resp.header(name)),
                          f"missing `{name}: {value}`; {where}")
        self.assertIn("close", tokens(resp.header("Connection")),
                      f"missing `Connection: close`; {where}")
        body = resp.body
        self.assertTrue(body.endswith(b"\n") and len(body.strip()) > 0, f"body {body!r}; {where}")
        self.assertNotIn(b"\n", body.rstrip(b"\r\n"), f"body has more than one line; {where}")
        self.assertTrue(closed, f"connection not closed after the refusal; {where}")
        self.assertEqual(rest + extra, b"", f"bytes after the response; {where}")

        after = self.server.wait_metrics(lambda m: m.rejected(refusal.reason) > before.rejected(refusal.reason))
        for reason in rh.REJECT_REASONS:
            self.assertRejectedDelta(before, after, reason, 1 if reason == refusal.reason else 0)
        self.assertEqual(after.get("ringgate_handshakes_completed_total"),
                         before.get("ringgate_handshakes_completed_total"))

        fields = {"reason": refusal.reason, "status": str(refusal.status), "peer": peer}
        if refusal.method:
            fields.update(method=refusal.method, target=refusal.target)
        self.assertIsNotNone(self.server.wait_for_log(refusal_log_pattern(fields)),
                             f"no `handshake refused:` stderr line with {fields}; "
                             f"stderr:\n{self.server.stderr_tail()}")

    def test_method_not_allowed(self):
        self.check_refusal(REFUSALS["method_not_allowed"])

    def test_missing_upgrade(self):
        self.check_refusal(REFUSALS["missing_upgrade"])

    def test_missing_connection_upgrade(self):
        self.check_refusal(REFUSALS["missing_connection_upgrade"])

    def test_bad_version(self):
        self.check_refusal(REFUSALS["bad_version"])

    def test_bad_key_short(self):
        self.check_refusal(REFUSALS["bad_key"])

    def test_bad_key_missing(self):
        self.check_refusal(REFUSALS["bad_key"], request(drop=("Sec-WebSocket-Key",)))

    def test_http2_preface(self):
        # An HTTP/2 prior-knowledge client reads only HTTP/2: the answer is a SETTINGS frame and
        # HTTP_1_1_REQUIRED (0xd) on stream 1, so the client retries over HTTP/1.1 (curl does) or
        # names the error, instead of "Empty reply".
        refusal = REFUSALS["http2_preface"]
        before = self.server.metrics()
        settings = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
        headers = b"\x00\x00\x01\x01\x05\x00\x00\x00\x01\x82"  # HEADERS, stream 1: :method GET
        with rh.connect(self.server.port) as sock:
            peer = "%s:%d" % sock.getsockname()
            sock.sendall(refusal.raw + settings + headers)
            # The answer is two frames (SETTINGS, then RST_STREAM on stream 1); no FIN follows
            # them, since curl takes a FIN right behind them for "Empty reply": it closes first.
            sock.settimeout(5)
            data = b""
            while len(data) < 22:
                got = sock.recv(4096)
                self.assertTrue(got, f"closed after {data!r}: the client must close first")
                data += got
        frames = []
        while len(data) >= 9:
            length = int.from_bytes(data[:3], "big")
            frames.append((data[3], int.from_bytes(data[5:9], "big") & 0x7FFFFFFF, data[9:9 + length]))
            data = data[9 + length:]
        self.assertEqual(data, b"", f"bytes that are not whole HTTP/2 frames: {data!r}")
        self.assertTrue(frames and frames[0][0] == 4 and frames[0][1] == 0, f"no server SETTINGS first: {frames}")
        errors = [int.from_bytes(p[:4], "big") for t, _, p in frames if t == 3] + \
                 [int.from_bytes(p[4:8], "big") for t, _, p in frames if t == 7]
        self.assertTrue(errors and all(e == 0xD for e in errors), f"no HTTP_1_1_REQUIRED: {frames}")
        after = self.server.wait_metrics(lambda m: m.rejected(refusal.reason) > before.rejected(refusal.reason))
        self.assertRejectedDelta(before, after, refusal.reason, 1)
        fields = {"reason": refusal.reason, "status": str(refusal.status), "peer": peer}
        self.assertIsNotNone(self.server.wait_for_log(refusal_log_pattern(fields)), self.server.stderr_tail())

    def test_head_too_large(self):
        self.check_refusal(REFUSALS["head_too_large"])

    def test_not_found(self):
        self.check_refusal(REFUSALS["not_found"])

    def test_malformed_header_line(self):
        self.check_refusal(REFUSALS["malformed"])

    def test_malformed_request_line(self):
        self.check_refusal(REFUSALS["malformed"], b"HELLO\r\n\r\n")


class HandshakeAcceptTest(rh.IntegrationCase):
    def setUp(self):
        self.server = rh.start_server(self)

    def upgrade(self, raw):
        with rh.connect(self.server.port) as sock:
            sock.sendall(raw)
            resp, _ = rh.read_http_response(sock)
        return resp

    def test_every_reason_exported_at_zero(self):
        m = self.server.metrics()
        for reason in rh.REJECT_REASONS:
            self.assertTrue(m.has("ringgate_handshake_rejected_total", reason=reason),
                            f"reason {reason} not exported:\n{m.text}")
            self.assertEqual(m.rejected(reason), 0)
        for name in ["ringgate_connections_active", "ringgate_connections_accepted_total",
                     "ringgate_handshakes_completed_total", "ringgate_messages_received_total",
                     "ringgate_messages_sent_total", "ringgate_bytes_received_total",
                     "ringgate_bytes_sent_total"]:
            self.assertTrue(m.has(name), f"{name} not exported:\n{m.text}")

    def test_rfc6455_sample_key_gets_101(self):
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        before = self.server.metrics()
        resp = self.upgrade(request(override={"Sec-WebSocket-Key": key}))
        self.assertRegex(resp.status_line, r"^HTTP/1\.1 101 ", repr(resp))
        self.assertEqual(resp.header("Sec-WebSocket-Accept"), ["s3pPLMBiTxaQ9kYGzzhZRbK+xOo="], repr(resp))
        self.assertIn("websocket", tokens(resp.header("Upgrade")), repr(resp))
        self.assertIn("upgrade", tokens(resp.header("Connection")), repr(resp))
        after = self.server.wait_metrics(lambda m: m.get("ringgate_handshakes_completed_total") >
                                         before.get("ringgate_handshakes_completed_total"))
        self.assertEqual(after.get("ringgate_handshakes_completed_total")
                         - before.get("ringgate_handshakes_completed_total"), 1)
        for reason in rh.REJECT_REASONS:
            self.assertRejectedDelta(before, after, reason, 0)

    def test_header_tokens_are_case_insensitive_lists(self):
        key = base64.b64encode(os.urandom(16)).decode()
        resp = self.upgrade(request(override={"Sec-WebSocket-Key": key, "Upgrade": "WebSocket",
                                              "Connection": "keep-alive, Upgrade"}))
        self.assertRegex(resp.status_line, r"^HTTP/1\.1 101 ", repr(resp))
        want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        self.assertEqual(resp.header("Sec-WebSocket-Accept"), [want], repr(resp))

    def test_healthz(self):
        resp = self.server.admin_get("/healthz")
        self.assertEqual(resp.status, 200, repr(resp))
        self.assertEqual(resp.body, b"ok\n")

    def test_metrics_content(self):
        resp = self.server.admin_get("/metrics")
        self.assertEqual(resp.status, 200, repr(resp))
        self.assertIn(b"# TYPE ringgate_handshake_rejected_total counter", resp.body)



class SubprotocolTest(rh.IntegrationCase):
    """The subprotocol hook: the first protocol in the client's list that the server supports."""

    def setUp(self):
        self.server = rh.start_server(self, "--subprotocol", "superchat", "--subprotocol", "chat")

    def upgrade(self, protocols):
        extra = {"Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode()}
        if protocols is not None:
            extra["Sec-WebSocket-Protocol"] = protocols
        with rh.connect(self.server.port) as sock:
            sock.sendall(request(override=extra))
            resp, _ = rh.read_http_response(sock)
        self.assertRegex(resp.status_line, r"^HTTP/1\.1 101 ", repr(resp))
        return resp.header("Sec-WebSocket-Protocol")

    def test_client_order_wins(self):
        self.assertEqual(self.upgrade("chat, superchat"), ["chat"])
        self.assertEqual(self.upgrade("v2.json,superchat"), ["superchat"])

    def test_no_common_protocol_means_none(self):
        self.assertEqual(self.upgrade("mqtt"), [])
        self.assertEqual(self.upgrade(None), [])

if __name__ == "__main__":
    unittest.main(verbosity=2)
