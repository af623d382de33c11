"""TLS listeners (--listen-tls) of the real binary with real clients: python3-websockets over wss,
`openssl s_client` session resumption (TLS 1.2 session IDs, TLS 1.3 tickets), python ssl resumption
after a client vanished without close_notify, ticket key rotation and shared ticket key files
between processes, SIGHUP certificate reload, SNI, refusals (plain HTTP, TLS 1.1), the HTTP->HTTPS
redirect listener, and start-up errors. Certificates are self-signed, made per run in a temp dir.
This host has no kTLS (no `tls` ULP): --ktls auto falls back to user space, --ktls on exits 2."""
import asyncio
import base64
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringgate_harness as rh  # noqa: E402

try:
    import websockets  # noqa: E402
except ImportError as e:  # fail loudly: the tests must not silently skip
    raise SystemExit(f"python3-websockets is missing for {sys.executable}: {e}; "
                     "run tools/install-test-deps.sh") from e

T = 10.0  # seconds: bound on every single wait
HANDSHAKES = "ringgate_tls_handshakes_total"
FAILURES = "ringgate_tls_handshake_failures_total"
KTLS = "ringgate_tls_ktls_total"
ROTATED = "ringgate_tls_ticket_keys_rotated_total"
CACHE = "ringgate_tls_session_cache_total"

CERTS = {}  # name -> (cert, key), made once in setUpModule
_tmp = None


def setUpModule():
    global _tmp
    _tmp = tempfile.mkdtemp(prefix="ringgate-tls-")
    CERTS["main"] = rh.make_cert(_tmp, "main")
    CERTS["other"] = rh.make_cert(_tmp, "other", cn="other.test", dns=("other.test",), ips=())
    CERTS["new"] = rh.make_cert(_tmp, "new")


def tearDownModule():
    shutil.rmtree(_tmp, ignore_errors=True)


def tls_args(*pairs, port="127.0.0.1:0"):
    """--listen-tls PORT followed by its cert/key pairs (default: the main cert)."""
    args = ["--listen-tls", port]
    for cert, key in pairs or (CERTS["main"],):
        args += ["--tls-cert", cert, "--tls-key", key]
    return args


def write_ticket_keys(path, keys):
    with open(path, "w") as f:
        f.write("".join(base64.b64encode(k).decode() + "\n" for k in keys))


def upgrade(sock):
    """WebSocket upgrade over an established (TLS) socket; in TLS 1.3 reading the 101 answer also
    makes the client process the NewSessionTicket the server sent after its Finished."""
    return rh.RawWs(None, sock=sock)


def ws_echo(ws, payload=b"ping"):
    ws.send(rh.OP_BINARY, payload)
    fin, op, got = ws.recv_frame()
    return got


class TlsCase(rh.IntegrationCase):
    def start(self, *args, listen=False):
        return rh.start_server(self, *args, listen=listen)

    def tls_server(self, *extra, pairs=()):
        return self.start(*tls_args(*pairs), *extra)

    def assertGrew(self, before, after, name, delta=1, **labels):
        got = after.get(name, **labels) - before.get(name, **labels)
        self.assertGreaterEqual(got, delta, f"{name}{labels} moved by {got}, expected >= {delta}")

    def assertUnchanged(self, before, after, name, **labels):
        got = after.get(name, **labels) - before.get(name, **labels)
        self.assertEqual(got, 0, f"{name}{labels} moved by {got}, expected no change")

    def new_session(self, port, ctx, **kw):
        """A full handshake + upgrade + echo; returns (session, sock) after the 101 and one echo
        (so a TLS 1.3 ticket has arrived). The caller closes sock."""
        sock = rh.tls_connect(port, ctx, **kw)
        ws = upgrade(sock)
        self.assertEqual(ws_echo(ws, b"first"), b"first")
        self.assertFalse(sock.session_reused, "first connection claims to be resumed")
        session = sock.session
        self.assertIsNotNone(session, "no session after the handshake and one echo")
        if ctx.maximum_version == ssl.TLSVersion.TLSv1_3 or sock.version() == "TLSv1.3":
            self.assertTrue(session.has_ticket, "TLS 1.3: no NewSessionTicket after one echo")
        return session, sock

    def resume(self, port, ctx, session, **kw):
        """Connects with `session`; returns (reused, sock) after a working echo."""
        sock = rh.tls_connect(port, ctx, session=session, **kw)
        ws = upgrade(sock)
        self.assertEqual(ws_echo(ws, b"again"), b"again")
        return sock.session_reused, sock


