"""Hostile clients for Ringgate (issue 13), plus EchoProbe, an honest client that measures how
responsive the gateway stays while they run. Plain sockets and threads, /usr/bin/python3, no
extra packages; builds on ringgate_harness (frames, upgrade requests, response parsing).

Every attacker is bounded: by a count, a number of connections and a `duration` (seconds), and
every socket operation by a timeout. Use one like this:

    with PingFlood(port, count=40000) as attack:   # connects and sends on a thread
        attack.start()
        attack.engaged.wait(5)     # set once the attack did its first harmful thing
        attack.wait(10)            # until it has sent everything (or its duration ended)
        ...                        # measure; the connection stays open and never reads
        pongs = attack.read_pongs(timeout=5)
    # __exit__ closes every socket of the attack

Classes (the documented outcome each is tested for is in test_hostile.py):
  control-frame floods  PingFlood, PongFlood, CloseThenFrames
  tiny frames           TinyFrameFlood (1-byte messages on /echo, never reading)
  fragments             FragmentFlood (one message of N tiny frames), FragmentedMessages
  slow readers          SlowReader (/echo), SlowSubscriber (/ws, with an honest publisher)
  slow writers          Slowloris (any listener: plain, TLS ClientHello, HTTP head inside TLS,
                        API head or body, admin, redirect)
  headers and oversize  RequestBarrage: raw requests or byte strings sent over and over, each
                        answer recorded (see the request builders below)

EchoProbe measures round trips of an honest /echo client: an established connection echoing a
short message every 10 ms, and a fresh connection (TCP connect + upgrade + one echo) every 100 ms;
optionally GET /healthz and /metrics on the admin port. Run it in a separate process
(EchoProbe.spawn, or `python3 hostile_clients.py probe --port P`) so that attacker threads in the
measuring process cannot delay it through the GIL.
"""
import base64
import json
import os
import select
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringgate_harness as rh  # noqa: E402

HOST = "127.0.0.1"
IO_TIMEOUT_S = 5.0
SMALL_RCVBUF = 4096  # a peer that never reads: the gateway's writes stop after a few KiB


RSS_ABORT_MIB = 512  # stop an attack whose victim balloons past this (a shared host)


class RssSampler(threading.Thread):
    """Peak VmRSS growth of `pid`, sampled every 20 ms; sets `stopping` on every attack in
    self.attacks (a list callers may extend) once it grows past RSS_ABORT_MIB."""

    def __init__(self, pid, attacks=()):
        super().__init__(daemon=True)
        self.pid, self.attacks = pid, list(attacks)
        self.base = rh.vm_rss_kb(pid)
        self.peak = self.base
        self.aborted = False
        self._halt = threading.Event()

    def run(self):
        while not self._halt.wait(0.02):
            try:
                self.peak = max(self.peak, rh.vm_rss_kb(self.pid))
            except (OSError, AssertionError):
                return
            if self.peak - self.base > RSS_ABORT_MIB * 1024 and not self.aborted:
                self.aborted = True
                for a in list(self.attacks):
                    a.stopping.set()

    def finish(self):
        """Stops sampling; the peak growth in KiB."""
        self._halt.set()
        self.join(2)
        return self.peak - self.base


# -- frames and sockets -----------------------------------------------------------------------
def frame(opcode, payload=b"", fin=True, rsv=0):
    """One masked client frame (random key)."""
    return rh.make_frame(opcode, payload, fin, rsv=rsv, fast=True)


def frame_header(opcode, length, fin=True):
    """Only the header of a masked frame claiming `length` payload bytes (for 2**63 and such)."""
    b0 = (0x80 if fin else 0) | opcode
    return struct.pack("!BBQ", b0, 0x80 | 127, length) + os.urandom(4)


def close_frame(code, reason=b""):
    return frame(rh.OP_CLOSE, struct.pack("!H", code) + reason)


def tcp_socket(rcvbuf=None, sndbuf=None):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if sndbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(IO_TIMEOUT_S)
    return sock


