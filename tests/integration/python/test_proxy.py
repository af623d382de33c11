"""PROXY protocol (v1 text, v2 binary with TLVs) in front of plain (--listen) and TLS (--listen-tls)
listeners of the real binary, with headers built by hand over raw sockets: trusted and untrusted
sources, optional and required modes, LOCAL health checks, and every way a header can be wrong
(missing, truncated, split, oversized, invalid, slow), each checked through the connection's fate,
ringgate_proxy_headers_total{result=...} and, where a refusal is logged, the client the log names.
Also X-Forwarded-For in refusal logs, which only a trusted TCP peer may contribute."""
import os
import re
import shutil
import ssl
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringgate_harness as rh  # noqa: E402

T = 10.0
PROXY = "ringgate_proxy_headers_total"
RESULTS = ("accepted", "local", "absent", "missing", "untrusted", "invalid", "too_large", "timeout")
CLIENT_IP, CLIENT_PORT = "203.0.113.7", 51234
CLIENT6 = "2001:db8::7"
V2_TLVS = [(rh.PP2_TYPE_ALPN, b"http/1.1"), (rh.PP2_TYPE_AUTHORITY, b"example.com"),
           (rh.PP2_TYPE_AWS, b"\x01vpce-0123456789abcdef0")]

_tmp = None
CERT = None


def setUpModule():
    global _tmp, CERT
    _tmp = tempfile.mkdtemp(prefix="ringgate-proxy-")
    CERT = rh.make_cert(_tmp, "proxy")


def tearDownModule():
    shutil.rmtree(_tmp, ignore_errors=True)


class BioTls:
    """TLS over a raw socket through memory BIOs, so the PROXY header and the ClientHello leave in
    ONE write (what a real proxy does: the gateway must keep the bytes behind the header).
    Offers sendall/recv/settimeout for RawWs."""

    def __init__(self, sock, prefix, server_hostname="localhost"):
        self.sock = sock
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = rh.client_context().wrap_bio(self.inc, self.out, server_hostname=server_hostname)
        first = True
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                pass
            data = self.out.read()
            if data or first:
                sock.sendall((prefix if first else b"") + data)
                first = False
            self._fill()
        self._flush()

    def _flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            self.inc.write_eof()
            raise ConnectionError("EOF during TLS")
        self.inc.write(data)

    def sendall(self, data):
        self.obj.write(data)
        self._flush()

    def recv(self, n):
        while True:
            try:
                return self.obj.read(n)
            except ssl.SSLWantReadError:
                self._flush()
                try:
                    self._fill()
                except ConnectionError:
                    return b""

    def settimeout(self, t):
        self.sock.settimeout(t)

    def getsockname(self):
        return self.sock.getsockname()

    def close(self):
        self.sock.close()


def tls_pairs():
    return ["--listen-tls", "127.0.0.1:0", "--tls-cert", CERT[0], "--tls-key", CERT[1]]


class ProxyCase(rh.IntegrationCase):
    def start(self, mode, trusted, *extra):
        self.server = rh.start_server(self, "--proxy-protocol", mode, "--trusted-proxies", trusted,
                                      *tls_args_if(True), *extra)
        self.assertEqual(len(self.server.tls_ports), 1, self.server.stderr_text())
        return self.server

    def proxy_delta(self, before, after):
        return {r: after.get(PROXY, result=r) - before.get(PROXY, result=r) for r in RESULTS
                if after.get(PROXY, result=r) != before.get(PROXY, result=r)}

    def expect_results(self, before, want, timeout=5.0):
        """Waits until ringgate_proxy_headers_total moved exactly by `want` ({result: n})."""
        after = self.server.wait_metrics(lambda m: self.proxy_delta(before, m) == want, timeout)
        self.assertEqual(self.proxy_delta(before, after), want, "ringgate_proxy_headers_total deltas")
        return after

    def open(self, tls, prefix=b"", split=None):
        """A connected, upgraded RawWs through `prefix` (sent alone, or in `split` pieces with
        small delays when given; with TLS in the same write as the ClientHello unless split)."""
        port = self.server.tls_port if tls else self.server.port
        sock = rh.connect(port)
        try:
            if split:
                for i in range(0, len(prefix), split):
                    sock.sendall(prefix[i:i + split])
                    time.sleep(0.05)
                prefix = b""
            if tls:
                conn = BioTls(sock, prefix)
            else:
                conn = sock
                if prefix:
                    sock.sendall(prefix)
            return rh.RawWs(None, sock=conn)
        except BaseException:
            sock.close()
            raise

    def check_echo(self, ws):
        ws.send(rh.OP_TEXT, b"hello via proxy")
        self.assertEqual(ws.recv_frame(), (True, rh.OP_TEXT, b"hello via proxy"))
        big = os.urandom(100000)
        ws.send(rh.OP_BINARY, big)
        self.assertEqual(ws.recv_frame(), (True, rh.OP_BINARY, big))
        ws.send(rh.OP_CLOSE, rh.close_payload(1000))
        self.assertEqual(ws.recv_close(), 1000)
        ws.close()

    def expect_closed(self, tls, prefix, what, send_after=b""):
        """Sends `prefix` (+ `send_after`) and expects the gateway to close without answering."""
        port = self.server.tls_port if tls else self.server.port
        with rh.connect(port) as sock:
            try:
                sock.sendall(prefix)
                if send_after:
                    sock.sendall(send_after)
            except (BrokenPipeError, ConnectionResetError):
                pass  # already closed: fine
            closed, data = rh.read_until_eof(sock, timeout=T)
        self.assertTrue(closed, f"{what}: connection not closed")
        self.assertEqual(data, b"", f"{what}: the gateway answered {data[:200]!r}")

    def refusal_line(self, peer_rx):
        return self.server.wait_for_log(rf"(?m)^.*handshake refused:.*reason=not_found.*peer={peer_rx}.*$")


