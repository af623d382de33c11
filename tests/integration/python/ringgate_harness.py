"""Harness for the integration tests: starts the real `ringgate` binary on loopback ports the
kernel picks, parses those ports from its stderr, scrapes its admin /metrics, and speaks raw
HTTP/WebSocket over plain sockets for the cases a well-behaved client library will not produce.

Every wait is bounded by a timeout, and a test only ever signals the PID it started itself
(Server.kill is registered as a unittest cleanup, so it also runs when the test fails).
TLS helpers (self-signed certificates made with the openssl CLI, client contexts, wss) and PROXY
protocol header builders serve test_tls.py and test_proxy.py.
The binary comes from $RINGGATE_BIN (CTest passes $<TARGET_FILE:ringgate>); server stderr goes
to a file under $RINGGATE_TEST_LOGDIR (or a temp dir) and its tail is printed when a test fails.
"""
import base64
import logging
import os
import re
import signal
import ipaddress
import json
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import unittest

# IsolatedAsyncioTestCase runs the loop in debug mode, which warns about every blocking call
# (the harness's bounded sync waits); errors are still logged.
logging.getLogger("asyncio").setLevel(logging.ERROR)

LISTEN_RE = re.compile(r"listening on ws://([0-9.]+):(\d+)")
LISTEN_TLS_RE = re.compile(r"listening on wss://([0-9.]+):(\d+)")
REDIRECT_RE = re.compile(r"redirecting http://([0-9.]+):(\d+) to https")
ADMIN_RE = re.compile(r"admin on http://([0-9.]+):(\d+)")
API_RE = re.compile(r"api on http://([0-9.]+):(\d+)")
START_TIMEOUT_S = 10.0
IO_TIMEOUT_S = 10.0

REJECT_REASONS = (
    "method_not_allowed", "missing_upgrade", "missing_connection_upgrade", "bad_version",
    "bad_key", "http2_preface", "head_too_large", "not_found", "malformed", "http_1_0", "plain_http_on_tls",
)


def ringgate_bin():
    path = os.environ.get("RINGGATE_BIN", "")
    if not path:
        raise RuntimeError("RINGGATE_BIN is not set (path to the ringgate binary)")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"RINGGATE_BIN={path!r} is not an executable file")
    return path


