"""Real Redis and NATS servers for the broker tests (issue 7), started by the tests themselves.

Each server listens on a loopback port taken from the kernel (never 6379/4222: a packaged
redis-server may be running there on other machines), runs in the foreground with its output in a
log file, and is stopped by killing exactly the PID this module started. restart() brings it back
on the SAME port, which is what the outage tests need. Every wait is bounded.

Clients speak the wire protocols on raw sockets (no redis-py, no NATS library): redis_command()
sends one RESP command and parses the reply, nats_publish() sends CONNECT, PUB and a PING and
waits for the PONG, so the message has been processed by the server when it returns. redis_cli()
runs Debian's redis-cli, the tool the issue names for external publishes.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

START_TIMEOUT_S = 10.0
IO_TIMEOUT_S = 5.0
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin",
                               "/usr/local/sbin", "/usr/local/bin"])


def find_binary(name):
    path = shutil.which(name, path=SEARCH_PATH)
    if path is None:
        raise RuntimeError(f"{name} not found on PATH or /usr/sbin: run tools/install-test-deps.sh "
                           f"(Debian packages redis-server, redis-tools, nats-server)")
    return path


def free_port():
    """A loopback port nobody listens on right now (the kernel's pick; the caller binds it soon)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _logdir():
    d = os.environ.get("RINGGATE_TEST_LOGDIR") or tempfile.gettempdir()
    os.makedirs(d, exist_ok=True)
    return d


class _Process:
    """One foreground server process on a fixed loopback port. Subclasses give argv() and
    probe() (True once the server answers on its port)."""

    name = "server"

    def __init__(self, port=None):
        self.port = port or free_port()
        fd, self.log_path = tempfile.mkstemp(prefix=f"{self.name}-", suffix=".log", dir=_logdir())
        os.close(fd)
        self.proc = None
        self.starts = 0

    def argv(self):
        raise NotImplementedError

    def probe(self):
        raise NotImplementedError

    def start(self):
        if self.running():
            raise RuntimeError(f"{self.name} already running (pid {self.proc.pid})")
        with open(self.log_path, "ab") as log:
            log.write(f"--- start #{self.starts + 1}: {' '.join(self.argv())}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=tempfile.gettempdir())
        self.starts += 1
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} during start "
                                   f"on port {self.port}\n{self.log_tail()}")
            try:
                if self.probe():
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} not ready on port {self.port} within "
                                   f"{START_TIMEOUT_S}s\n{self.log_tail()}")
            time.sleep(0.02)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def pid(self):
        return self.proc.pid

    def stop(self, sig=signal.SIGKILL, timeout=5.0):
        """Sends `sig` to exactly the PID started here (SIGKILL by default: a crash, no goodbye
        to the clients) and waits for it to exit. Returns the exit code (None if still running)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        return self.proc.returncode

    def restart(self):
        """A new process on the same port (after stop(), or stops it first)."""
        self.stop()
        return self.start()

    def log_tail(self, lines=20):
        with open(self.log_path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        return f"--- {self.name} log {self.log_path} ---\n" + "\n".join(text.splitlines()[-lines:])


# -- Redis ------------------------------------------------------------------------------------
class RedisServer(_Process):
    name = "redis"

    def __init__(self, port=None):
        super().__init__(port)
        self.dir = tempfile.mkdtemp(prefix="ringgate-redis-")

    def argv(self):
        return [find_binary("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--daemonize", "no", "--supervised", "no",
                "--loglevel", "warning", "--logfile", "", "--dir", self.dir,
                "--databases", "1"]

    def probe(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as s:
            s.settimeout(1.0)
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return _recv_line(s) == b"+PONG"

    def url(self, sharded=False):
        return f"redis://127.0.0.1:{self.port}" + ("/?sharded=1" if sharded else "")


class RespError(Exception):
    """An error reply (-ERR ...) from Redis."""


def _recv_line(sock, buf=None):
    """One CRLF-terminated line (without CRLF). `buf`: a bytearray of already-read bytes, consumed."""
    data = buf if buf is not None else bytearray()
    while b"\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"EOF before a full line: {bytes(data)!r}")
        data += chunk
    i = data.index(b"\r\n")
    line = bytes(data[:i])
    del data[:i + 2]
    return line


def _recv_exact(sock, buf, n):
    while len(buf) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"EOF with {len(buf)} of {n} bytes")
        buf += chunk
    out = bytes(buf[:n])
    del buf[:n]
    return out


def _read_resp(sock, buf):
    """One RESP2 reply: bytes (bulk/status), int, None (nil), list, or RespError."""
    line = _recv_line(sock, buf)
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return rest
    if kind == b"-":
        return RespError(rest.decode("utf-8", "replace"))
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = _recv_exact(sock, buf, n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_resp(sock, buf) for _ in range(n)]
    raise AssertionError(f"unexpected RESP reply line {line!r}")


def _resp_command(args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode("utf-8")
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


def redis_command(port, *args, timeout=IO_TIMEOUT_S):
    """Sends one command over a fresh connection, returns the parsed reply; raises RespError on
    an error reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(_resp_command(args))
        reply = _read_resp(s, bytearray())
    if isinstance(reply, RespError):
        raise reply
    return reply