# -- 1. python3-websockets over wss -----------------------------------------------------------
class WssEchoTest(unittest.IsolatedAsyncioTestCase, TlsCase):
    async def test_websockets_wss_echo_and_close(self):
        server = self.tls_server()
        ctx = rh.client_context(cafile=CERTS["main"][0])  # verifying: the chain and the name
        before = server.metrics()
        async with websockets.connect(server.wss_url(), ssl=ctx, open_timeout=T, close_timeout=T,
                                      ping_interval=None, max_size=4 << 20) as ws:
            for msg in ["hello over tls", "h\u00e9llo \u2713", "x" * 70000, "",
                        bytes(range(256)), os.urandom(65536), os.urandom(1 << 20)]:
                await asyncio.wait_for(ws.send(msg), T)
                got = await asyncio.wait_for(ws.recv(), T)
                self.assertEqual(type(got), type(msg))
                self.assertEqual(got, msg)
            await asyncio.wait_for(ws.close(code=1000), T)
            self.assertEqual(ws.close_code, 1000)
        after = server.wait_metrics(lambda m: m.get("ringgate_closes_total", code="1000") >= 1
                                    and m.get(KTLS, result="no_ulp") >= 1)
        self.assertGrew(before, after, HANDSHAKES, kind="full")
        self.assertUnchanged(before, after, HANDSHAKES, kind="resumed")
        self.assertGrew(before, after, "ringgate_handshakes_completed_total")
        self.assertEqual(after.get("ringgate_closes_total", code="1000"), 1)
        # This host has no kTLS: auto falls back to user-space TLS and says why.
        self.assertGrew(before, after, KTLS, result="no_ulp")
        self.assertUnchanged(before, after, KTLS, result="installed")
        self.assertIn("kTLS unavailable", server.stderr_text())