def run_binary(args, timeout=IO_TIMEOUT_S):
    """Runs ringgate to completion (for --version, bad flags...). Returns CompletedProcess."""
    return subprocess.run([ringgate_bin(), *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


def wait_until(predicate, timeout, interval=0.02):
    """Polls predicate() until it returns a truthy value or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class Server:
    """One ringgate process. Use start_server(testcase, ...) in tests."""

    def __init__(self, *extra_args, admin=True, listen=True):
        """listen=False: no plain `--listen 127.0.0.1:0` of the harness's own (TLS-only servers)."""
        self.args = [ringgate_bin()] + (["--listen", "127.0.0.1:0"] if listen else [])
        if admin:
            self.args += ["--admin", "127.0.0.1:0"]
        self.args += list(extra_args)
        self.want_admin = admin
        logdir = os.environ.get("RINGGATE_TEST_LOGDIR") or tempfile.gettempdir()
        os.makedirs(logdir, exist_ok=True)
        fd, self.log_path = tempfile.mkstemp(prefix="ringgate-", suffix=".stderr", dir=logdir)
        os.close(fd)
        self.proc = None
        self.host = None
        self.port = None
        self.admin_port = None
        self.ports = []           # plain listeners, in start-up log order
        self.tls_ports = []       # TLS listeners
        self.redirect_ports = []  # --redirect-http listeners
        self.tls_port = None      # the first TLS listener, or None
        self.api_port = None      # the --api (HTTP publish) listener, when --api was given
        self.want_api = "--api" in self.args
        # Every listener prints one line; wait for all of them (and the admin line) before use.
        self.want_listeners = sum(a in ("--listen", "--listen-tls", "--redirect-http")
                                  for a in self.args)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self):
        with open(self.log_path, "wb") as err:
            self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)

        def ready():
            text = self.stderr_text()
            n = sum(len(rx.findall(text)) for rx in (LISTEN_RE, LISTEN_TLS_RE, REDIRECT_RE))
            return (n >= max(1, self.want_listeners) and (ADMIN_RE.search(text) or not self.want_admin)
                    and (API_RE.search(text) or not self.want_api))

        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"ringgate exited with {self.proc.returncode} during start\n"
                                   f"argv: {self.args}\nstderr:\n{self.stderr_text()}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"ringgate printed no listen/admin line within "
                                   f"{START_TIMEOUT_S}s\nstderr:\n{self.stderr_text()}")
            time.sleep(0.02)
        text = self.stderr_text()
        self.ports = [int(p) for _, p in LISTEN_RE.findall(text)]
        self.tls_ports = [int(p) for _, p in LISTEN_TLS_RE.findall(text)]
        self.redirect_ports = [int(p) for _, p in REDIRECT_RE.findall(text)]
        self.host = "127.0.0.1"
        m = LISTEN_RE.search(text)
        if m:
            self.host, self.port = m.group(1), int(m.group(2))
        if self.tls_ports:
            self.tls_port = self.tls_ports[0]
        if self.want_admin:
            self.admin_port = int(ADMIN_RE.search(text).group(2))
        if self.want_api:
            self.api_port = int(API_RE.search(text).group(2))
        return self

    def pid(self):
        return self.proc.pid

    def signal(self, sig):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout):
        """Exit code, or None when still running after `timeout` seconds."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=10.0):
        """SIGTERM then wait; SIGKILL if it does not exit. Returns the exit code."""
        self.signal(signal.SIGTERM)
        code = self.wait(timeout)
        if code is None:
            self.kill()
        return code

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    # -- stderr --------------------------------------------------------------------------
    def stderr_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr_tail(self, lines=40):
        return "\n".join(self.stderr_text().splitlines()[-lines:])

    def wait_for_log(self, pattern, timeout=5.0):
        """The first match of regex `pattern` in stderr, waiting up to `timeout`; or None."""
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(self.stderr_text()), timeout)

    # -- endpoints -----------------------------------------------------------------------
    def url(self, path="/echo"):
        return f"ws://{self.host}:{self.port}{path}"

    def wss_url(self, path="/echo", port=None):
        return f"wss://127.0.0.1:{port or self.tls_port}{path}"

    def admin_get(self, path):
        return http_request(self.admin_port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                             f"Connection: close\r\n\r\n".encode())

    def metrics(self):
        resp = self.admin_get("/metrics")
        if resp.status != 200:
            raise AssertionError(f"GET /metrics -> {resp.status}: {resp.body[:200]!r}")
        return Metrics(resp.body.decode("utf-8"))

    def wait_metrics(self, predicate, timeout=5.0):
        """Scrapes until predicate(metrics) holds (workers publish counters asynchronously);
        returns the last scrape either way, so the caller's assertion shows the real values."""
        last = [None]

        def probe():
            last[0] = self.metrics()
            return predicate(last[0])

        wait_until(probe, timeout, interval=0.05)
        return last[0]


def start_server(testcase, *extra_args, admin=True, listen=True):
    """Starts ringgate for `testcase`; it is killed in cleanup, and its stderr tail printed if the
    test failed."""
    server = Server(*extra_args, admin=admin, listen=listen)
    testcase.addCleanup(_cleanup, testcase, server)
    return server.start()


def _cleanup(testcase, server):
    server.kill()
    if _test_failed(testcase):
        print(f"\n--- ringgate stderr ({server.log_path}), last lines ---\n{server.stderr_tail()}\n---")


def _test_failed(testcase):
    # unittest (3.11) records failures on the result as soon as they happen.
    try:
        result = testcase._outcome.result
        # A failed subTest is recorded as a _SubTest whose test_case is the test.
        return any(getattr(t, "test_case", t) is testcase for t, _ in result.failures + result.errors)
    except AttributeError:
        return True