def tls_args_if(on):
    return tls_pairs() if on else []


# -- trusted source, required ---------------------------------------------------------------
class TrustedProxyTest(ProxyCase):
    def setUp(self):
        self.start("required", "127.0.0.0/8")

    def each_listener(self, header, result="accepted"):
        for tls in (False, True):
            with self.subTest(tls=tls):
                before = self.server.metrics()
                self.check_echo(self.open(tls, header))
                self.expect_results(before, {result: 1})

    def test_v1_tcp4(self):
        self.each_listener(rh.proxy_v1(CLIENT_IP, "127.0.0.1", CLIENT_PORT, 443))

    def test_v1_tcp6(self):
        self.each_listener(rh.proxy_v1(CLIENT6, "2001:db8::1", CLIENT_PORT, 443))

    def test_v2_ipv4_with_tlvs(self):
        self.each_listener(rh.proxy_v2(CLIENT_IP, "127.0.0.1", CLIENT_PORT, 443, V2_TLVS))

    def test_v2_ipv6_with_tlvs(self):
        self.each_listener(rh.proxy_v2(CLIENT6, "2001:db8::1", CLIENT_PORT, 443, V2_TLVS))

    def test_v2_local_health_check(self):
        self.each_listener(rh.proxy_v2(local=True), result="local")

    def test_header_split_in_pieces(self):
        for header in (rh.proxy_v1(CLIENT_IP, "127.0.0.1", CLIENT_PORT, 443),
                       rh.proxy_v2(CLIENT_IP, "127.0.0.1", CLIENT_PORT, 443, V2_TLVS)):
            for tls in (False, True):
                with self.subTest(tls=tls, v=header[:5]):
                    before = self.server.metrics()
                    self.check_echo(self.open(tls, header, split=7))
                    self.expect_results(before, {"accepted": 1})

    def test_header_and_upgrade_in_one_write(self):
        before = self.server.metrics()
        with rh.connect(self.server.port) as sock:
            sock.sendall(rh.proxy_v1(CLIENT_IP, "127.0.0.1", CLIENT_PORT, 443) + rh.upgrade_request())
            resp, rest = rh.read_http_response(sock)
            self.assertEqual(resp.status, 101, resp)
        self.expect_results(before, {"accepted": 1})

    def test_refusal_log_names_the_client(self):
        cases = ((rh.proxy_v1(CLIENT_IP, "127.0.0.1", CLIENT_PORT, 443), False,
                  re.escape(f"{CLIENT_IP}:{CLIENT_PORT}")),
                 (rh.proxy_v2("198.18.0.5", "127.0.0.1", 40001, 443, V2_TLVS), True,
                  re.escape("198.18.0.5:40001") + r" via=proxy proxy_alpn=http/1.1 "
                  r"proxy_authority=example\.com aws_vpce=vpce-0123456789abcdef0"),
                 (rh.proxy_v2(CLIENT6, "2001:db8::1", 40002, 443), False,
                  re.escape(f"[{CLIENT6}]:40002")))
        for header, tls, peer_rx in cases:
            with self.subTest(tls=tls, peer=peer_rx):
                port = self.server.tls_port if tls else self.server.port
                with rh.connect(port) as sock:
                    conn = BioTls(sock, header) if tls else sock
                    if not tls:
                        sock.sendall(header)
                    conn.sendall(rh.upgrade_request("/nope"))
                    resp, _ = rh.read_http_response(conn)
                self.assertEqual(resp.status, 404, resp)
                line = self.refusal_line(peer_rx if "via=proxy" in peer_rx else peer_rx + r" via=proxy")
                self.assertIsNotNone(line, f"no refusal line with peer={peer_rx} via=proxy:\n"
                                           f"{self.server.stderr_tail()}")

    def test_local_command_logs_the_tcp_peer(self):
        with rh.connect(self.server.port) as sock:
            local = "%s:%d" % sock.getsockname()
            sock.sendall(rh.proxy_v2(local=True) + rh.upgrade_request("/nope"))
            resp, _ = rh.read_http_response(sock)
        self.assertEqual(resp.status, 404, resp)
        m = self.refusal_line(re.escape(local))
        self.assertIsNotNone(m, self.server.stderr_tail())
        self.assertNotIn("via=proxy", m.group(0))

    def test_missing_header(self):
        # Required mode, trusted peer, no header: plain upgrade / TLS ClientHello are refused.
        before = self.server.metrics()
        self.expect_closed(False, rh.upgrade_request(), "upgrade without PROXY header")
        self.expect_results(before, {"missing": 1})
        before = self.server.metrics()
        with rh.connect(self.server.tls_port) as sock:
            with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
                BioTls(sock, b"")
        self.expect_results(before, {"missing": 1})
        self.assertEqual(self.server.metrics().get("ringgate_handshakes_completed_total"), 0)

    def test_truncated_header_then_close(self):
        before = self.server.metrics()
        for tls in (False, True):
            port = self.server.tls_port if tls else self.server.port
            for partial in (b"PROXY TCP4 203.0.1", rh.proxy_v2(CLIENT_IP, "127.0.0.1", 1, 2)[:20]):
                with rh.connect(port) as sock:
                    sock.sendall(partial)
        m = self.server.wait_metrics(lambda m: m.get("ringgate_connections_active") == 0)
        self.assertEqual(m.get("ringgate_connections_active"), 0, "truncated headers left connections")
        delta = self.proxy_delta(before, m)
        self.assertNotIn("accepted", delta, f"a truncated header was accepted: {delta}")
        self.check_echo(self.open(False, rh.proxy_v1(CLIENT_IP, "127.0.0.1", CLIENT_PORT, 443)))

    def test_oversized(self):
        for tls in (False, True):
            with self.subTest(tls=tls, v=1):
                before = self.server.metrics()
                self.expect_closed(tls, b"PROXY TCP4 " + b"1" * 200, "v1 without CRLF in 200 bytes")
                self.expect_results(before, {"too_large": 1})
            with self.subTest(tls=tls, v=2):
                before = self.server.metrics()
                header = rh.proxy_v2(CLIENT_IP, "127.0.0.1", 1, 2, length_override=5000)
                self.expect_closed(tls, header, "v2 claiming 5000 bytes", send_after=b"\0" * 100)
                self.expect_results(before, {"too_large": 1})

    def test_invalid(self):
        bad = {
            "v1 port 99999": b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n",
            "v1 bad address": b"PROXY TCP4 1.2.3.400 5.6.7.8 1 2\r\n",
            "v1 family mismatch": b"PROXY TCP4 ::1 ::1 1 2\r\n",
            "v1 bad protocol": b"PROXY SCTP 1.2.3.4 5.6.7.8 1 2\r\n",
            "v2 version 3": rh.PROXY_V2_SIG + b"\x31\x11\x00\x0c" + bytes(12),
            "v2 bad command": rh.PROXY_V2_SIG + b"\x2f\x11\x00\x0c" + bytes(12),
            "v2 TCP4 too short": rh.PROXY_V2_SIG + b"\x21\x11\x00\x04" + bytes(4),
        }
        for what, header in bad.items():
            with self.subTest(what):
                before = self.server.metrics()
                self.expect_closed(False, header, what, send_after=rh.upgrade_request())
                self.expect_results(before, {"invalid": 1})