# -- 2. openssl s_client resumption -----------------------------------------------------------
class SClientTest(TlsCase):
    def s_client(self, port, *args, stdin=b""):
        r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                            "-servername", "localhost", *args], input=stdin,
                           capture_output=True, timeout=30)
        return r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace")

    def test_tls12_session_id_reconnect(self):
        server = self.tls_server()
        before = server.metrics()
        out = self.s_client(server.tls_port, "-tls1_2", "-reconnect", "-no_ticket")
        self.assertEqual(len(re.findall(r"^New, TLSv1\.2", out, re.M)), 1, out)
        reused = len(re.findall(r"^Reused, TLSv1\.2", out, re.M))
        self.assertEqual(reused, 5, f"s_client -reconnect: {reused}/5 reconnects reused\n{out}")
        after = server.wait_metrics(lambda m: m.get(HANDSHAKES, kind="resumed") >= 5)
        self.assertEqual(after.get(HANDSHAKES, kind="resumed") - before.get(HANDSHAKES, kind="resumed"), 5)
        self.assertEqual(after.get(HANDSHAKES, kind="full") - before.get(HANDSHAKES, kind="full"), 1)
        # Session IDs live in the server's cache: the reconnects are hits.
        self.assertGrew(before, after, CACHE, 5, result="hit")

    def test_tls13_ticket_sess_out_sess_in(self):
        # s_client -reconnect in TLS 1.3 reconnects before the ticket is read; use two runs instead.
        server = self.tls_server()
        sess = os.path.join(_tmp, f"sess-{os.getpid()}-{time.monotonic_ns()}.pem")
        self.addCleanup(lambda: os.path.exists(sess) and os.unlink(sess))
        before = server.metrics()
        first = self.run_upgrade(server.tls_port, "-tls1_3", "-sess_out", sess)
        self.assertRegex(first, r"(?m)^New, TLSv1\.3")
        self.assertTrue(os.path.getsize(sess) > 0, f"no session written\n{first}")
        second = self.run_upgrade(server.tls_port, "-tls1_3", "-sess_in", sess)
        self.assertRegex(second, r"(?m)^Reused, TLSv1\.3", f"TLS 1.3 ticket not accepted\n{second}")
        after = server.wait_metrics(lambda m: m.get(HANDSHAKES, kind="resumed") >= 1)
        self.assertEqual(after.get(HANDSHAKES, kind="resumed") - before.get(HANDSHAKES, kind="resumed"), 1)
        self.assertEqual(after.get(HANDSHAKES, kind="full") - before.get(HANDSHAKES, kind="full"), 1)

    def run_upgrade(self, port, *args):
        """s_client sends an upgrade; once the 101 has been printed (so the ticket was read too),
        closing stdin makes it exit."""
        proc = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                                 "-servername", "localhost", *args],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        self.addCleanup(self.reap, proc)
        os.set_blocking(proc.stdout.fileno(), False)
        proc.stdin.write(rh.upgrade_request())
        proc.stdin.flush()
        out = b""
        deadline = time.monotonic() + T
        while b"101 Switching Protocols" not in out and time.monotonic() < deadline:
            chunk = proc.stdout.read()
            if chunk:
                out += chunk
            elif proc.poll() is not None:
                break
            else:
                time.sleep(0.02)
        self.assertIn(b"101 Switching Protocols", out, out.decode("utf-8", "replace"))
        proc.stdin.close()
        try:
            proc.wait(timeout=T)
        except subprocess.TimeoutExpired:
            self.fail("s_client did not exit after stdin closed")
        rest = proc.stdout.read()
        return (out + (rest or b"")).decode("utf-8", "replace")

    @staticmethod
    def reap(proc):
        proc.kill()
        proc.wait(timeout=5)
        for f in (proc.stdin, proc.stdout):
            if not f.closed:
                f.close()

    def test_tls13_reconnect(self):
        # Whatever s_client -reconnect does in 1.3, every connection must complete; those it
        # offers a ticket on must be counted as resumed by the server.
        server = self.tls_server()
        before = server.metrics()
        out = self.s_client(server.tls_port, "-tls1_3", "-reconnect")
        n = len(re.findall(r"^(New|Reused), TLSv1\.3", out, re.M))
        self.assertEqual(n, 6, out)
        reused = len(re.findall(r"^Reused, TLSv1\.3", out, re.M))
        after = server.wait_metrics(lambda m: m.get(HANDSHAKES, kind="resumed") - before.get(HANDSHAKES, kind="resumed") >= reused
                                    and m.get(HANDSHAKES, kind="full") - before.get(HANDSHAKES, kind="full") >= 6 - reused)
        self.assertEqual(after.get(HANDSHAKES, kind="resumed") - before.get(HANDSHAKES, kind="resumed"), reused)
        self.assertEqual(after.get(HANDSHAKES, kind="full") - before.get(HANDSHAKES, kind="full"), 6 - reused)


