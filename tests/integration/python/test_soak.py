"""Soak test (issue 13): the real binary with --workers 2 under mixed honest traffic and attackers
for RINGGATE_SOAK_SECONDS (default 60, 20 against a sanitized binary; hours by hand), then checks
that nothing was lost or leaked once everyone has gone:
- echo clients (plain /echo, random sizes and opcodes, every payload verified, reconnecting);
- pub/sub fan-out: publishers with acks, long-lived subscribers and subscribers that come and go;
  every acked publish reaches every subscriber that was subscribed before it (its sub ack's seq is
  lower), in order and without a hole;
- TLS clients reconnecting with session resumption (Python ssl sessions; most reconnects resumed);
- plain churn: connect, upgrade, close cleanly or drop, refused upgrades;
- attackers from hostile_clients.py, one class at a time (ping floods, tiny frames, slow readers,
  slow subscribers, slowloris on the plain and the TLS port), each bounded in time.
At the end: every acked message delivered; ringgate_connections_active, ringgate_outbound_chunks
and process_open_fds back to their values before the soak; RSS within 10 % of its value after the
warm-up phase (not checked against an ASan build: its quarantine keeps freed memory resident).

Run for hours:  RINGGATE_SOAK_SECONDS=7200 RINGGATE_BIN=build/release/src/app/ringgate \\
                /usr/bin/python3 tests/integration/python/test_soak.py
"""
import json
import os
import random
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
import traceback
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringgate_harness as rh  # noqa: E402
import hostile_clients as hc  # noqa: E402

T = 10.0
TOPICS = ("soak.a", "soak.b", "soak.c")
CHUNKS_SLACK = 64        # outbound chunks a quiet worker may keep (control frames, shared frames)
RSS_TOLERANCE = 0.10
# The RSS reaches its working size (allocator pages of every size class on every thread, topic
# histories, session caches) only after a while: measured 22.9 MiB after a 12 s warm-up, then a
# plateau of about 25 MiB whether the soak ran 60 s or 150 s. The baseline comes after this.
WARM_UP_S = 30.0


def sanitized(binary):
    """An ASan build (its quarantine keeps freed memory resident; it is also several times slower)."""
    with open(binary, "rb") as f:
        return b"__asan_init" in f.read()


def soak_seconds(binary):
    value = os.environ.get("RINGGATE_SOAK_SECONDS")
    if value:
        return float(value)
    return 20.0 if sanitized(binary) else 60.0


class Snapshot:
    """The leak-check values, from the gateway's own gauges when it exports them; otherwise from
    /proc (marked `source`), so the test still means something against an older binary."""

    def __init__(self, server):
        m = server.metrics()
        pid = server.pid()
        self.connections = m.get("ringgate_connections_active")
        self.chunks = m.get("ringgate_outbound_chunks") if m.has("ringgate_outbound_chunks") else None
        if m.has("process_open_fds"):
            self.fds, self.fds_source = m.get("process_open_fds"), "process_open_fds"
        else:  # fallback: /proc/PID/fd (includes the fd the scrape itself used, closed by now)
            self.fds, self.fds_source = len(os.listdir(f"/proc/{pid}/fd")), "/proc/PID/fd"
        if m.has("process_resident_memory_bytes"):
            self.rss, self.rss_source = m.get("process_resident_memory_bytes"), "process_resident_memory_bytes"
        else:  # fallback: VmRSS
            self.rss, self.rss_source = rh.vm_rss_kb(pid) * 1024, "VmRSS"

    def __repr__(self):
        return (f"connections={self.connections:.0f} chunks={self.chunks} fds={self.fds:.0f} "
                f"({self.fds_source}) rss={self.rss / 1048576:.1f} MiB ({self.rss_source})")


class Load:
    """Shared state of the honest clients: a stop flag, counters and the first failure."""

    def __init__(self):
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.errors = []
        self.counts = {}
        self.acked = {t: [] for t in TOPICS}     # acked seqs per topic
        self.periods = []                        # (topic, sub seq, [received seqs], still_subscribed)
        self.resumed = [0, 0]                    # [reconnects, resumed]

    def count(self, what, n=1):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + n

    def fail(self, who, e):
        with self.lock:
            where = traceback.extract_tb(e.__traceback__)[-3:]
            self.errors.append(f"{who}: {type(e).__name__}: {e} at "
                               + " <- ".join(f"{f.name}:{f.lineno}" for f in reversed(where)))
        self.stop.set()