# -- untrusted sources ------------------------------------------------------------------------
class UntrustedOptionalTest(ProxyCase):
    def setUp(self):
        self.start("optional", "10.0.0.0/8")

    def test_header_from_untrusted_peer_is_refused(self):
        for tls in (False, True):
            with self.subTest(tls=tls):
                before = self.server.metrics()
                self.expect_closed(tls, rh.proxy_v1(CLIENT_IP, "127.0.0.1", CLIENT_PORT, 443),
                                   "PROXY header from an untrusted peer", send_after=rh.upgrade_request())
                self.expect_results(before, {"untrusted": 1})
                before = self.server.metrics()
                self.expect_closed(tls, rh.proxy_v2(CLIENT_IP, "127.0.0.1", CLIENT_PORT, 443),
                                   "v2 header from an untrusted peer")
                self.expect_results(before, {"untrusted": 1})

    def test_no_header_works(self):
        for tls in (False, True):
            with self.subTest(tls=tls):
                before = self.server.metrics()
                self.check_echo(self.open(tls))
                self.expect_results(before, {"absent": 1})


class UntrustedRequiredTest(ProxyCase):
    def setUp(self):
        self.start("required", "10.0.0.0/8")

    def test_everything_from_loopback_is_closed(self):
        for tls in (False, True):
            for what, data in (("with header", rh.proxy_v1(CLIENT_IP, "127.0.0.1", 1, 2) + rh.upgrade_request()),
                               ("without header", rh.upgrade_request())):
                with self.subTest(tls=tls, what=what):
                    before = self.server.metrics()
                    self.expect_closed(tls, data, what)
                    self.expect_results(before, {"untrusted": 1})
        self.assertEqual(self.server.metrics().get("ringgate_handshakes_completed_total"), 0)