# -- 3. resumption after a client vanished without close_notify -------------------------------
class AbortedResumeTest(TlsCase):
    def check(self, version, tickets):
        server = self.tls_server()
        ctx = rh.client_context(version, tickets=tickets)
        before = server.metrics()
        session, old = self.new_session(server.tls_port, ctx)
        if version == "1.2":
            self.assertEqual(old.version(), "TLSv1.2")
            self.assertEqual(session.has_ticket, tickets)
        rh.abort_socket(old)  # RST, no close_notify; `old` (the SSL object) stays referenced
        # The server notices the reset (the connection ends) before the client comes back.
        server.wait_metrics(lambda m: m.get("ringgate_connections_active") == 0)
        reused, sock = self.resume(server.tls_port, ctx, session)
        self.assertTrue(reused, f"TLS {version} tickets={tickets}: session not resumed after a "
                                "connection reset without close_notify")
        sock.close()
        after = server.wait_metrics(lambda m: m.get(HANDSHAKES, kind="resumed") >= 1)
        self.assertEqual(after.get(HANDSHAKES, kind="resumed") - before.get(HANDSHAKES, kind="resumed"), 1)
        self.assertEqual(after.get(HANDSHAKES, kind="full") - before.get(HANDSHAKES, kind="full"), 1)
        del old
        return before, after

    def test_tls12_session_id(self):
        before, after = self.check("1.2", tickets=False)
        self.assertGrew(before, after, CACHE, result="hit")

    def test_tls12_ticket(self):
        self.check("1.2", tickets=True)

    def test_tls13_ticket(self):
        self.check("1.3", tickets=True)

    def test_unknown_session_is_a_full_handshake(self):
        # Negative control: a session from another server process (other ticket keys) is refused.
        a, b = self.tls_server(), self.tls_server()
        ctx = rh.client_context("1.3")
        session, old = self.new_session(a.tls_port, ctx)
        old.close()
        reused, sock = self.resume(b.tls_port, ctx, session)
        sock.close()
        self.assertFalse(reused, "a ticket of another process (random keys) was accepted")


# -- 4. ticket key rotation -------------------------------------------------------------------
class TicketRotationTest(TlsCase):
    def test_rotation_keeps_recent_tickets_and_drops_old_ones(self):
        server = self.tls_server("--tls-ticket-rotate", "1")
        ctx = rh.client_context("1.3")
        base = server.metrics().get(ROTATED)
        session, old = self.new_session(server.tls_port, ctx)
        old.close()
        m = server.wait_metrics(lambda m: m.get(ROTATED) >= base + 2, timeout=6)
        self.assertGreaterEqual(m.get(ROTATED), base + 2, "keys did not rotate every second")
        reused, sock = self.resume(server.tls_port, ctx, session)
        sock.close()
        self.assertTrue(reused, f"ticket refused after {m.get(ROTATED) - base:.0f} rotations "
                                "(it must stay decryptable while its key is in the ring)")
        # Far past the ring (4 keys): the old ticket's key is gone -> full handshake.
        m = server.wait_metrics(lambda m: m.get(ROTATED) >= base + 6, timeout=10)
        self.assertGreaterEqual(m.get(ROTATED), base + 6)
        before = server.metrics()
        reused, sock = self.resume(server.tls_port, ctx, session)
        sock.close()
        self.assertFalse(reused, "a ticket from 6 rotations ago was still accepted")
        after = server.wait_metrics(lambda m: m.get(HANDSHAKES, kind="full") > before.get(HANDSHAKES, kind="full"))
        self.assertGrew(before, after, HANDSHAKES, kind="full")


# -- 5. a ticket key file shared by two processes ---------------------------------------------
class SharedTicketKeysTest(TlsCase):
    def test_shared_key_file(self):
        k1, k2, k3 = os.urandom(48), os.urandom(48), os.urandom(48)
        shared, swapped, other = (os.path.join(_tmp, f"keys-{n}-{os.getpid()}") for n in "abc")
        write_ticket_keys(shared, [k1, k2])
        write_ticket_keys(swapped, [k2, k1])  # k1 only decrypts here
        write_ticket_keys(other, [k3])
        for p in (shared, swapped, other):
            self.addCleanup(os.unlink, p)
        a = self.tls_server("--tls-ticket-keys", shared)
        b = self.tls_server("--tls-ticket-keys", shared)
        c = self.tls_server("--tls-ticket-keys", other)
        d = self.tls_server("--tls-ticket-keys", swapped)
        for version in ("1.3", "1.2"):
            with self.subTest(version=version):
                ctx = rh.client_context(version, tickets=True)
                for target, want in ((b, True), (d, True), (c, False)):
                    session, old = self.new_session(a.tls_port, ctx)
                    old.close()
                    self.assertTrue(session.has_ticket)
                    before = target.metrics()
                    reused, sock = self.resume(target.tls_port, ctx, session)
                    sock.close()
                    self.assertEqual(reused, want, f"TLS {version}: ticket from A on {target.args}")
                    kind = "resumed" if want else "full"
                    after = target.wait_metrics(lambda m: m.get(HANDSHAKES, kind=kind) > before.get(HANDSHAKES, kind=kind))
                    self.assertGrew(before, after, HANDSHAKES, kind=kind)

    def test_bad_key_file_exits_2(self):
        bad = os.path.join(_tmp, f"keys-bad-{os.getpid()}")
        with open(bad, "w") as f:
            f.write(base64.b64encode(os.urandom(20)).decode() + "\n")  # neither 48 nor 80 bytes
        self.addCleanup(os.unlink, bad)
        r = rh.run_binary([*tls_args(), "--tls-ticket-keys", bad], timeout=T)
        self.assertEqual(r.returncode, 2, r)
        self.assertTrue(r.stderr.strip())