class Metrics:
    """Prometheus text parsed into {(name, frozenset(labels)): value}."""

    LINE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
    LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

    def __init__(self, text):
        self.text = text
        self.samples = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            m = self.LINE_RE.match(line)
            if not m:
                raise AssertionError(f"unparsable metrics line: {line!r}")
            labels = frozenset(self.LABEL_RE.findall(m.group(2) or ""))
            self.samples[(m.group(1), labels)] = float(m.group(3))

    def has(self, name, **labels):
        return (name, frozenset(labels.items())) in self.samples

    def get(self, name, **labels):
        """The sample's value; 0 when absent (use has() to check presence)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def rejected(self, reason):
        return self.get("ringgate_handshake_rejected_total", reason=reason)


# -- raw HTTP ---------------------------------------------------------------------------------
class HttpResponse:
    def __init__(self, status_line, headers, body):
        self.status_line = status_line
        parts = status_line.split(" ", 2)
        self.version = parts[0]
        self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1
        self.headers = headers  # list of (name, value), in order
        self.body = body

    def header(self, name):
        """All values of header `name` (case-insensitive)."""
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def __repr__(self):
        return f"HttpResponse({self.status_line!r}, {self.headers!r}, {self.body!r})"


def connect(port, timeout=IO_TIMEOUT_S):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def read_http_response(sock, buf=b""):
    """Reads one response: head, then Content-Length bytes or up to EOF. Returns
    (HttpResponse, leftover bytes). Raises socket.timeout when the peer stalls."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a full response head: {buf!r}")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise AssertionError(f"malformed response header line {line!r} in {head!r}")
        headers.append((name.strip(), value.strip()))
    lengths = [v for k, v in headers if k.lower() == "content-length"]
    status = lines[0].split(" ")
    if len(status) > 1 and status[1] == "101":
        return HttpResponse(lines[0], headers, b""), rest
    if lengths:
        n = int(lengths[0])
        while len(rest) < n:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError(f"body shorter than Content-Length {n}: {rest!r}")
            rest += chunk
        return HttpResponse(lines[0], headers, rest[:n]), rest[n:]
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return HttpResponse(lines[0], headers, rest), b""
        rest += chunk


def http_request(port, raw_request):
    """Sends raw bytes, reads one response; the connection is closed afterwards."""
    with connect(port) as sock:
        sock.sendall(raw_request)
        resp, _ = read_http_response(sock)
        return resp


def read_until_eof(sock, timeout=IO_TIMEOUT_S):
    """Reads until the peer closes (True) or `timeout` passes (False); a reset counts as closed."""
    deadline = time.monotonic() + timeout
    data = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return False, data
        except ConnectionResetError:
            return True, data
        if not chunk:
            return True, data
        data += chunk
    return False, data


# -- raw WebSocket ----------------------------------------------------------------------------
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def upgrade_request(path="/echo", key=None, extra=""):
    key = key or base64.b64encode(os.urandom(16)).decode()
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode()


def make_frame(opcode, payload, fin=True, mask=True, rsv=0, fast=False):
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    # fast: big-integer masking (megabytes). The byte loop is what RawWs clients have always paced
    # themselves with; the soak's RSS baseline depends on that pace, so it stays their default.
    masked = fast_mask(payload, key) if fast else bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


class RawWs:
    """A WebSocket client on a plain socket, for frames a library would refuse to send.
    `sock`: an already connected (possibly TLS-wrapped, PROXY-prefixed) socket to upgrade instead."""

    def __init__(self, port, path="/echo", sock=None):
        self.sock = sock if sock is not None else connect(port)
        self.sock.sendall(upgrade_request(path))
        resp, self.buf = read_http_response(self.sock)
        if resp.status != 101:
            self.sock.close()
            raise AssertionError(f"upgrade refused: {resp!r}")
        self.local_addr = self.sock.getsockname()

    def send(self, opcode, payload, fin=True, mask=True):
        self.sock.sendall(make_frame(opcode, payload, fin, mask))

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"EOF while reading a frame (have {self.buf!r})")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self):
        """(fin, opcode, payload) of the next server frame; server frames must not be masked."""
        b0, b1 = self._need(2)
        if b1 & 0x80:
            raise AssertionError("server frame is masked")
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self._need(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self._need(8))
        return bool(b0 & 0x80), b0 & 0x0F, self._need(n)

    def recv_close(self):
        """Skips data frames until a close frame; returns its code (1005 when it has none)."""
        while True:
            _, opcode, payload = self.recv_frame()
            if opcode == OP_CLOSE:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005

    def close(self):
        self.sock.close()


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class IntegrationCase(unittest.TestCase):
    """Base class: short helpers shared by the test files."""

    def assertRejectedDelta(self, before, after, reason, delta):
        got = after.rejected(reason) - before.rejected(reason)
        self.assertEqual(got, delta, f"ringgate_handshake_rejected_total{{reason={reason!r}}} "
                                     f"moved by {got}, expected {delta}")