def redis_pipeline(port, commands, timeout=IO_TIMEOUT_S):
    """Sends every command (a tuple of args) on one connection without waiting, then reads the
    replies in order; returns them (error replies as RespError values)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(b"".join(_resp_command(c) for c in commands))
        buf = bytearray()
        return [_read_resp(s, buf) for _ in commands]


def redis_cli(port, *args, timeout=IO_TIMEOUT_S):
    """Runs `redis-cli -h 127.0.0.1 -p PORT args...`; returns its stdout stripped. Fails on a
    non-zero exit or an (error) reply."""
    r = subprocess.run([find_binary("redis-cli"), "-h", "127.0.0.1", "-p", str(port), *args],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    out = r.stdout.strip()
    if r.returncode != 0 or out.startswith("(error)") or out.startswith("ERR"):
        raise AssertionError(f"redis-cli {args} -> exit {r.returncode}: {out!r} {r.stderr!r}")
    return out


def _numsub(port, sub, topic):
    reply = redis_command(port, "PUBSUB", sub, topic)
    if not (isinstance(reply, list) and len(reply) == 2 and reply[0] == topic.encode()):
        raise AssertionError(f"PUBSUB {sub} {topic} -> {reply!r}")
    return reply[1]


def pubsub_numsub(port, topic):
    """Subscribers of channel `topic` (SUBSCRIBE) on the Redis at `port`."""
    return _numsub(port, "NUMSUB", topic)


def pubsub_shardnumsub(port, topic):
    """Subscribers of shard channel `topic` (SSUBSCRIBE) on the Redis at `port`."""
    return _numsub(port, "SHARDNUMSUB", topic)


def wait_numsub(port, topic, want, timeout=5.0, sharded=False):
    """Polls (SHARD)NUMSUB until it equals `want` or `timeout` passes; returns the last count."""
    fn = pubsub_shardnumsub if sharded else pubsub_numsub
    deadline = time.monotonic() + timeout
    while True:
        try:
            n = fn(port, topic)
        except (OSError, RespError):
            n = None
        if n == want or time.monotonic() >= deadline:
            return n
        time.sleep(0.02)


# -- NATS -------------------------------------------------------------------------------------
class NatsServer(_Process):
    """nats-server with its HTTP monitoring on a second loopback port (for /connz?subs=1)."""

    name = "nats"

    def __init__(self, port=None):
        super().__init__(port)
        self.monitor_port = free_port()

    def argv(self):
        return [find_binary("nats-server"), "-a", "127.0.0.1", "-p", str(self.port),
                "-m", str(self.monitor_port)]

    def probe(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as s:
            s.settimeout(1.0)
            if not _recv_line(s).startswith(b"INFO "):
                return False
        # The monitor listener comes up first, but check it answers too.
        return self.monitor_get("/varz")["port"] == self.port

    def url(self):
        return f"nats://127.0.0.1:{self.port}"

    def monitor_get(self, path):
        """GET `path` on the monitoring port; the JSON body parsed."""
        with socket.create_connection(("127.0.0.1", self.monitor_port), timeout=IO_TIMEOUT_S) as s:
            s.settimeout(IO_TIMEOUT_S)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise AssertionError(f"GET {path} on the NATS monitor: {head[:100]!r}")
        if b"chunked" in head.lower():
            body = _dechunk(body)
        return json.loads(body)

    def subscriptions(self):
        """{subject: number of client subscriptions} over every client connection."""
        counts = {}
        for c in self.monitor_get("/connz?subs=1&limit=1024").get("connections", []):
            for subject in c.get("subscriptions_list", []) or []:
                counts[subject] = counts.get(subject, 0) + 1
        return counts

    def connections(self):
        return self.monitor_get("/connz")["num_connections"]


def _dechunk(body):
    out = b""
    while body:
        size_line, _, body = body.partition(b"\r\n")
        n = int(size_line.split(b";")[0], 16)
        if n == 0:
            break
        out, body = out + body[:n], body[n + 2:]
    return out


def nats_publish(port, subject, payload, timeout=IO_TIMEOUT_S):
    """Publishes `payload` (bytes or str) on `subject` from a fresh raw connection:
    INFO <- ; CONNECT {"verbose":false} ; PUB subject len ; PING ; <- PONG. Raises on -ERR."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(timeout)
        buf = bytearray()
        info = _recv_line(s, buf)
        if not info.startswith(b"INFO "):
            raise AssertionError(f"NATS greeting is not INFO: {info!r}")
        s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\n'
                  + b"PUB %s %d\r\n%s\r\nPING\r\n" % (subject.encode(), len(payload), payload))
        while True:
            line = _recv_line(s, buf)
            if line == b"PONG":
                return
            if line.startswith(b"-ERR"):
                raise AssertionError(f"NATS PUB {subject}: {line!r}")
            if line == b"PING":
                s.sendall(b"PONG\r\n")
            # +OK (verbose) or a late INFO: ignore.