# -- 6. SIGHUP certificate reload -------------------------------------------------------------
class ReloadTest(TlsCase):
    def test_sighup_swaps_certificate_and_keeps_connections(self):
        cert, key = os.path.join(_tmp, f"live-{os.getpid()}.crt"), os.path.join(_tmp, f"live-{os.getpid()}.key")
        shutil.copy(CERTS["main"][0], cert)
        shutil.copy(CERTS["main"][1], key)
        self.addCleanup(lambda: [os.unlink(p) for p in (cert, key) if os.path.exists(p)])
        server = self.start(*tls_args((cert, key)))
        old = rh.tls_connect(server.tls_port)
        self.addCleanup(old.close)
        self.assertEqual(old.getpeercert(binary_form=True), rh.cert_der(CERTS["main"][0]))
        old_ws = upgrade(old)
        self.assertEqual(ws_echo(old_ws, b"before"), b"before")

        shutil.copy(CERTS["new"][0], cert + ".tmp")
        shutil.copy(CERTS["new"][1], key + ".tmp")
        os.replace(key + ".tmp", key)
        os.replace(cert + ".tmp", cert)
        server.signal(signal.SIGHUP)
        self.assertIsNotNone(server.wait_for_log(r"SIGHUP: certificates and ticket keys reloaded"),
                             server.stderr_tail())
        with rh.tls_connect(server.tls_port) as new:
            self.assertEqual(new.getpeercert(binary_form=True), rh.cert_der(CERTS["new"][0]),
                             "new connection after SIGHUP still gets the old certificate")
            self.assertEqual(ws_echo(upgrade(new), b"new"), b"new")
        self.assertEqual(ws_echo(old_ws, b"after"), b"after", "old connection broken by SIGHUP")

        # A broken file: the reload fails loudly and the current certificate stays.
        with open(cert, "w") as f:
            f.write("not a certificate\n")
        server.signal(signal.SIGHUP)
        self.assertIsNotNone(server.wait_for_log(r"SIGHUP: reload failed"), server.stderr_tail())
        with rh.tls_connect(server.tls_port) as again:
            self.assertEqual(again.getpeercert(binary_form=True), rh.cert_der(CERTS["new"][0]))
        self.assertEqual(ws_echo(old_ws, b"still"), b"still")


# -- 7. SNI -----------------------------------------------------------------------------------
class SniTest(TlsCase):
    def test_sni_selects_certificate(self):
        server = self.start(*tls_args(CERTS["main"], CERTS["other"]))
        main, other = rh.cert_der(CERTS["main"][0]), rh.cert_der(CERTS["other"][0])
        for name, want in (("other.test", other), ("localhost", main), ("unknown.example", main),
                           (None, main), ("OTHER.TEST", other)):
            with self.subTest(sni=name):
                with rh.tls_connect(server.tls_port, server_hostname=name) as s:
                    got = s.getpeercert(binary_form=True)
                    self.assertEqual(got, want, f"SNI {name!r}: wrong certificate")
                    self.assertEqual(ws_echo(upgrade(s)), b"ping")
        # And verified by name with the other certificate as the only CA.
        ctx = rh.client_context(cafile=CERTS["other"][0])
        with rh.tls_connect(server.tls_port, ctx, server_hostname="other.test") as s:
            self.assertEqual(ws_echo(upgrade(s)), b"ping")


