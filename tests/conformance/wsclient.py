"""Client side of RFC 6455 for the conformance suite, on raw sockets (stdlib only).

- encode_frame() builds any frame a case needs, deliberately invalid ones included (RSV bits,
  reserved opcodes, fragmented or oversized control frames, a declared length with no payload).
  Client frames are always masked with a fresh random key (RFC 6455 5.3).
- FrameParser reads the server's frames and keeps them as they came (mask bit, RSV, opcode), so
  the expectation code can report a server that masks or sets RSV instead of hiding it.
- Connection does the opening handshake, then reads on a background thread: a case may write
  16 MiB while the server already echoes, and a blocking single-threaded client could deadlock.
  Every frame sent and every event received is logged (bounded) for failure reports.
"""
import base64
import hashlib
import os
import queue
import socket
import threading
import time
import urllib.parse

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
OP_NAMES = {OP_CONT: "CONT", OP_TEXT: "TEXT", OP_BINARY: "BINARY", OP_CLOSE: "CLOSE",
            OP_PING: "PING", OP_PONG: "PONG"}
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
LOG_LIMIT = 120  # log lines kept per connection and direction (first ones, then a count)


def op_name(opcode):
    return OP_NAMES.get(opcode, f"OP{opcode:#x}")


def mask(data, key):
    """XOR-masks data with the 4-byte key; one big-int XOR, fast enough for 16 MiB."""
    n = len(data)
    if n == 0:
        return b""
    stream = (key * ((n + 3) // 4))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


def header_len(length, masked=True):
    ext = 0 if length < 126 else (2 if length < 65536 else 8)
    return 2 + ext + (4 if masked else 0)


def encode_frame(opcode, payload=b"", fin=True, rsv=0, masked=True, length=None, key=None):
    """One frame. `length` overrides the declared payload length (payload may then be short)."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    mbit = 0x80 if masked else 0
    if n < 126:
        head = bytes((b0, mbit | n))
    elif n < 65536:
        head = bytes((b0, mbit | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((b0, mbit | 127)) + n.to_bytes(8, "big")
    if not masked:
        return head + payload
    key = key if key is not None else os.urandom(4)
    return head + key + mask(payload, key)


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    return code.to_bytes(2, "big") + reason


def preview(data, limit=48):
    """Short printable rendering of a payload for logs: text if it decodes, else hex."""
    head = bytes(data[:limit])
    more = f"...(+{len(data) - limit})" if len(data) > limit else ""
    try:
        text = head.decode("utf-8")
        if text.isprintable():
            return repr(text) + more
    except UnicodeDecodeError:
        pass
    return "0x" + head.hex() + more


class Frame:
    __slots__ = ("fin", "rsv", "opcode", "masked", "payload", "length")

    def __init__(self, fin, rsv, opcode, masked, payload, length):
        self.fin, self.rsv, self.opcode = fin, rsv, opcode
        self.masked, self.payload, self.length = masked, payload, length

    def describe(self):
        extra = f" rsv={self.rsv}" if self.rsv else ""
        extra += " MASKED" if self.masked else ""
        body = preview(self.payload)
        if self.opcode == OP_CLOSE and len(self.payload) >= 2:
            code = int.from_bytes(self.payload[:2], "big")
            body = f"code={code} reason={preview(self.payload[2:])}"
        return f"{op_name(self.opcode)} fin={int(self.fin)}{extra} len={self.length} {body}"


class FrameParser:
    """Incremental parser of server frames. Raises ValueError on an undecodable header only."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data

    def next_frame(self):
        buf = self.buf
        if len(buf) < 2:
            return None
        b0, b1 = buf[0], buf[1]
        n = b1 & 0x7F
        pos = 2
        if n == 126:
            if len(buf) < 4:
                return None
            n, pos = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            if len(buf) < 10:
                return None
            n, pos = int.from_bytes(buf[2:10], "big"), 10
            if n >> 63:
                raise ValueError("server frame length has the most significant bit set")
        masked = bool(b1 & 0x80)
        key = b""
        if masked:
            if len(buf) < pos + 4:
                return None
            key, pos = bytes(buf[pos:pos + 4]), pos + 4
        if len(buf) < pos + n:
            return None
        payload = bytes(buf[pos:pos + n])
        del buf[:pos + n]
        if masked:
            payload = mask(payload, key)
        return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, masked, payload, n)


class Event:
    """What the reader thread saw: kind is 'frame', 'eof' (FIN), 'reset' (RST/error) or 'bad'."""
    __slots__ = ("kind", "frame", "detail", "t")

    def __init__(self, kind, frame=None, detail=""):
        self.kind, self.frame, self.detail, self.t = kind, frame, detail, time.monotonic()

    def describe(self):
        if self.kind == "frame":
            return self.frame.describe()
        return {"eof": "TCP EOF (server closed the connection)",
                "reset": f"TCP reset/error ({self.detail})",
                "bad": f"undecodable bytes from server ({self.detail})"}[self.kind]


class HandshakeError(Exception):
    pass


def parse_url(url):
    u = urllib.parse.urlsplit(url)
    if u.scheme != "ws" or not u.hostname:
        raise ValueError(f"need a ws://host:port/path URL, got {url!r}")
    return u.hostname, u.port or 80, (u.path or "/") + (f"?{u.query}" if u.query else "")


class BoundedLog:
    def __init__(self, t0):
        self.lines, self.dropped, self.t0 = [], 0, t0

    def add(self, text):
        if len(self.lines) < LOG_LIMIT:
            self.lines.append(f"+{time.monotonic() - self.t0:7.3f}s {text}")
        else:
            self.dropped += 1

    def render(self):
        tail = [f"... {self.dropped} more lines"] if self.dropped else []
        return self.lines + tail


class Connection:
    """One WebSocket connection to the server under test (client role)."""

    def __init__(self, url, timeout=5.0, label=""):
        self.url, self.timeout, self.label = url, timeout, label
        self.host, self.port, self.path = parse_url(url)
        self.sock = None
        self.events = queue.Queue()
        self.parser = FrameParser()
        t0 = time.monotonic()  # both logs share it, so their timestamps interleave
        self.sent_log, self.recv_log = BoundedLog(t0), BoundedLog(t0)
        self.send_error = None
        self.reader = None
        self.closed = False

    # -- opening handshake -------------------------------------------------------------------
    def open(self):
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(request.encode())
        head = bytearray()
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise HandshakeError(f"EOF during the opening handshake after {bytes(head)!r}")
            head += chunk
            if len(head) > 65536:
                raise HandshakeError("response head larger than 64 KiB")
        end = head.index(b"\r\n\r\n") + 4
        self._check_response(bytes(head[:end]).decode("latin-1"), key)
        self.parser.feed(head[end:])
        self.sock.settimeout(None)
        self.reader = threading.Thread(target=self._read_loop, daemon=True,
                                       name=f"reader-{self.label}")
        self.reader.start()
        return self

    @staticmethod
    def _check_response(text, key):
        lines = text.split("\r\n")
        if not lines[0].startswith("HTTP/1.1 101"):
            raise HandshakeError(f"expected 101, got {lines[0]!r}")
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        want = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()
        got = headers.get("sec-websocket-accept")
        if got != want:
            raise HandshakeError(f"bad Sec-WebSocket-Accept {got!r}, expected {want!r}")
        if "upgrade" not in headers.get("connection", "").lower():
            raise HandshakeError("response lacks Connection: Upgrade")
        if headers.get("upgrade", "").lower() != "websocket":
            raise HandshakeError("response lacks Upgrade: websocket")

    # -- reading -----------------------------------------------------------------------------
    def _read_loop(self):
        try:
            self._drain_parser()
            while True:
                try:
                    data = self.sock.recv(1 << 20)
                except OSError as e:
                    self._push(Event("reset", detail=getattr(e, "strerror", None) or str(e)))
                    return
                if not data:
                    self._push(Event("eof"))
                    return
                self.parser.feed(data)
                self._drain_parser()
        except ValueError as e:
            self._push(Event("bad", detail=str(e)))

    def _drain_parser(self):
        while True:
            frame = self.parser.next_frame()
            if frame is None:
                return
            self._push(Event("frame", frame))

    def _push(self, event):
        self.recv_log.add(event.describe())
        self.events.put(event)

    def unget(self, event):
        """Puts an event back at the head of the queue (a case peeked too early)."""
        with self.events.mutex:
            self.events.queue.appendleft(event)
            self.events.not_empty.notify()

    def next_event(self, timeout):
        """The next event, or None if nothing arrives within `timeout` seconds."""
        try:
            return self.events.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None

    # -- writing -----------------------------------------------------------------------------
    def send_raw(self, data, chop=None, delay=0.0):
        """Writes data, in writes of `chop` bytes if given (sleeping `delay` between them).
        A peer that already closed may answer with EPIPE/ECONNRESET: that is recorded, not raised,
        because the close frame it sent first is what the case judges."""
        if self.send_error:
            return False
        step = chop or len(data) or 1
        try:
            for i in range(0, len(data), step):
                self.sock.sendall(data[i:i + step])
                if delay and i + step < len(data):
                    time.sleep(delay)
        except OSError as e:
            self.send_error = getattr(e, "strerror", None) or str(e)
            self.sent_log.add(f"(write failed: {self.send_error})")
            return False
        return True

    def send_frame(self, opcode, payload=b"", fin=True, rsv=0, chop=None, delay=0.0,
                   length=None, note=""):
        data = encode_frame(opcode, payload, fin=fin, rsv=rsv, length=length)
        how = f" in {chop}-byte writes" if chop else ""
        declared = f" declared_len={length}" if length is not None else ""
        extra = f" rsv={rsv}" if rsv else ""
        self.sent_log.add(f"{op_name(opcode)} fin={int(fin)}{extra} len={len(payload)}{declared} "
                          f"{preview(payload)}{how}{note}")
        return self.send_raw(data, chop=chop, delay=delay)

    def send_frames(self, frames, chop=None, delay=0.0, summary=None):
        """Several frames written as one buffer, so `chop` (bytes per write) may cut across
        frame boundaries; chop="frame" writes each frame on its own, `delay` apart.
        frames: list of (opcode, payload, fin, rsv)."""
        parts = [encode_frame(op, p, fin=fin, rsv=rsv) for op, p, fin, rsv in frames]
        if summary:
            self.sent_log.add(summary)
        else:
            for op, p, fin, rsv in frames:
                extra = f" rsv={rsv}" if rsv else ""
                self.sent_log.add(f"{op_name(op)} fin={int(fin)}{extra} len={len(p)} {preview(p)}")
        if chop == "frame":
            self.sent_log.add(f"(the {len(frames)} frames above written one per write)")
            for i, part in enumerate(parts):
                if i and delay:
                    time.sleep(delay)
                if not self.send_raw(part):
                    return False
            return True
        if chop:
            self.sent_log.add(f"(the {len(frames)} frames above in {chop}-byte writes)")
        return self.send_raw(b"".join(parts), chop=chop, delay=delay)

    def send_close(self, code=None, reason=b"", note=""):
        payload = close_payload(code, reason)
        return self.send_frame(OP_CLOSE, payload, note=note or f" (code={code})")

    # -- teardown ----------------------------------------------------------------------------
    def abort(self):
        """Closes the socket now (also unblocks a writer stuck in sendall)."""
        if self.closed or self.sock is None:
            return
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        if self.reader is not None:
            self.reader.join(timeout=2.0)

    def log_lines(self):
        out = [f"connection {self.label} to {self.url}:", "  sent:"]
        out += ["    " + line for line in self.sent_log.render()] or ["    (nothing)"]
        out += ["  received:"]
        out += ["    " + line for line in self.recv_log.render()] or ["    (nothing)"]
        return out