def open_ws(port, path="/echo", rcvbuf=None, sndbuf=None, extra=""):
    """A connected, upgraded socket: (sock, bytes read past the 101)."""
    sock = tcp_socket(rcvbuf, sndbuf)
    try:
        sock.connect((HOST, port))
        sock.sendall(rh.upgrade_request(path, extra=extra))
        resp, rest = rh.read_http_response(sock)
    except BaseException:
        sock.close()
        raise
    if resp.status != 101:
        sock.close()
        raise AssertionError(f"upgrade to {path} refused: {resp!r}")
    return sock, rest


def send_bounded(sock, data, deadline, stop=None):
    """Sends as much of `data` as the peer takes before `deadline` (or `stop` is set).
    Returns (bytes sent, None | "timeout" | "stopped" | "closed")."""
    view, sent = memoryview(data), 0
    while sent < len(view):
        left = deadline - time.monotonic()
        if left <= 0:
            return sent, "timeout"
        if stop is not None and stop.is_set():
            return sent, "stopped"
        sock.settimeout(min(left, 0.2))
        try:
            sent += sock.send(view[sent:sent + 262144])
        except socket.timeout:
            continue
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            return sent, "closed"
    return sent, None


def peer_closed(sock):
    """True when the peer closed or reset `sock` (EOF with nothing unread before it), without
    blocking or consuming data (for a TLS socket: a close_notify not yet read counts as open)."""
    if sock.fileno() < 0:
        return True
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:  # the raw socket's recv, also under an SSLSocket (which refuses flags)
        data = socket.socket.recv(sock, 1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True
    return data == b""


class FrameReader:
    """Server frames from a blocking socket, parsed from a buffer (no quadratic slicing)."""

    def __init__(self, sock, initial=b""):
        self.sock = sock
        self.buf = bytearray(initial)
        self.pos = 0
        self.eof = False

    def _parse(self):
        frame, self.pos = rh.parse_server_frame(self.buf, self.pos)
        return frame

    def next(self, deadline):
        """(fin, opcode, payload); None on timeout; raises EOFError on EOF/reset."""
        while True:
            f = self._parse()
            if f is not None:
                return f
            if self.eof:
                raise EOFError("connection closed")
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(262144)
            except socket.timeout:
                return None
            except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
                chunk = b""
            if not chunk:
                self.eof = True
                continue
            self.buf += chunk


def close_code_of(payload):
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005


def read_until_close(sock, initial=b"", timeout=IO_TIMEOUT_S):
    """Reads server frames until a close frame or EOF. Returns (close code or None for EOF/
    timeout, [(opcode, payload)] of the frames before it, "close" | "eof" | "timeout")."""
    reader, frames = FrameReader(sock, initial), []
    deadline = time.monotonic() + timeout
    while True:
        try:
            f = reader.next(deadline)
        except EOFError:
            return None, frames, "eof"
        if f is None:
            return None, frames, "timeout"
        _, opcode, payload = f
        if opcode == rh.OP_CLOSE:
            return close_code_of(payload), frames, "close"
        frames.append((opcode, payload))


# -- the attack base --------------------------------------------------------------------------
class Attack:
    """An attacker running on a thread. Subclasses implement run(); it must return within about
    `duration` seconds, honour self.stopping, add every socket to self.socks, and set
    self.engaged once the attack is under way. Sockets stay open after run() returns (an
    attacker that never reads keeps its connection) until close()."""

    name = "attack"

    def __init__(self, port, duration=3.0):
        self.port = port
        self.duration = duration
        self.engaged = threading.Event()
        self.done = threading.Event()
        self.stopping = threading.Event()
        self.error = None
        self.socks = []
        self.started_at = None
        self._thread = None

    def start(self):
        self.started_at = time.monotonic()
        self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
        self._thread.start()
        return self

    def _main(self):
        try:
            self.run()
        except BaseException as e:  # reported by the caller (check_error)
            self.error = e
        finally:
            self.engaged.set()
            self.done.set()

    def run(self):
        raise NotImplementedError

    @property
    def deadline(self):
        return self.started_at + self.duration

    def wait(self, timeout):
        """True once run() returned."""
        return self.done.wait(timeout)

    def stop(self, timeout=5.0):
        self.stopping.set()
        if self._thread:
            self._thread.join(timeout)

    def connected(self):
        """How many of the attack's sockets the gateway has not closed."""
        return sum(1 for s in self.socks if s.fileno() >= 0 and not peer_closed(s))

    def close(self):
        self.stop()
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _FrameFlood(Attack):
    """Sends `count` equal-sized frames from frames() on one connection that never reads."""

    path = "/echo"
    rcvbuf = SMALL_RCVBUF

    def __init__(self, port, count=40000, duration=10.0, path=None):
        super().__init__(port, duration)
        self.count = count
        self.path = path or self.path
        self.sent_bytes = 0
        self.total_bytes = 0
        self.result = None  # send_bounded's reason: None when everything went out
        self.leftover = b""

    def payload(self):
        raise NotImplementedError

    def connect(self):
        sock, self.leftover = open_ws(self.port, self.path, rcvbuf=self.rcvbuf)
        self.sock = sock
        self.socks.append(sock)
        return sock

    def run(self):
        sock = self.connect()
        data = self.payload()
        self.total_bytes = len(data)
        self.engaged.set()
        # In pieces, so sent_bytes shows progress while a stalled gateway holds the rest.
        step = 65536
        for off in range(0, len(data), step):
            n, self.result = send_bounded(sock, data[off:off + step], self.deadline, self.stopping)
            self.sent_bytes += n
            if self.result:
                return

    def everything_sent(self):
        return self.sent_bytes == self.total_bytes and self.total_bytes > 0


class PingFlood(_FrameFlood):
    """`count` pings on one connection that never reads the pongs: empty ones (the cheapest to
    send, 6 bytes each), then a last one whose payload is LAST_PING, or with numbered=True every
    ping's payload is its 8-byte sequence number. read_pongs() afterwards: the gateway should
    answer the last ping (RFC 6455 5.5.3 lets it answer only the most recent one)."""

    name = "ping_flood"
    LAST_PING = b"last-ping"

    def __init__(self, port, count=40000, duration=10.0, path=None, numbered=False):
        super().__init__(port, count, duration, path)
        self.numbered = numbered

    def payload(self):
        if self.numbered:
            return b"".join(frame(rh.OP_PING, struct.pack("!Q", i)) for i in range(self.count))
        pool = [frame(rh.OP_PING, b"") for _ in range(64)]
        return b"".join(pool[i % 64] for i in range(self.count - 1)) + frame(rh.OP_PING, self.LAST_PING)

    def last_payload(self):
        return struct.pack("!Q", self.count - 1) if self.numbered else self.LAST_PING

    def read_pongs(self, timeout=5.0):
        """Pong payloads read until one carries the last ping's payload, EOF, or `timeout`."""
        reader, pongs = FrameReader(self.sock, self.leftover), []
        deadline = time.monotonic() + timeout
        want = self.last_payload()
        while True:
            try:
                f = reader.next(deadline)
            except EOFError:
                return pongs
            if f is None:
                return pongs
            if f[1] == rh.OP_PONG:
                pongs.append(f[2])
                if f[2] == want:
                    return pongs


class PongFlood(_FrameFlood):
    """`count` unsolicited pongs (RFC 6455 allows them; they must be ignored cheaply)."""

    name = "pong_flood"

    def payload(self):
        one = [frame(rh.OP_PONG, b"") for _ in range(64)]
        return b"".join(one[i % 64] for i in range(self.count))


class CloseThenFrames(_FrameFlood):
    """A close frame (1000), then `count` 1-byte text frames and pings: after the close every
    frame must be discarded (nothing echoed, no pong)."""

    name = "close_then_frames"

    def payload(self):
        pool = [frame(rh.OP_TEXT, b"x") for _ in range(32)] + [frame(rh.OP_PING, b"p")]
        return close_frame(1000) + b"".join(pool[i % 33] for i in range(self.count))


class TinyFrameFlood(_FrameFlood):
    """`count` 1-byte text messages on /echo, never reading the echoes."""

    name = "tiny_frames"

    def payload(self):
        pool = [frame(rh.OP_TEXT, b"t") for _ in range(64)]
        return b"".join(pool[i % 64] for i in range(self.count))


class FragmentFlood(_FrameFlood):
    """ONE text message of `count` 1-byte frames (a first frame and count-1 continuations).
    read_echo() then expects the whole message back."""

    name = "fragment_flood"

    def __init__(self, port, count=100000, duration=10.0, path=None):
        super().__init__(port, count, duration, path)

    def payload(self):
        cont = [frame(rh.OP_CONT, b"f", fin=False) for _ in range(64)]
        body = b"".join(cont[i % 64] for i in range(self.count - 2))
        return frame(rh.OP_TEXT, b"f", fin=False) + body + frame(rh.OP_CONT, b"f", fin=True)

    def read_echo(self, timeout=5.0):
        """(opcode, payload) of the echoed message; None on timeout/EOF; raises on a close."""
        reader = FrameReader(self.sock, self.leftover)
        deadline, parts, op = time.monotonic() + timeout, [], None
        while True:
            try:
                f = reader.next(deadline)
            except EOFError:
                return None
            if f is None:
                return None
            fin, opcode, payload = f
            if opcode == rh.OP_CLOSE:
                raise AssertionError(f"closed with {close_code_of(payload)} instead of an echo")
            if opcode in (rh.OP_PING, rh.OP_PONG):
                continue
            op = op if opcode == rh.OP_CONT else opcode
            parts.append(payload)
            if fin:
                return op, b"".join(parts)


class FragmentedMessages(_FrameFlood):
    """`count` small messages of `parts` frames each (text, continuations), never reading."""

    name = "fragmented_messages"

    def __init__(self, port, count=20000, parts=4, duration=10.0, path=None):
        super().__init__(port, count, duration, path)
        self.parts = parts

    def payload(self):
        one = (frame(rh.OP_TEXT, b"ab", fin=False)
               + b"".join(frame(rh.OP_CONT, b"cd", fin=False) for _ in range(self.parts - 2))
               + frame(rh.OP_CONT, b"ef"))
        return one * self.count


class SlowReader(_FrameFlood):
    """Sends `count` binary messages of `size` bytes on /echo and never reads the echoes, with
    a small receive buffer: the gateway must stop reading it instead of queueing the echoes."""

    name = "slow_reader"

    def __init__(self, port, count=256, size=65536, duration=4.0, path=None):
        super().__init__(port, count, duration, path)
        self.size = size

    def payload(self):
        msg = frame(rh.OP_BINARY, os.urandom(self.size))
        return msg * self.count


class SlowSubscriber(Attack):
    """A /ws subscriber (SO_RCVBUF 4096) that never reads, and an honest publisher on another
    connection (needs --client-publish on) sending `count` messages of `size` bytes of JSON to
    its topic. Afterwards close_code() reads the subscriber: with the default slow-consumer
    policy the gateway closes it with 4100 (and the close frame jumps its data queue)."""

    name = "slow_subscriber"

    def __init__(self, port, topic="hostile.slow", count=4000, size=4096, duration=6.0):
        super().__init__(port, duration)
        self.topic, self.count, self.size = topic, count, size
        self.published = 0
        self.sub = None

    def run(self):
        self.sub = rh.PubSubClient(self.port, "/ws", rcvbuf=SMALL_RCVBUF, timeout=IO_TIMEOUT_S)
        self.socks.append(self.sub.sock)
        ack = self.sub.sub(self.topic)
        if ack.get("op") != "ack":
            raise AssertionError(f"sub refused: {ack}")
        pub = rh.PubSubClient(self.port, "/ws", timeout=IO_TIMEOUT_S)
        self.socks.append(pub.sock)
        data = json.dumps("d" * self.size)
        self.engaged.set()
        for i in range(self.count):
            if self.stopping.is_set() or time.monotonic() > self.deadline:
                break
            rid = pub.send_pub(self.topic, data)
            self.published += 1
            if i % 200 == 199:  # keep the publisher's own queue short: it is the honest one
                reply = pub.reply(rid)
                pub.pending.clear()
                if reply.get("op") != "ack":
                    raise AssertionError(f"publish refused: {reply}")

    def close_code(self, timeout=5.0):
        """The close code the subscriber finds when it finally reads (1006 = EOF/reset without
        a close frame), or None when it is still open after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sub.recv_message(max(0.0, deadline - time.monotonic()))
            except rh.WsClosed as e:
                return e.code
            except TimeoutError:
                return None


# -- slow writers -----------------------------------------------------------------------------
def client_hello(server_hostname="localhost"):
    """The bytes of a real TLS ClientHello (Python's ssl, through memory BIOs)."""
    ctx = rh.client_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=server_hostname)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def slow_head(path="/echo", pad=4000):
    """An upgrade request head that will take ages at a byte per tick (never finished)."""
    return rh.upgrade_request(path, extra="X-Pad: " + "a" * pad + "\r\n")


class Slowloris(Attack):
    """`conns` connections to `port`, each sending `prefix` at once, then one byte of `trickle`
    every `interval` seconds, never finishing. tls=True: a full TLS handshake first (the trickle
    goes inside TLS, a record per byte). Records when the gateway closed each connection
    (closed_after[i], seconds since its connect; None while open) and what it answered."""

    name = "slowloris"

    def __init__(self, port, trickle, conns=20, interval=0.25, duration=5.0, prefix=b"",
                 tls=False, until_all_closed=True):
        super().__init__(port, duration)
        self.trickle, self.prefix, self.conns, self.interval = trickle, prefix, conns, interval
        self.tls, self.until_all_closed = tls, until_all_closed
        self.opened_at = []
        self.closed_after = []
        self.answers = []
        self.sent = []

    def _open(self):
        sock = tcp_socket()
        sock.connect((HOST, self.port))
        if self.tls:
            sock = rh.client_context().wrap_socket(sock, server_hostname="localhost")
        if self.prefix:
            sock.sendall(self.prefix)
        return sock

    def run(self):
        for _ in range(self.conns):
            if self.stopping.is_set():
                break
            self.socks.append(self._open())
            self.opened_at.append(time.monotonic())
            self.closed_after.append(None)
            self.answers.append(b"")
            self.sent.append(0)
        self.engaged.set()
        next_tick = time.monotonic()
        while time.monotonic() < self.deadline and not self.stopping.is_set():
            if self.until_all_closed and all(c is not None for c in self.closed_after):
                return
            now = time.monotonic()
            if now >= next_tick:
                self._tick()
                next_tick = now + self.interval
            self._reap(min(0.05, max(0.0, next_tick - time.monotonic())))

    def _tick(self):
        for i, sock in enumerate(self.socks):
            if self.closed_after[i] is not None or self.sent[i] >= len(self.trickle):
                continue
            sock.settimeout(0.5)
            try:
                sock.send(self.trickle[self.sent[i]:self.sent[i] + 1])
                self.sent[i] += 1
            except (socket.timeout, ssl.SSLWantWriteError):
                pass
            except (OSError, ssl.SSLError):
                self._closed(i)

    def _closed(self, i):
        if self.closed_after[i] is None:
            self.closed_after[i] = time.monotonic() - self.opened_at[i]

    def _reap(self, wait):
        live = [s for i, s in enumerate(self.socks) if self.closed_after[i] is None]
        if not live:
            time.sleep(wait)
            return
        readable, _, _ = select.select(live, [], [], wait)
        for sock in readable:
            i = self.socks.index(sock)
            sock.settimeout(0.05)
            try:
                data = sock.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except (OSError, ssl.SSLError):
                data = b""
            if data:
                self.answers[i] += data
            else:
                self._closed(i)

    def still_open(self):
        return sum(1 for c in self.closed_after if c is None)


# -- headers and oversized requests -----------------------------------------------------------
def request(path="/echo", headers=(), key=None, method="GET", version="HTTP/1.1", host=True,
            body=b""):
    """An upgrade request with extra raw header lines (repeated and conflicting ones welcome)."""
    key = key or base64.b64encode(os.urandom(16)).decode()
    lines = [f"{method} {path} {version}"] + (["Host: 127.0.0.1"] if host else []) + [
        "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def head_of_size(total, path="/echo", name="X-Fill"):
    """An upgrade request head of exactly `total` bytes (padding one header)."""
    base = request(path, headers=[f"{name}: "])
    pad = total - len(base)
    if pad < 0:
        raise ValueError(f"{total} bytes is smaller than a minimal head ({len(base)})")
    return request(path, headers=[f"{name}: " + "p" * pad])


def many_headers(n, path="/echo", value_bytes=8):
    """A head with `n` extra short header lines."""
    return request(path, headers=[f"X-H{i}: " + "v" * value_bytes for i in range(n)])


def exchange(port, data, read_timeout=3.0, then=b""):
    """Connects, sends `data`, reads the answer: up to EOF, or up to the end of a 101's head;
    after a 101, sends `then` (frames) and reads up to EOF. Each read is bounded by
    `read_timeout`. Returns an Outcome: HTTP status (or None), the close code of a WebSocket
    close frame (or None), whether the gateway closed the connection, the raw bytes, and the
    seconds it took."""
    t0 = time.monotonic()
    raw, closed = b"", False
    with rh.connect(port, timeout=read_timeout) as sock:
        try:
            sock.sendall(data)
            closed, raw = _read_answer(sock, time.monotonic() + read_timeout)
            if then and not closed and raw.startswith(b"HTTP/1.1 101"):
                sock.sendall(then)
                closed, more = rh.read_until_eof(sock, timeout=read_timeout)
                raw += more
        except (BrokenPipeError, ConnectionResetError):
            closed = True
    return Outcome(raw, closed, time.monotonic() - t0)


def _read_answer(sock, deadline):
    """(closed, bytes): reads until EOF, the end of a 101 head, or `deadline`."""
    raw = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False, raw
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return False, raw
        except ConnectionResetError:
            return True, raw
        if not chunk:
            return True, raw
        raw += chunk
        if raw.startswith(b"HTTP/1.1 101") and b"\r\n\r\n" in raw:
            return False, raw


class Outcome:
    def __init__(self, raw, closed, seconds):
        self.raw, self.closed, self.seconds = raw, closed, seconds
        self.status = None
        self.close_code = None
        head, sep, rest = raw.partition(b"\r\n\r\n")
        if raw.startswith(b"HTTP/1.1 ") and len(raw) >= 12 and raw[9:12].isdigit():
            self.status = int(raw[9:12])
        if self.status == 101 and sep:
            code, _, _ = read_until_close(_BytesSock(rest), timeout=0.01)
            self.close_code = code

    def __repr__(self):
        return (f"Outcome(status={self.status}, close_code={self.close_code}, closed={self.closed}, "
                f"{self.seconds:.2f}s, raw={self.raw[:160]!r})")


class _BytesSock:
    """A socket stand-in over bytes already read (for FrameReader)."""

    def __init__(self, data):
        self.data = data

    def settimeout(self, _):
        pass

    def recv(self, n):
        out, self.data = self.data[:n], self.data[n:]
        return out


class RequestBarrage(Attack):
    """Sends each of `cases` on a fresh connection, round after round, for `duration` seconds
    (at most `rounds`). A case is bytes, or (bytes, frames to send after a 101), or
    (bytes, frames, port) for another listener. outcomes[name]: every Outcome seen; engaged
    after the first round."""

    name = "request_barrage"

    def __init__(self, port, cases, duration=2.0, rounds=1000):
        super().__init__(port, duration)
        self.cases, self.rounds = cases, rounds
        self.outcomes = {name: [] for name in cases}

    def run(self):
        for _ in range(self.rounds):
            for name, case in self.cases.items():
                data, then, port = (tuple(case) + (b"", self.port)[len(case) - 1:]
                                    if isinstance(case, tuple) else (case, b"", self.port))
                self.outcomes[name].append(exchange(port, data, then=then))
            self.engaged.set()
            if self.stopping.is_set() or time.monotonic() > self.deadline:
                return


class HeldConnections(Attack):
    """`conns` connections that send `data` once and then just stay connected (for the drain
    check: connections mid-attack when SIGTERM comes)."""

    name = "held"

    def __init__(self, port, data, conns=5, duration=1.0):
        super().__init__(port, duration)
        self.data, self.conns = data, conns

    def run(self):
        for _ in range(self.conns):
            sock = tcp_socket(rcvbuf=SMALL_RCVBUF)
            sock.connect((HOST, self.port))
            self.socks.append(sock)
            sock.sendall(self.data)
        self.engaged.set()


# -- the honest probe -------------------------------------------------------------------------
class ProbeResult:
    """Latencies in milliseconds: established (every ~10 ms on one connection), fresh (connect +
    upgrade + echo), admin (GET /healthz or /metrics on a fresh connection); errors: strings."""

    def __init__(self, d):
        self.established = d.get("established_ms", [])
        self.fresh = d.get("fresh_ms", [])
        self.admin = d.get("admin_ms", [])
        self.errors = d.get("errors", [])

    @staticmethod
    def pct(values, q):
        if not values:
            return float("inf")
        s = sorted(values)
        return s[min(len(s) - 1, int(q * len(s)))]

    def summary(self):
        def one(name, v):
            if not v:
                return f"{name}: none"
            return (f"{name}: n={len(v)} p50={self.pct(v, 0.5):.1f} p99={self.pct(v, 0.99):.1f} "
                    f"max={max(v):.1f} ms")
        parts = [one("established", self.established), one("fresh", self.fresh)]
        if self.admin:
            parts.append(one("admin", self.admin))
        if self.errors:
            parts.append(f"errors: {self.errors[:5]}")
        return "; ".join(parts)


class EchoProbe:
    """An honest /echo client. run() for `max_seconds` or until stop(): thread A keeps one
    connection and echoes a 16-byte text every `interval` (10 ms), timing each round trip;
    thread B opens a fresh connection every `fresh_interval` (100 ms) and times connect +
    upgrade + one echo; with admin_port, thread C times GET /healthz and /metrics alternately.
    A round trip that gets no answer is recorded as the time waited (up to `timeout`) plus an
    error, so a stalled gateway shows up as huge latencies, never as missing samples."""

    def __init__(self, port, admin_port=None, interval=0.010, fresh_interval=0.100,
                 timeout=2.0, max_seconds=60.0):
        self.port, self.admin_port = port, admin_port
        self.interval, self.fresh_interval = interval, fresh_interval
        self.timeout, self.max_seconds = timeout, max_seconds
        self.established_ms, self.fresh_ms, self.admin_ms, self.errors = [], [], [], []
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def stop(self):
        self._stop.set()

    def _error(self, what):
        with self._lock:
            if len(self.errors) < 100:
                self.errors.append(what)

    def _echo(self, sock, reader, n):
        """One round trip on an upgraded socket; ms, or None on failure (error recorded)."""
        msg = b"probe-%010d" % n
        t0 = time.monotonic()
        sock.sendall(frame(rh.OP_TEXT, msg))
        deadline = t0 + self.timeout
        while True:
            f = reader.next(deadline)
            if f is None:
                self._error(f"no echo within {self.timeout}s")
                return None, self.timeout * 1000
            if f[1] == rh.OP_TEXT and f[2] == msg:
                return True, (time.monotonic() - t0) * 1000
            if f[1] == rh.OP_CLOSE:
                raise EOFError(f"closed {close_code_of(f[2])}")

    def _established(self, ready):
        sock, rest = open_ws(self.port)
        reader, n = FrameReader(sock, rest), 0
        ready.set()
        try:
            while not self._stop.is_set():
                ok, ms = self._echo(sock, reader, n)
                self.established_ms.append(ms)
                n += 1
                if ok is None:  # a lost round trip: start over on a new connection
                    sock.close()
                    sock, rest = open_ws(self.port)
                    reader = FrameReader(sock, rest)
                self._stop.wait(self.interval)
        finally:
            sock.close()

    def fresh_once(self):
        """ms for connect + upgrade + one echo on a new connection (the timeout on failure)."""
        t0 = time.monotonic()
        try:
            sock = tcp_socket()
            sock.settimeout(self.timeout)
            try:
                sock.connect((HOST, self.port))
                sock.sendall(rh.upgrade_request("/echo"))
                resp, rest = rh.read_http_response(sock)
                if resp.status != 101:
                    raise AssertionError(f"status {resp.status}")
                ok, _ = self._echo(sock, FrameReader(sock, rest), 0)
                if ok is None:
                    return self.timeout * 1000
            finally:
                sock.close()
        except (OSError, AssertionError, EOFError) as e:
            self._error(f"fresh: {e!r}")
            return max((time.monotonic() - t0) * 1000, self.timeout * 1000)
        return (time.monotonic() - t0) * 1000

    def admin_once(self, path):
        t0 = time.monotonic()
        try:
            with rh.connect(self.admin_port, timeout=self.timeout) as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                             .encode())
                resp, _ = rh.read_http_response(sock)
                if resp.status != 200:
                    raise AssertionError(f"{path}: status {resp.status}")
        except (OSError, AssertionError) as e:
            self._error(f"admin {path}: {e!r}")
            return max((time.monotonic() - t0) * 1000, self.timeout * 1000)
        return (time.monotonic() - t0) * 1000

    def _repeat(self, fn, out):
        while not self._stop.is_set():
            out.append(fn())
            self._stop.wait(self.fresh_interval)

    def run(self, on_ready=None):
        """Blocks until stop() or max_seconds; returns a ProbeResult."""
        ready = threading.Event()
        threads = [threading.Thread(target=self._guard, args=(self._established, ready), daemon=True)]
        threads[0].start()
        ready.wait(self.timeout + 1)
        threads.append(threading.Thread(target=self._guard, args=(
            lambda: self._repeat(self.fresh_once, self.fresh_ms),), daemon=True))
        if self.admin_port:
            flip = [0]

            def admin():  # /healthz and /metrics in turn
                flip[0] ^= 1
                return self.admin_once("/healthz" if flip[0] else "/metrics")
            threads.append(threading.Thread(target=self._guard, args=(
                lambda: self._repeat(admin, self.admin_ms),), daemon=True))
        for t in threads[1:]:
            t.start()
        if on_ready:
            on_ready()
        self._stop.wait(self.max_seconds)
        self._stop.set()
        for t in threads:
            t.join(self.timeout + 2)
        return self.result()

    def _guard(self, fn, *args):
        try:
            fn(*args)
        except BaseException as e:  # reported in errors, and the thread ends
            self._error(f"{getattr(fn, '__name__', 'probe')}: {e!r}")
            if args and isinstance(args[0], threading.Event):
                args[0].set()

    def result(self):
        return ProbeResult({"established_ms": list(self.established_ms), "fresh_ms": list(self.fresh_ms),
                            "admin_ms": list(self.admin_ms), "errors": list(self.errors)})

    @staticmethod
    def spawn(port, admin_port=None, max_seconds=60.0):
        """Runs a probe in a child process (see ProbeProcess)."""
        return ProbeProcess(port, admin_port, max_seconds)


class ProbeProcess:
    """An EchoProbe in a child /usr/bin/python3 process: started by the constructor, which
    returns once its established connection is up; finish() stops it and returns the
    ProbeResult. The child also ends by itself after max_seconds (and when its stdin closes)."""

    def __init__(self, port, admin_port=None, max_seconds=60.0):
        args = [sys.executable, os.path.abspath(__file__), "probe", "--port", str(port),
                "--max-seconds", str(max_seconds)]
        if admin_port:
            args += ["--admin-port", str(admin_port)]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        line = self._readline(15.0)
        if line.strip() != b"ready":
            self.kill()
            raise RuntimeError(f"probe did not start: {line!r} {self.proc.stderr.read()!r}")

    def _readline(self, timeout):
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return self.proc.stdout.readline() if r else b""

    def finish(self, timeout=10.0):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError("probe did not finish")
        out, err = self.proc.stdout.read(), self.proc.stderr.read()
        for line in out.splitlines():
            if line.startswith(b"{"):
                return ProbeResult(json.loads(line))
        raise RuntimeError(f"probe printed no result: {out!r} {err!r}")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def _probe_main(argv):
    import argparse
    p = argparse.ArgumentParser(description="honest /echo latency probe")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--admin-port", type=int)
    p.add_argument("--max-seconds", type=float, default=60.0)
    a = p.parse_args(argv)
    probe = EchoProbe(a.port, a.admin_port, max_seconds=a.max_seconds)

    def watch_stdin():
        sys.stdin.buffer.read()  # EOF: the parent wants the result
        probe.stop()

    def ready():
        print("ready", flush=True)
        threading.Thread(target=watch_stdin, daemon=True).start()

    result = probe.run(on_ready=ready)
    print(json.dumps({"established_ms": result.established, "fresh_ms": result.fresh,
                      "admin_ms": result.admin, "errors": result.errors}), flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "probe":
        _probe_main(sys.argv[2:])
    else:
        print(__doc__)