# -- 8. not TLS / too old TLS -----------------------------------------------------------------
class RefusalTest(TlsCase):
    def test_plain_http_to_tls_port(self):
        # As nginx does: plain HTTP on a TLS port gets a plain-text 400 that says to use https://
        # or wss://, counted and logged as a refusal (it used to be closed in silence).
        server = self.tls_server()
        before = server.metrics()
        with rh.connect(server.tls_port) as sock:
            sock.sendall(rh.upgrade_request())
            resp, _ = rh.read_http_response(sock)
            closed, _ = rh.read_until_eof(sock, timeout=T)
        self.assertEqual(resp.status, 400, resp)
        self.assertIn(b"https://", resp.body)
        self.assertTrue(closed, "plain HTTP on the TLS port: connection not closed")
        after = server.wait_metrics(lambda m: m.rejected("plain_http_on_tls") > before.rejected("plain_http_on_tls")
                                    and m.get("ringgate_connections_active") == 0)
        self.assertRejectedDelta(before, after, "plain_http_on_tls", 1)
        self.assertEqual(after.get(FAILURES, reason="not_tls"), before.get(FAILURES, reason="not_tls"))
        self.assertUnchanged(before, after, "ringgate_handshakes_completed_total")
        self.assertEqual(after.get("ringgate_tls_user_sessions"), 0)
        self.assertIsNotNone(server.wait_for_log(r"handshake refused: reason=plain_http_on_tls status=400 peer="),
                             server.stderr_tail())

    def test_tls11_client_refused(self):
        server = self.tls_server()
        before = server.metrics()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx = rh.client_context()
            ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            rh.tls_connect(server.tls_port, ctx).close()
        after = server.wait_metrics(lambda m: m.get(FAILURES, reason="version") > before.get(FAILURES, reason="version"))
        self.assertEqual(after.get(FAILURES, reason="version") - before.get(FAILURES, reason="version"), 1,
                         "a TLS 1.1 ClientHello must count as reason=version")
        self.assertUnchanged(before, after, HANDSHAKES, kind="full")

    def test_client_rejecting_the_certificate_counts_as_alert(self):
        # A verifying client without the CA aborts the handshake with a fatal alert (unknown_ca)
        # in TLS 1.2 (plaintext) and TLS 1.3 (under the handshake keys): reason="alert" both times.
        server = self.tls_server()
        for version, pinned in (("1.2", ssl.TLSVersion.TLSv1_2), ("1.3", ssl.TLSVersion.TLSv1_3)):
            with self.subTest(version=version):
                ctx = ssl.create_default_context()
                ctx.minimum_version = ctx.maximum_version = pinned
                before = server.metrics()
                with self.assertRaises(ssl.SSLCertVerificationError):
                    rh.tls_connect(server.tls_port, ctx).close()
                reasons = ("protocol", "version", "no_cipher", "alert", "certificate", "not_tls",
                           "resources", "other")
                after = server.wait_metrics(lambda m: any(m.get(FAILURES, reason=r) > before.get(FAILURES, reason=r)
                                                          for r in reasons)
                                            and m.get("ringgate_connections_active") == 0)
                delta = {r: after.get(FAILURES, reason=r) - before.get(FAILURES, reason=r) for r in reasons}
                delta = {r: d for r, d in delta.items() if d}
                self.assertEqual(delta, {"alert": 1}, f"TLS {version}: client's fatal alert counted as {delta}")
                self.assertEqual(after.get("ringgate_connections_active"), 0)

    def test_garbage_and_silence_do_not_hurt(self):
        # Random bytes after a TLS record header, and a truncated ClientHello then close: both end
        # the connection and leave the listener serving.
        server = self.tls_server()
        before = server.metrics()
        with rh.connect(server.tls_port) as sock:
            sock.sendall(b"\x16\x03\x01\x00\x30" + os.urandom(48))
            closed, _ = rh.read_until_eof(sock, timeout=T)
            self.assertTrue(closed)
        with rh.connect(server.tls_port) as sock:
            sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        after = server.wait_metrics(lambda m: sum(m.get(FAILURES, reason=r) for r in
                                                  ("protocol", "version", "no_cipher", "alert", "other")) >= 2
                                    + sum(before.get(FAILURES, reason=r) for r in
                                          ("protocol", "version", "no_cipher", "alert", "other"))
                                    and m.get("ringgate_connections_active") == 0)
        self.assertEqual(after.get("ringgate_connections_active"), 0)
        with rh.tls_connect(server.tls_port) as s:
            self.assertEqual(ws_echo(upgrade(s)), b"ping")