class OptionalTrustedTest(ProxyCase):
    def setUp(self):
        self.start("optional", "127.0.0.0/8,::1/128")

    def test_with_and_without_header(self):
        for tls in (False, True):
            with self.subTest(tls=tls):
                before = self.server.metrics()
                self.check_echo(self.open(tls, rh.proxy_v1(CLIENT_IP, "127.0.0.1", CLIENT_PORT, 443)))
                self.check_echo(self.open(tls))
                self.expect_results(before, {"accepted": 1, "absent": 1})


class TimeoutTest(ProxyCase):
    def setUp(self):
        self.start("required", "127.0.0.0/8", "--proxy-timeout", "1")

    def test_silent_and_slow_clients_time_out(self):
        for tls in (False, True):
            for what, data in (("nothing", b""), ("half a header", b"PROXY TCP4 ")):
                with self.subTest(tls=tls, what=what):
                    before = self.server.metrics()
                    port = self.server.tls_port if tls else self.server.port
                    t0 = time.monotonic()
                    with rh.connect(port) as sock:
                        if data:
                            sock.sendall(data)
                        closed, got = rh.read_until_eof(sock, timeout=5)
                    took = time.monotonic() - t0
                    self.assertTrue(closed, "silent client not closed within 5 s (--proxy-timeout 1)")
                    self.assertEqual(got, b"")
                    self.assertGreaterEqual(took, 0.8, f"closed after {took:.2f}s, before the timeout")
                    self.assertLess(took, 3.0, f"closed after {took:.2f}s (--proxy-timeout 1)")
                    self.expect_results(before, {"timeout": 1})


# -- X-Forwarded-For --------------------------------------------------------------------------
class ForwardedForTest(rh.IntegrationCase):
    def refuse_with_xff(self, server):
        with rh.connect(server.port) as sock:
            peer = "%s:%d" % sock.getsockname()
            sock.sendall(rh.upgrade_request("/nope", extra="X-Forwarded-For: 198.51.100.9\r\n"))
            resp, _ = rh.read_http_response(sock)
        self.assertEqual(resp.status, 404, resp)
        m = server.wait_for_log(rf"(?m)^.*handshake refused:.*peer={re.escape(peer)}(\s.*)?$")
        self.assertIsNotNone(m, f"no refusal line for peer={peer}:\n{server.stderr_tail()}")
        return m.group(0)

    def test_trusted_peer_adds_forwarded_for(self):
        server = rh.start_server(self, "--trusted-proxies", "127.0.0.0/8")
        line = self.refuse_with_xff(server)
        self.assertIn(' client=198.51.100.9 forwarded_for="198.51.100.9"', line)

    def test_untrusted_peer_does_not(self):
        server = rh.start_server(self, "--trusted-proxies", "10.0.0.0/8")
        line = self.refuse_with_xff(server)
        self.assertNotIn("forwarded_for", line)

    def test_no_trust_list_does_not(self):
        server = rh.start_server(self)
        line = self.refuse_with_xff(server)
        self.assertNotIn("forwarded_for", line)


class ProxyFlagTest(rh.IntegrationCase):
    def check_exit_2(self, *args):
        r = rh.run_binary(["--listen", "127.0.0.1:0", *args], timeout=T)
        self.assertEqual(r.returncode, 2, r)
        self.assertTrue(r.stderr.strip())

    def test_bad_flags(self):
        self.check_exit_2("--proxy-protocol", "maybe", "--trusted-proxies", "127.0.0.0/8")
        self.check_exit_2("--proxy-protocol", "required")  # no trust list
        self.check_exit_2("--trusted-proxies", "127.0.0.0/33")
        self.check_exit_2("--trusted-proxies", "nonsense")
        self.check_exit_2("--proxy-timeout", "0", "--proxy-protocol", "optional",
                          "--trusted-proxies", "127.0.0.0/8")


if __name__ == "__main__":
    unittest.main(verbosity=2)