# -- TLS --------------------------------------------------------------------------------------
def make_cert(directory, name, cn="localhost", dns=("localhost",), ips=("127.0.0.1",)):
    """A self-signed P-256 certificate and key from the openssl CLI: (cert_path, key_path)."""
    if shutil.which("openssl") is None:
        raise RuntimeError("the openssl CLI is missing (Debian package openssl)")
    cert, key = os.path.join(directory, f"{name}.crt"), os.path.join(directory, f"{name}.key")
    san = ",".join([f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips])
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", f"/CN={cn}",
                        "-addext", f"subjectAltName={san}", "-keyout", key, "-out", cert],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=IO_TIMEOUT_S)
    if r.returncode != 0:
        raise RuntimeError(f"openssl req failed: {r.stderr}")
    return cert, key


def cert_der(cert_path):
    with open(cert_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def client_context(version=None, tickets=True, cafile=None):
    """A client SSLContext. version: None (1.2..1.3), "1.2" or "1.3" (pinned). Without `cafile`
    verification is off (self-signed test certificates). tickets=False: TLS 1.2 session IDs only."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    pinned = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}.get(version)
    if pinned:
        ctx.minimum_version = ctx.maximum_version = pinned
    if not tickets:
        ctx.options |= ssl.OP_NO_TICKET
    return ctx


def tls_connect(port, ctx=None, server_hostname="localhost", session=None, prefix=b"",
                timeout=IO_TIMEOUT_S):
    """TCP connect, optionally send `prefix` (a PROXY header) in clear, then the TLS handshake."""
    sock = connect(port, timeout)
    try:
        if prefix:
            sock.sendall(prefix)
        tls = (ctx or client_context()).wrap_socket(sock, server_hostname=server_hostname,
                                                    session=session)
    except BaseException:
        sock.close()
        raise
    tls.settimeout(timeout)
    return tls


def abort_socket(sock):
    """Drops the TCP connection with a reset, without close_notify. For an SSLSocket the SSL object
    stays alive (OpenSSL marks a session not resumable when an SSL is freed before shutdown, which
    would hide what the server does); the caller keeps `sock` referenced until done with it."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    fd = sock.detach()
    os.close(fd)


# -- PROXY protocol ---------------------------------------------------------------------------
PROXY_V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
PP2_TYPE_ALPN, PP2_TYPE_AUTHORITY, PP2_TYPE_AWS = 0x01, 0x02, 0xEA


def proxy_v1(src_ip, dst_ip, src_port, dst_port):
    fam = "TCP6" if ":" in src_ip else "TCP4"
    return f"PROXY {fam} {src_ip} {dst_ip} {src_port} {dst_port}\r\n".encode()


def proxy_v2(src_ip=None, dst_ip=None, src_port=0, dst_port=0, tlvs=(), local=False,
             length_override=None):
    """A binary v2 header: PROXY command over TCP4/TCP6 (from the address family of src_ip), or
    the LOCAL command (health checks: no addresses). tlvs: [(type, bytes)]."""
    tlv_bytes = b"".join(struct.pack("!BH", t, len(v)) + v for t, v in tlvs)
    if local:
        ver_cmd, fam, addr = 0x20, 0x00, b""
    else:
        src, dst = ipaddress.ip_address(src_ip), ipaddress.ip_address(dst_ip)
        fam = 0x11 if src.version == 4 else 0x21
        addr = src.packed + dst.packed + struct.pack("!HH", src_port, dst_port)
        ver_cmd = 0x21
    body = addr + tlv_bytes
    n = len(body) if length_override is None else length_override
    return PROXY_V2_SIG + struct.pack("!BBH", ver_cmd, fam, n) + body


# -- pub/sub (issue 6): JSON protocol on /ws and the HTTP publish API -------------------------
class WsClosed(Exception):
    """The server closed the WebSocket: `code` from its close frame, 1006 for EOF/reset."""

    def __init__(self, code, reason=b""):
        super().__init__(f"websocket closed: code={code} reason={reason!r}")
        self.code = code
        self.reason = reason


def fast_mask(payload, key):
    """XOR-masks `payload` with the 4-byte `key` (big-int XOR: fast enough for megabytes)."""
    n = len(payload)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(k, "little")).to_bytes(n, "little")