# -- 9. redirect listener ---------------------------------------------------------------------
class RedirectTest(TlsCase):
    def test_redirect_to_tls_port(self):
        server = self.start(*tls_args(), "--redirect-http", "127.0.0.1:0")
        self.assertEqual(len(server.redirect_ports), 1, server.stderr_text())
        port = server.redirect_ports[0]
        before = server.metrics()
        cases = (("example.com:8080", "/x?y=1", f"https://example.com:{server.tls_port}/x?y=1"),
                 ("example.com", "/", f"https://example.com:{server.tls_port}/"),
                 ("[2001:db8::1]:80", "/a", f"https://[2001:db8::1]:{server.tls_port}/a"))
        for host, target, want in cases:
            with self.subTest(host=host, target=target):
                resp = rh.http_request(port, f"GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                self.assertEqual(resp.status, 301, resp)
                self.assertEqual(resp.header("Location"), [want], resp)
        after = server.wait_metrics(lambda m: m.get("ringgate_redirects_total") >= before.get("ringgate_redirects_total") + 3)
        self.assertEqual(after.get("ringgate_redirects_total") - before.get("ringgate_redirects_total"), 3)

    def test_every_redirect_is_answered(self):
        # Many short connections in a row: each must get its 301 before the FIN (a lost answer
        # shows up as EOF without a byte, while the counter still moves).
        server = self.start(*tls_args(), "--redirect-http", "127.0.0.1:0")
        port, n, lost = server.redirect_ports[0], 1000, []
        for i in range(n):
            try:
                resp = rh.http_request(port, f"GET /r{i} HTTP/1.1\r\nHost: e.test\r\n\r\n".encode())
                self.assertEqual(resp.status, 301, resp)
            except (AssertionError, ConnectionError) as e:
                lost.append((i, str(e)[:80]))
        m = server.wait_metrics(lambda m: m.get("ringgate_redirects_total") >= n)
        self.assertEqual(lost, [], f"{len(lost)}/{n} redirects got no answer; "
                                   f"ringgate_redirects_total={m.get('ringgate_redirects_total'):.0f}")


# -- 10. start-up errors ----------------------------------------------------------------------
class StartupErrorTest(TlsCase):
    def check_exit_2(self, args, message_rx):
        try:
            r = rh.run_binary(args, timeout=T)
        except subprocess.TimeoutExpired:
            self.fail(f"ringgate {args} kept running")
        self.assertEqual(r.returncode, 2, r)
        self.assertRegex(r.stderr, message_rx, r)

    def test_ktls_on_without_kernel_support(self):
        self.check_exit_2([*tls_args(), "--ktls", "on"], r"(?i)ktls")

    def test_listen_tls_without_cert(self):
        self.check_exit_2(["--listen-tls", "127.0.0.1:0"], r"(?i)tls-cert")

    def test_missing_cert_file(self):
        self.check_exit_2(["--listen-tls", "127.0.0.1:0", "--tls-cert", "/nonexistent/c.pem",
                           "--tls-key", CERTS["main"][1]], r"\S")

    def test_key_not_matching_cert(self):
        self.check_exit_2(["--listen-tls", "127.0.0.1:0", "--tls-cert", CERTS["main"][0],
                           "--tls-key", CERTS["other"][1]], r"\S")


if __name__ == "__main__":
    unittest.main(verbosity=2)