def run_thread(load, who, body):
    def main():
        try:
            body()
        except BaseException as e:  # the test reports it
            load.fail(who, e)
    t = threading.Thread(target=main, name=who, daemon=True)
    t.start()
    return t


# -- honest clients ---------------------------------------------------------------------------
def echo_client(load, port, seed):
    rng = random.Random(seed)
    while not load.stop.is_set():
        ws = rh.RawWs(port, "/echo")
        try:
            for _ in range(rng.randint(10, 60)):
                if load.stop.is_set():
                    break
                size = rng.choice((0, 1, 125, 126, 1000, 65535, 65536, 200000))
                if rng.random() < 0.5:
                    op, payload = rh.OP_BINARY, rng.randbytes(size)
                else:
                    op, payload = rh.OP_TEXT, ("é" * (size // 2)).encode()
                ws.send(op, payload)
                got = ws.recv_frame()
                if got != (True, op, payload):
                    raise AssertionError(f"echo of {len(payload)} bytes came back as "
                                         f"{got[1]}/{len(got[2])} bytes")
                load.count("echo")
            ws.send(rh.OP_CLOSE, rh.close_payload(1000))
            if ws.recv_close() != 1000:
                raise AssertionError("echo close not answered with 1000")
        finally:
            ws.close()


def publisher(load, port, seed):
    rng = random.Random(seed)
    c = rh.PubSubClient(port)
    try:
        n = 0
        while not load.stop.is_set():
            topic = rng.choice(TOPICS)
            ids = [(c.send_pub(topic, json.dumps({"s": seed, "n": n + i, "pad": "p" * rng.randint(0, 2000)})),
                    topic) for i in range(8)]
            n += 8
            for rid, t in ids:
                ack = c.reply(rid)
                if ack.get("op") != "ack":
                    raise AssertionError(f"publish refused: {ack}")
                with load.lock:
                    load.acked[t].append(ack["seq"])
                load.count("published")
            time.sleep(rng.uniform(0.0, 0.02))  # a publisher, not a flood: stays an honest client
    finally:
        c.close()


def subscribe_period(load, c, topic, until):
    """One subscription of `topic` until `until()` holds; records (topic, sub seq, seqs, open)."""
    rid = c.request("sub", topic=topic)
    ack = c.reply(rid)
    if ack.get("op") != "ack":
        raise AssertionError(f"sub refused: {ack}")
    seqs = []
    record = [topic, ack["seq"], seqs, True]
    with load.lock:
        load.periods.append(record)

    def take(obj):
        if obj.get("op") == "msg" and obj.get("topic") == topic:
            seqs.append(obj["seq"])
            load.count("delivered")
        elif obj.get("op") not in ("msg",):
            raise AssertionError(f"unexpected frame on a subscriber: {obj}")

    while not until():
        try:
            take(c.recv(0.2)[1])
        except TimeoutError:
            continue
    return record, take


def steady_subscriber(load, port, topic, done):
    """Subscribed for the whole soak; reads until the publishers stopped and `done` is set."""
    c = rh.PubSubClient(port)
    try:
        _, take = subscribe_period(load, c, topic, done.is_set)
        for raw, obj in c.quiet(1.0):   # the last deliveries after the publishers' final acks
            take(obj)
    finally:
        c.close()


def churning_subscriber(load, port, seed):
    """Subscribes for a random while, unsubscribes, sometimes reconnects."""
    rng = random.Random(seed)
    while not load.stop.is_set():
        c = rh.PubSubClient(port)
        try:
            for _ in range(rng.randint(1, 4)):
                if load.stop.is_set():
                    break
                end = time.monotonic() + rng.uniform(0.2, 2.0)
                record, take = subscribe_period(load, c, rng.choice(TOPICS),
                                                lambda: time.monotonic() > end or load.stop.is_set())
                rid = c.request("unsub", topic=record[0])
                while True:
                    _, obj = c.recv()
                    if obj.get("op") == "ack" and obj.get("id") == rid:
                        break
                    take(obj)
                record[3] = False
        finally:
            c.close()


def tls_client(load, port):
    ctx = rh.client_context()
    session = None
    while not load.stop.is_set():
        sock = rh.tls_connect(port, ctx, session=session)
        try:
            ws = rh.RawWs(None, sock=sock)
            payload = os.urandom(random.randint(1, 70000))
            ws.send(rh.OP_BINARY, payload)
            if ws.recv_frame() != (True, rh.OP_BINARY, payload):
                raise AssertionError("TLS echo mismatch")
            if session is not None:
                with load.lock:
                    load.resumed[0] += 1
                    load.resumed[1] += int(sock.session_reused)
            session = sock.session  # TLS 1.3: the ticket arrived with the echo
            ws.send(rh.OP_CLOSE, rh.close_payload(1000))
            ws.recv_close()
            load.count("tls")
        finally:
            sock.close()


def churn_client(load, port, seed):
    rng = random.Random(seed)
    while not load.stop.is_set():
        kind = rng.random()
        if kind < 0.2:   # a refused upgrade
            resp = rh.http_request(port, rh.upgrade_request("/no-such-route"))
            if resp.status != 404:
                raise AssertionError(f"refusal: {resp!r}")
        else:
            ws = rh.RawWs(port, "/echo")
            if kind < 0.6:
                ws.send(rh.OP_CLOSE, rh.close_payload(1000))
                ws.recv_close()
                ws.close()
            else:        # vanish without a close frame (sometimes with a reset)
                if kind < 0.8:
                    ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                ws.close()
        load.count("churn")


# -- attackers --------------------------------------------------------------------------------
def attackers(load, server, seconds, warm_up):
    """One attack class at a time, round robin, each for up to `seconds`, then closed. warm_up:
    every class twice and at least WARM_UP_S in all, then stop the whole load."""
    started = time.monotonic()
    plain, tls = server.port, server.tls_port
    makers = [
        lambda: hc.PingFlood(plain, count=40000, duration=seconds),
        lambda: hc.TinyFrameFlood(plain, count=40000, duration=seconds),
        lambda: hc.SlowReader(plain, count=64, duration=seconds),
        lambda: hc.SlowSubscriber(plain, topic="soak.attack", count=2000, duration=seconds),
        lambda: hc.Slowloris(plain, hc.slow_head(), conns=20, interval=0.25, duration=seconds,
                             until_all_closed=False),
        lambda: hc.Slowloris(tls, hc.client_hello(), conns=10, interval=0.25, duration=seconds,
                             until_all_closed=False),
    ]
    i = 0
    while not load.stop.is_set():
        if warm_up and i == 2 * len(makers):
            load.stop.wait(max(0.0, started + WARM_UP_S - time.monotonic()))
            load.stop.set()
            break
        attack = makers[i % len(makers)]()
        i += 1
        with attack:
            attack.start()
            attack.wait(attack.duration + 5)
        # An attacker cut off by the gateway may end in an error: that is the gateway's right.
        load.count("attacks" if attack.error is None else f"attack errors ({attack.name})")


class SoakTest(rh.IntegrationCase):
    def setUp(self):
        tmp = tempfile.mkdtemp(prefix="ringgate-soak-")
        self.addCleanup(shutil.rmtree, tmp, True)
        cert, key = rh.make_cert(tmp, "soak")
        self.binary = rh.ringgate_bin()
        self.server = rh.start_server(self, "--workers", "2", "--client-publish", "on",
                                      "--listen-tls", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key,
                                      "--handshake-timeout", "5", "--close-timeout", "2",
                                      "--proxy-timeout", "3")

    def run_load(self, seconds, warm_up=False):
        """Runs every client kind for `seconds` (warm_up: until each attack class ran twice and
        WARM_UP_S passed: the RSS baseline needs the working size); returns the Load after all
        have stopped."""
        load, port = Load(), self.server.port
        done = threading.Event()   # the steady subscribers stop after the publishers did
        steady = [run_thread(load, f"steady-{t}", lambda t=t: steady_subscriber(load, port, t, done))
                  for t in TOPICS]
        rh.wait_until(lambda: len(load.periods) >= len(TOPICS) or load.stop.is_set(), T)
        threads = [run_thread(load, f"echo-{i}", lambda i=i: echo_client(load, port, i)) for i in range(2)]
        threads += [run_thread(load, f"pub-{i}", lambda i=i: publisher(load, port, i)) for i in range(2)]
        threads += [run_thread(load, f"sub-{i}", lambda i=i: churning_subscriber(load, port, 100 + i))
                    for i in range(2)]
        threads += [run_thread(load, "tls", lambda: tls_client(load, self.server.tls_port)),
                    run_thread(load, "churn", lambda: churn_client(load, port, 7))]
        threads.append(run_thread(load, "attackers", lambda: attackers(
            load, self.server, 3.0, warm_up)))
        load.stop.wait(seconds)
        load.stop.set()
        for t in threads:
            t.join(30)
        done.set()
        for t in steady:
            t.join(30)
        alive = [t.name for t in threads + steady if t.is_alive()]
        self.assertEqual(alive, [], "clients still running 30 s after the stop")
        self.assertEqual(load.errors, [], "honest clients failed")
        return load

    def check_deliveries(self, load):
        for topic, sub_seq, seqs, still in load.periods:
            where = f"subscriber of {topic} from seq {sub_seq}"
            self.assertEqual(seqs, list(range(sub_seq + 1, sub_seq + 1 + len(seqs))),
                             f"{where}: out of order or a hole")
            if still:  # subscribed until after the last ack: every acked publish after its sub
                want = sorted(s for s in load.acked[topic] if s > sub_seq)
                self.assertEqual(seqs, want, f"{where}: acked messages not delivered")

    def settle(self, base):
        """Waits until the gateway is back to `base` (connections gone, queues freed)."""
        def back():
            now = Snapshot(self.server)
            ok = (now.connections == base.connections and now.fds == base.fds
                  and (base.chunks is None or abs(now.chunks - base.chunks) <= CHUNKS_SLACK))
            return now if ok else None
        return rh.wait_until(back, 20, interval=0.25) or Snapshot(self.server)

    def test_soak(self):
        seconds = soak_seconds(self.binary)
        # Warm-up: every client kind and every attack class twice, so allocator arenas, chunk
        # pools, topic histories (the attack topic's too), TLS session caches and kernel socket
        # memory reach their working size; the baseline (RSS included) is taken after it, once
        # everything has gone again.
        self.run_load(60, warm_up=True)
        rh.wait_until(lambda: Snapshot(self.server).connections == 0, 20, interval=0.25)
        base = Snapshot(self.server)
        self.assertEqual(base.connections, 0, f"warm-up left connections: {base}")
        load = self.run_load(seconds)
        self.check_deliveries(load)
        with load.lock:
            counts = dict(load.counts)
        for what in ("echo", "published", "delivered", "tls", "churn"):
            self.assertGreater(counts.get(what, 0), 0, f"no {what} traffic in the soak: {counts}")
        self.assertGreaterEqual(sum(v for k, v in counts.items() if k.startswith("attack")), 1,
                                f"no attack ran: {counts}")
        reconnects, resumed = load.resumed
        self.assertGreater(reconnects, 0, "no TLS reconnect")
        self.assertGreaterEqual(resumed, 0.8 * reconnects, f"TLS: {resumed} of {reconnects} resumed")

        end = self.settle(base)
        report = f"before: {base}\nafter:  {end}\ntraffic: {counts}"
        print(f"\nsoak {seconds:.0f} s\n{report}")
        self.assertEqual(end.connections, base.connections, f"connection slots leaked\n{report}")
        self.assertEqual(end.fds, base.fds, f"descriptors leaked\n{report}")
        if base.chunks is None:
            print("ringgate_outbound_chunks not exported by this binary: chunk leaks not checked")
        else:
            self.assertLessEqual(abs(end.chunks - base.chunks), CHUNKS_SLACK, f"outbound chunks leaked\n{report}")
        if sanitized(self.binary):
            print("sanitized binary: RSS not compared (ASan's quarantine keeps freed memory resident)")
            return
        # Freed memory goes back to the OS after the allocator's purge delay: allow a few seconds.
        rss = rh.wait_until(lambda: (lambda s: s if s.rss <= base.rss * (1 + RSS_TOLERANCE) else None)(
            Snapshot(self.server)), 10, interval=0.5) or Snapshot(self.server)
        self.assertLessEqual(rss.rss, base.rss * (1 + RSS_TOLERANCE),
                             f"RSS not back within {RSS_TOLERANCE:.0%} of the start\n{report}\nnow: {rss}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