def parse_server_frame(buf, pos):
    """One complete server frame from bytearray `buf` at `pos`: ((fin, opcode, payload), new_pos),
    or (None, pos) when it is not all there. Consumed bytes are dropped from `buf` past 1 MiB (the
    position then restarts at 0), so reading a long stream stays linear."""
    p = pos
    if len(buf) - p < 2:
        return None, pos
    b0, b1 = buf[p], buf[p + 1]
    if b1 & 0x80:
        raise AssertionError("server frame is masked")
    n, h = b1 & 0x7F, 2
    if n == 126:
        if len(buf) - p < 4:
            return None, pos
        (n,), h = struct.unpack_from("!H", buf, p + 2), 4
    elif n == 127:
        if len(buf) - p < 10:
            return None, pos
        (n,), h = struct.unpack_from("!Q", buf, p + 2), 10
    if len(buf) - p < h + n:
        return None, pos
    payload = bytes(buf[p + h:p + h + n])
    p += h + n
    if p > (1 << 20):
        del buf[:p]
        p = 0
    return (bool(b0 & 0x80), b0 & 0x0F, payload), p


class PubSubClient:
    """A blocking client for the pub/sub protocol on a plain socket. Frames are parsed only once
    complete, so a timed-out read never loses bytes; pings are answered with pongs; server frames
    read while waiting for one reply are kept, in order, for recv(). rcvbuf: SO_RCVBUF set before
    connect (a small one makes a slow consumer that the server cannot push much into)."""

    def __init__(self, port, path="/ws", rcvbuf=None, extra_headers="", timeout=IO_TIMEOUT_S):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if rcvbuf:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.settimeout(timeout)
            sock.connect(("127.0.0.1", port))
            sock.sendall(upgrade_request(path, extra=extra_headers))
            self.response, rest = read_http_response(sock)
        except BaseException:
            sock.close()
            raise
        if self.response.status != 101:
            sock.close()
            raise AssertionError(f"upgrade to {path} refused: {self.response!r}")
        self.sock = sock
        self.timeout = timeout
        self.buf = bytearray(rest)
        self.pos = 0
        self.pending = []        # (raw, obj) read while waiting for a reply
        self.next_id = 1
        self.close_code = None   # set once a close frame, EOF or reset was seen
        self._frag = None        # (opcode, bytearray) of a fragmented message

    # -- sending -----------------------------------------------------------------------------
    def send_frame(self, opcode, payload, fin=True):
        self.sock.sendall(make_frame(opcode, payload, fin, fast=True))

    def send_text(self, text):
        self.send_frame(OP_TEXT, text.encode("utf-8") if isinstance(text, str) else text)

    def new_id(self):
        i = self.next_id
        self.next_id += 1
        return i

    def request(self, op, **fields):
        """Sends {"op":op,"id":<new>,...fields}; returns the id."""
        rid = self.new_id()
        self.send_text(json.dumps({"op": op, "id": rid, **fields}, separators=(",", ":")))
        return rid

    def send_pub(self, topic, data_raw, rid=None):
        """A pub whose data is the raw JSON text `data_raw` (sent as is). Returns the id."""
        rid = self.new_id() if rid is None else rid
        self.send_text('{"op":"pub","id":%d,"topic":%s,"data":%s}'
                       % (rid, json.dumps(topic), data_raw))
        return rid

    # -- receiving ---------------------------------------------------------------------------
    def _parse(self):
        """One complete frame (fin, opcode, payload) from the buffer, or None."""
        frame, self.pos = parse_server_frame(self.buf, self.pos)
        return frame

    def _fill(self, deadline):
        """Reads more bytes; False when `deadline` passed first. Raises WsClosed on EOF/reset."""
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(262144)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            self.close_code = 1006
            raise WsClosed(1006, b"reset")
        if not chunk:
            self.close_code = 1006
            raise WsClosed(1006, b"eof")
        self.buf += chunk
        return True

    def recv_message(self, timeout=None):
        """(opcode, payload) of the next data message; raises WsClosed on a close frame/EOF and
        TimeoutError when nothing complete arrives within `timeout`."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            frame = self._parse()
            if frame is None:
                if not self._fill(deadline):
                    raise TimeoutError("no complete frame in time")
                continue
            fin, opcode, payload = frame
            if opcode == OP_PING:
                self.send_frame(OP_PONG, payload)
            elif opcode == OP_PONG:
                pass
            elif opcode == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                self.close_code = code
                raise WsClosed(code, payload[2:])
            elif opcode == OP_CONT:
                if self._frag is None:
                    raise AssertionError("continuation frame without a first fragment")
                self._frag[1].extend(payload)
                if fin:
                    op, data = self._frag
                    self._frag = None
                    return op, bytes(data)
            elif not fin:
                self._frag = (opcode, bytearray(payload))
            else:
                return opcode, payload

    def recv(self, timeout=None):
        """(raw bytes, parsed object) of the next server text message (kept ones first)."""
        if self.pending:
            return self.pending.pop(0)
        opcode, payload = self.recv_message(timeout)
        if opcode != OP_TEXT:
            raise AssertionError(f"expected a text frame, got opcode {opcode}: {payload[:100]!r}")
        return payload, json.loads(payload)

    def reply(self, rid, timeout=None):
        """The ack/err with id `rid`; other messages read meanwhile are kept for recv()."""
        for i, (_, obj) in enumerate(self.pending):
            if obj.get("op") in ("ack", "err") and obj.get("id") == rid:
                return self.pending.pop(i)[1]
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            opcode, payload = self.recv_message(max(0.0, deadline - time.monotonic()))
            if opcode != OP_TEXT:
                raise AssertionError(f"expected a text frame, got opcode {opcode}")
            obj = json.loads(payload)
            if obj.get("op") in ("ack", "err") and obj.get("id") == rid:
                return obj
            self.pending.append((payload, obj))

    def call(self, op, **fields):
        return self.reply(self.request(op, **fields))

    def sub(self, topic, **fields):
        return self.call("sub", topic=topic, **fields)

    def unsub(self, topic):
        return self.call("unsub", topic=topic)

    def ping(self):
        return self.call("ping")

    def pub(self, topic, data_raw):
        return self.reply(self.send_pub(topic, data_raw))

    def quiet(self, duration):
        """Every text message that arrives within `duration` seconds (expected: none)."""
        got = list(self.pending)
        self.pending.clear()
        deadline = time.monotonic() + duration
        while True:
            try:
                got.append(self.recv(max(0.0, deadline - time.monotonic())))
            except TimeoutError:
                return got

    def close(self, code=None):
        """Closes the socket; with `code`, a close frame goes first (best effort)."""
        if code is not None and self.close_code is None:
            try:
                self.send_frame(OP_CLOSE, struct.pack("!H", code))
            except OSError:
                pass
        self.sock.close()


class Collector(threading.Thread):
    """Reads a PubSubClient on a thread (so the kernel buffers never fill up while the test
    publishes) until `done(frames)` holds, the connection closes, or `timeout` passes.
    frames: [(raw, obj)] in arrival order; closed: the WsClosed, if any; error: anything else."""

    def __init__(self, client, done, timeout):
        super().__init__(daemon=True)
        self.client, self.done, self.timeout = client, done, timeout
        self.frames = []
        self.closed = None
        self.error = None
        self.finished = False

    def run(self):
        deadline = time.monotonic() + self.timeout
        try:
            while not self.done(self.frames):
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                try:
                    self.frames.append(self.client.recv(min(left, 0.5)))
                except TimeoutError:
                    continue
            self.finished = True
        except WsClosed as e:
            self.closed = e
        except BaseException as e:  # reported by the test
            self.error = e


def msgs_of(frames, topic=None):
    """The msg objects among `frames` ([(raw, obj)]), optionally for one topic."""
    return [o for _, o in frames if o.get("op") == "msg" and (topic is None or o.get("topic") == topic)]


def vm_rss_kb(pid):
    """Resident set size of `pid` from /proc/PID/status, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


class ApiClient:
    """A keep-alive HTTP/1.1 client for the publish API: one connection, requests in turn."""

    def __init__(self, port, timeout=IO_TIMEOUT_S):
        self.sock = connect(port, timeout)
        self.buf = b""

    def request(self, method, path, body=b"", token=None, headers=(), content_length=True):
        if isinstance(body, str):
            body = body.encode("utf-8")
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        if token is not None:
            lines.append(f"Authorization: Bearer {token}")
        if content_length:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        lines += list(headers)
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        resp, self.buf = read_http_response(self.sock, self.buf)
        return resp

    def publish(self, token, topic, data_raw):
        body = '{"topic":%s,"data":%s}' % (json.dumps(topic), data_raw)
        return self.request("POST", "/publish", body, token=token)

    def close(self):
        self.sock.close()