def nats_publish_many(port, messages, timeout=IO_TIMEOUT_S):
    """Publishes every (subject, payload) from one raw connection, then waits for the PONG to a
    final PING (so the server has processed them all). Raises on -ERR."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(timeout)
        buf = bytearray()
        info = _recv_line(s, buf)
        if not info.startswith(b"INFO "):
            raise AssertionError(f"NATS greeting is not INFO: {info!r}")
        parts = [b'CONNECT {"verbose":false,"pedantic":false}\r\n']
        for subject, payload in messages:
            data = payload.encode("utf-8") if isinstance(payload, str) else payload
            parts.append(b"PUB %s %d\r\n%s\r\n" % (subject.encode(), len(data), data))
        parts.append(b"PING\r\n")
        s.sendall(b"".join(parts))
        while True:
            line = _recv_line(s, buf)
            if line == b"PONG":
                return
            if line.startswith(b"-ERR"):
                raise AssertionError(f"NATS PUB: {line!r}")
            if line == b"PING":
                s.sendall(b"PONG\r\n")


def start_redis(testcase, port=None):
    """A Redis for `testcase`, killed in cleanup (its log tail printed when the test failed)."""
    return _start(testcase, RedisServer(port))


def start_nats(testcase, port=None):
    return _start(testcase, NatsServer(port))


def _start(testcase, server):
    testcase.addCleanup(_cleanup, testcase, server)
    return server.start()


def _cleanup(testcase, server):
    server.stop()
    try:
        result = testcase._outcome.result
        failed = any(getattr(t, "test_case", t) is testcase for t, _ in result.failures + result.errors)
    except AttributeError:
        failed = True
    if failed:
        print("\n" + server.log_tail())
    if isinstance(server, RedisServer):
        shutil.rmtree(server.dir, ignore_errors=True)
