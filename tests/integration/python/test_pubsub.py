"""Pub/sub on /ws against the real binary (issue 6): fan-out to many subscribers on several
workers, exactly once and in order with the data verbatim; acks with seq/delivered; unsub;
every request error keeps the connection usable; slow-consumer policies (disconnect, drop,
conflate, per-prefix); recovery from history with `since`; the pubsub metrics; closing a
connection drops its subscriptions."""
import json
import time
import unittest

import ringgate_harness as rh

# Valid JSON texts that must come back byte for byte (whitespace inside a value included).
TRICKY = [
    '{"nested":{"a":[1,2,{"b":null}],"c":true,"d":{"e":{"f":[[]]}}},"s":"x"}',
    '"unicode: \\u00e9\\u4e2d\\ud83d\\ude00 and raw \u00e9\u4e2d\U0001F600"',
    '"esc \\"quoted\\" \\\\ back \\/ slash \\n\\t\\r\\b\\f \\u0000 end"',
    '[1,-0.5,1.5e10,-2E-3,0,-0,9007199254740993,3.141592653589793238462643,1E+2]',
    '{"a" : [ 1 , 2 ] , "b" :{ },"c":"\\u0022"}',
    '"}\\",\\"data\\":{\\"seq\\":1,\\"op\\":\\"msg\\"}"',
    'null', 'true', 'false', '0', '""', '{}', '[]', '-1.0e-300',
    '{"\u00fc\u00f1\u00ee":"\u4e2d\u6587","k":[{"x":[{"y":[{"z":"deep"}]}]}]}',
]


def nested(depth):
    return "[" * depth + "]" * depth


class PubSubCase(rh.IntegrationCase):
    def client(self, server, **kw):
        c = rh.PubSubClient(server.port, **kw)
        self.addCleanup(c.close)
        return c

    def assertAck(self, obj, rid, **fields):
        self.assertEqual(obj, {"op": "ack", "id": rid, **fields})

    def assertErr(self, obj, code, rid=None):
        """An err frame with `code`; with rid, echoing it; rid="absent": no id at all."""
        self.assertEqual(obj.get("op"), "err", obj)
        self.assertEqual(obj.get("code"), code, obj)
        self.assertIsInstance(obj.get("message", ""), str, obj)
        if rid == "absent":
            self.assertNotIn("id", obj, obj)
        elif rid is not None:
            self.assertEqual(obj.get("id"), rid, obj)

    def assertMsg(self, raw, obj, topic, seq, data_raw):
        self.assertEqual(obj.get("op"), "msg", obj)
        self.assertEqual(obj.get("topic"), topic, obj)
        self.assertEqual(obj.get("seq"), seq, obj)
        self.assertIn(b'"data":' + data_raw.encode("utf-8"), raw, "data not verbatim")
        self.assertEqual(obj.get("data"), json.loads(data_raw))

    def assertStillUsable(self, c):
        rid = c.request("ping")
        raw, obj = c.recv()
        self.assertAck(obj, rid)


class FanoutTest(PubSubCase):
    SUBSCRIBERS = 16
    MESSAGES = 200

    def fanout(self, workers):
        server = rh.start_server(self, "--workers", str(workers), "--client-publish", "on")
        subs = [self.client(server) for _ in range(self.SUBSCRIBERS)]
        for c in subs:
            rid = c.request("sub", topic="fan.out")
            self.assertAck(c.reply(rid), rid, seq=0)
        pub = self.client(server)
        datas = [TRICKY[i % len(TRICKY)] for i in range(self.MESSAGES)]
        ids = [pub.send_pub("fan.out", d) for d in datas]
        for i, rid in enumerate(ids):
            self.assertAck(pub.reply(rid), rid, seq=i + 1, delivered=self.SUBSCRIBERS)
        for k, c in enumerate(subs):
            for i, d in enumerate(datas):
                with self.subTest(subscriber=k, seq=i + 1):
                    raw, obj = c.recv()
                    self.assertMsg(raw, obj, "fan.out", i + 1, d)
        time.sleep(0.3)
        for k, c in enumerate(subs):
            self.assertEqual(c.quiet(0.01), [], f"subscriber {k}: more than {self.MESSAGES} frames")
        self.assertEqual(pub.quiet(0.01), [], "the publisher is not a subscriber")
        m = server.wait_metrics(lambda m: m.get("ringgate_pubsub_published_total", source="ws")
                                >= self.MESSAGES)
        self.assertEqual(m.get("ringgate_pubsub_subscriptions"), self.SUBSCRIBERS)
        self.assertEqual(m.get("ringgate_pubsub_published_total", source="ws"), self.MESSAGES)

    def test_fanout_2_workers(self):
        self.fanout(2)

    def test_fanout_4_workers(self):
        self.fanout(4)

    def test_data_field_first_and_unknown_fields_ignored(self):
        server = rh.start_server(self, "--workers", "2", "--client-publish", "on")
        sub, pub = self.client(server), self.client(server)
        sub.sub("order")
        pub.send_text('{"data" : {"k":[1, 2]},"extra":{"x":1},"topic":"order","id":5,"op":"pub"}')
        self.assertAck(pub.reply(5), 5, seq=1, delivered=1)
        raw, obj = sub.recv()
        self.assertMsg(raw, obj, "order", 1, '{"k":[1, 2]}')


class AckTest(PubSubCase):
    def setUp(self):
        self.server = rh.start_server(self, "--workers", "2", "--client-publish", "on",
                                      "--max-subscriptions", "3")

    def test_sub_ack_carries_the_topics_last_seq(self):
        a, pub = self.client(self.server), self.client(self.server)
        rid = a.request("sub", topic="s.q")
        self.assertAck(a.reply(rid), rid, seq=0)
        for i in range(3):
            rid = pub.send_pub("s.q", str(i))
            self.assertAck(pub.reply(rid), rid, seq=i + 1, delivered=1)
        b = self.client(self.server)
        rid = b.request("sub", topic="s.q")
        self.assertAck(b.reply(rid), rid, seq=3)
        rid = pub.send_pub("s.q", '"four"')
        self.assertAck(pub.reply(rid), rid, seq=4, delivered=2)
        for c in (a, b):
            seqs = [c.recv()[1]["seq"] for _ in range(4 if c is a else 1)]
            self.assertEqual(seqs, [1, 2, 3, 4] if c is a else [4])

    def test_unsub_stops_delivery_to_that_connection_only(self):
        a, b, pub = (self.client(self.server) for _ in range(3))
        a.sub("u.t")
        b.sub("u.t")
        rid = pub.send_pub("u.t", "1")
        self.assertAck(pub.reply(rid), rid, seq=1, delivered=2)
        self.assertEqual(a.recv()[1]["seq"], 1)
        self.assertEqual(b.recv()[1]["seq"], 1)
        rid = a.request("unsub", topic="u.t")
        self.assertAck(a.reply(rid), rid)
        rid = pub.send_pub("u.t", "2")
        self.assertAck(pub.reply(rid), rid, seq=2, delivered=1)
        raw, obj = b.recv()
        self.assertMsg(raw, obj, "u.t", 2, "2")
        self.assertEqual(a.quiet(0.3), [], "delivered after unsub")
        # A second unsub of the same topic: no longer subscribed.
        rid = a.request("unsub", topic="u.t")
        self.assertErr(a.reply(rid), "unknown_topic", rid)
        self.assertStillUsable(a)

    def test_unsub_of_a_topic_never_subscribed(self):
        c = self.client(self.server)
        rid = c.request("unsub", topic="never")
        self.assertErr(c.reply(rid), "unknown_topic", rid)
        self.assertStillUsable(c)

    def test_ping_and_id_bounds(self):
        c = self.client(self.server)
        for rid in (0, 1, 2**53 - 1):
            c.send_text('{"op":"ping","id":%d}' % rid)
            self.assertAck(c.recv()[1], rid)

    def test_max_subscriptions(self):
        c = self.client(self.server)
        for t in ("m.1", "m.2", "m.3"):
            self.assertEqual(c.sub(t)["op"], "ack")
        rid = c.request("sub", topic="m.4")
        self.assertErr(c.reply(rid), "limit_exceeded", rid)
        # Freeing a slot makes room again.
        self.assertEqual(c.unsub("m.1")["op"], "ack")
        self.assertEqual(c.sub("m.4")["op"], "ack")

    def test_subprotocol_is_selected_when_offered(self):
        c = self.client(self.server, extra_headers="Sec-WebSocket-Protocol: ringgate.v1\r\n")
        self.assertEqual(c.response.header("Sec-WebSocket-Protocol"), ["ringgate.v1"])
        self.assertStillUsable(c)
        plain = self.client(self.server)
        self.assertEqual(plain.response.header("Sec-WebSocket-Protocol"), [])


class ErrorTest(PubSubCase):
    MAX_PUBLISH = 1024

    def setUp(self):
        self.server = rh.start_server(self, "--workers", "2", "--client-publish", "on",
                                      "--max-publish-bytes", str(self.MAX_PUBLISH))
        self.c = self.client(self.server)

    def check(self, text, code, rid=None):
        self.c.send_text(text)
        raw, obj = self.c.recv()
        self.assertErr(obj, code, rid)
        self.assertStillUsable(self.c)

    def test_malformed_json(self):
        for text in ('{"op":"sub",', '', 'nope', '\ufeff', '[]', '42', '"ping"', 'null',
                     '{"op":"ping","id":1}x', '{"op":"ping","id":1,}', '{"op":"ping" "id":1}'):
            with self.subTest(text=text):
                self.c.send_text(text)
                obj = self.c.recv()[1]
                self.assertErr(obj, "bad_request")
                # The id may be echoed when the parser got to it before the error.
                if '"id":1' in text:
                    self.assertEqual(obj.get("id", 1), 1, obj)
                else:
                    self.assertNotIn("id", obj, obj)
                self.assertStillUsable(self.c)
        m = self.server.wait_metrics(lambda m: m.get("ringgate_pubsub_errors_total",
                                                      code="bad_request") >= 11)
        self.assertGreaterEqual(m.get("ringgate_pubsub_errors_total", code="bad_request"), 11)

    def test_unusable_ids(self):
        for text in ('{"op":"ping"}', '{"op":"ping","id":"1"}', '{"op":"ping","id":-1}',
                     '{"op":"ping","id":1.5}', '{"op":"ping","id":null}', '{"op":"ping","id":[1]}',
                     '{"op":"ping","id":%d}' % 2**53, '{"op":"ping","id":%d}' % 2**60,
                     '{"op":"ping","id":%d}' % 2**64, '{"op":"ping","id":1e3}'):
            with self.subTest(text=text):
                self.check(text, "bad_request", "absent")

    def test_wrong_types_and_missing_fields_echo_the_id(self):
        for text in ('{"op":"sub","id":7,"topic":7}', '{"op":"sub","id":7}',
                     '{"op":"sub","id":7,"topic":"t","since":"x"}',
                     '{"op":"sub","id":7,"topic":"t","since":-1}',
                     '{"op":"unsub","id":7,"topic":null}', '{"op":"pub","id":7,"topic":"t"}',
                     '{"op":"pub","id":7,"data":1}'):
            with self.subTest(text=text):
                self.check(text, "bad_request", 7)
        for text in ('{"op":7,"id":7}', '{"id":7}'):
            with self.subTest(text=text):
                self.check(text, "bad_request", None)

    def test_unknown_op(self):
        self.check('{"op":"frobnicate","id":8}', "unknown_op", 8)
        self.check('{"op":"SUB","id":9,"topic":"t"}', "unknown_op", 9)

    def test_bad_topics(self):
        for topic in ("a..b", ".a", "a.", "", "sp ace", "x" * 201, "\u00e9", "a*b", "a>", "."):
            for op in ("sub", "pub", "unsub"):
                with self.subTest(topic=topic, op=op):
                    extra = ',"data":1' if op == "pub" else ""
                    self.check('{"op":"%s","id":3,"topic":%s%s}' % (op, json.dumps(topic), extra),
                               "bad_topic", 3)
        # The edges that are fine: 200 bytes, every allowed character.
        for topic in ("y" * 200, "A-Z_a.z:0/9@x=y+z-w"):
            with self.subTest(topic=topic):
                self.assertEqual(self.c.sub(topic)["op"], "ack")

    def test_big_and_precise_numbers_pass_verbatim(self):
        # Valid JSON (RFC 8259 sets no range): data is passed on byte for byte, not converted.
        for data in ('123456789012345678901234567890', '18446744073709551616', '-9223372036854775809',
                     '[1e400,-1e-400]', '0.30000000000000000000000000000001'):
            with self.subTest(data=data):
                rid = self.c.send_pub("nums", data)
                obj = self.c.reply(rid)
                self.assertEqual((obj.get("op"), obj.get("id")), ("ack", rid), obj)

    def test_nesting_depth(self):
        rid = self.c.send_pub("deep", nested(50))
        self.assertAck(self.c.reply(rid), rid, seq=1, delivered=0)
        self.check('{"op":"pub","id":4,"topic":"deep","data":%s}' % nested(100), "bad_request")
        self.check('{"op":"ping","id":4,"x":%s}' % nested(100), "bad_request")

    def test_too_large(self):
        for size in (self.MAX_PUBLISH + 100, 2 * self.MAX_PUBLISH + 100, 4 * self.MAX_PUBLISH,
                     16 * self.MAX_PUBLISH):
            with self.subTest(data_bytes=size):
                self.c.send_pub("big", '"' + "z" * size + '"', rid=6)
                raw, obj = self.c.recv()
                self.assertErr(obj, "too_large")
                if "id" in obj:
                    self.assertEqual(obj["id"], 6)
                self.assertStillUsable(self.c)
        small = '"' + "z" * (self.MAX_PUBLISH // 2) + '"'
        rid = self.c.send_pub("big", small)
        self.assertAck(self.c.reply(rid), rid, seq=1, delivered=0)

    def test_binary_frame_closes_1003(self):
        self.c.send_frame(rh.OP_BINARY, b'{"op":"ping","id":1}')
        with self.assertRaises(rh.WsClosed) as cm:
            self.c.recv()
        self.assertEqual(cm.exception.code, 1003)

    def test_client_publish_off_is_forbidden(self):
        server = rh.start_server(self, "--workers", "2")
        c, sub = self.client(server), self.client(server)
        sub.sub("f")
        rid = c.send_pub("f", '{"x":1}')
        self.assertErr(c.reply(rid), "forbidden", rid)
        self.assertStillUsable(c)
        self.assertEqual(sub.quiet(0.3), [], "a forbidden publish was delivered")
        m = server.wait_metrics(lambda m: m.get("ringgate_pubsub_errors_total", code="forbidden") >= 1)
        self.assertEqual(m.get("ringgate_pubsub_errors_total", code="forbidden"), 1)
        self.assertEqual(m.get("ringgate_pubsub_published_total", source="ws"), 0)


class RecoveryTest(PubSubCase):
    def setUp(self):
        self.server = rh.start_server(self, "--workers", "2", "--client-publish", "on",
                                      "--history", "100")
        self.pub = self.client(self.server)

    def publish(self, topic, n, first=1):
        ids = [self.pub.send_pub(topic, '{"n":%d}' % (first + i)) for i in range(n)]
        for i, rid in enumerate(ids):
            self.assertAck(self.pub.reply(rid), rid, seq=first + i, delivered=0)

    def test_since_replays_history_then_live(self):
        self.publish("hist", 5)
        c = self.client(self.server)
        rid = c.request("sub", topic="hist", since=2)
        self.assertAck(c.recv()[1], rid, seq=5)
        for seq in (3, 4, 5):
            raw, obj = c.recv()
            self.assertMsg(raw, obj, "hist", seq, '{"n":%d}' % seq)
        rid = self.pub.send_pub("hist", '{"n":6}')
        self.assertAck(self.pub.reply(rid), rid, seq=6, delivered=1)
        raw, obj = c.recv()
        self.assertMsg(raw, obj, "hist", 6, '{"n":6}')
        self.assertEqual(c.quiet(0.2), [])

    def test_since_zero_and_since_current(self):
        self.publish("h0", 4)
        c = self.client(self.server)
        rid = c.request("sub", topic="h0", since=0)
        self.assertAck(c.recv()[1], rid, seq=4)
        self.assertEqual([c.recv()[1]["seq"] for _ in range(4)], [1, 2, 3, 4])
        d = self.client(self.server)
        rid = d.request("sub", topic="h0", since=4)
        self.assertAck(d.recv()[1], rid, seq=4)
        self.assertEqual(d.quiet(0.3), [], "nothing to replay when since = the last seq")

    def test_since_behind_history_gets_a_gap_then_live_only(self):
        self.publish("far", 150)
        c = self.client(self.server)
        rid = c.request("sub", topic="far", since=1)
        self.assertAck(c.recv()[1], rid, seq=150)
        self.assertEqual(c.recv()[1], {"op": "gap", "topic": "far"})
        self.assertEqual(c.quiet(0.3), [], "no history after the gap")
        rid = self.pub.send_pub("far", '{"n":151}')
        self.assertAck(self.pub.reply(rid), rid, seq=151, delivered=1)
        raw, obj = c.recv()
        self.assertMsg(raw, obj, "far", 151, '{"n":151}')

    def test_since_within_a_full_history(self):
        self.publish("edge", 150)
        c = self.client(self.server)
        rid = c.request("sub", topic="edge", since=50)  # 51..150: exactly the last 100
        self.assertAck(c.recv()[1], rid, seq=150)
        self.assertEqual([c.recv()[1]["seq"] for _ in range(100)], list(range(51, 151)))
        self.assertEqual(c.quiet(0.2), [])


class SlowConsumerTest(PubSubCase):
    """A subscriber with a 4 KiB receive buffer that never reads, next to one that does, while
    FLOOD messages of ~2 KB are published (far more than 64 KiB outbound + kernel buffers)."""
    FLOOD = 3000
    WINDOW = 8   # publishes in flight
    LAG = 8      # the reading subscriber is never more than LAG + WINDOW messages behind
    PAD = "p" * 2000

    def start(self, *policy):
        self.server = rh.start_server(self, "--workers", "2", "--client-publish", "on",
                                      "--max-outbound-bytes", "65536", *policy)
        self.pub = self.client(self.server)

    def slow(self, topic):
        c = self.client(self.server, rcvbuf=4096)
        self.assertEqual(c.sub(topic)["op"], "ack")
        return c

    def normal(self, topic):
        c = self.client(self.server)
        self.assertEqual(c.sub(topic)["op"], "ack")
        return c

    def flood(self, topic, n, first=1, reader=None):
        """Publishes seq first..first+n-1 with WINDOW requests in flight while a thread reads
        `reader`, pacing the publisher so that this reader is never more than LAG + WINDOW
        messages (~33 KB) behind (the server gives no backpressure to publishers, and a Python reader on a busy
        2-core machine could otherwise fall behind for real). Returns the VmRSS growth (KiB)."""
        collector = None
        if reader is not None:
            last = first + n - 1
            collector = rh.Collector(reader, lambda f: f and f[-1][1].get("seq") == last,
                                     timeout=20)
            collector.start()
        rss0 = rss_max = rh.vm_rss_kb(self.server.pid())
        inflight = []
        deadline = time.monotonic() + 30
        for i in range(n):
            while (collector is not None and len(collector.frames) < i - self.LAG
                   and collector.is_alive() and time.monotonic() < deadline):
                time.sleep(0.0002)
            inflight.append(self.pub.send_pub(topic, '{"i":%d,"pad":"%s"}' % (first + i, self.PAD)))
            if len(inflight) >= self.WINDOW:
                rid = inflight.pop(0)
                ack = self.pub.reply(rid)
                self.assertEqual((ack.get("op"), ack.get("id")), ("ack", rid), ack)
            if i % 100 == 0:
                rss_max = max(rss_max, rh.vm_rss_kb(self.server.pid()))
        for rid in inflight:
            ack = self.pub.reply(rid)
            self.assertEqual((ack.get("op"), ack.get("id")), ("ack", rid), ack)
        self.assertEqual(ack.get("seq"), first + n - 1, ack)
        if collector is not None:
            collector.join(25)
            self.assertIsNone(collector.error)
            self.assertIsNone(collector.closed, "the reading subscriber was closed")
            seqs = [o.get("seq") for o in rh.msgs_of(collector.frames, topic)]
            if len(collector.frames) != n:
                m = self.server.metrics()
                missing = sorted(set(range(first, first + n)) - set(seqs))
                self.fail(f"the reading subscriber got {len(collector.frames)} of {n} frames; "
                          f"missing seqs {missing[:10]}...; gaps: "
                          f"{[i for i, (_, o) in enumerate(collector.frames) if o.get('op') == 'gap']}; "
                          f"dropped slow/conflated/ring: "
                          f"{[m.get('ringgate_pubsub_dropped_total', reason=r) for r in ('slow_consumer', 'conflated', 'ring_full')]}")
            self.assertEqual(seqs, list(range(first, first + n)), "the reading subscriber")
        return max(rss_max, rh.vm_rss_kb(self.server.pid())) - rss0

    def read_until(self, c, pred, timeout=20):
        """Frames of `c` until pred(obj) holds for one; (frames, WsClosed or None)."""
        frames = []
        deadline = time.monotonic() + timeout
        try:
            while True:
                raw, obj = c.recv(max(0.0, deadline - time.monotonic()))
                frames.append(obj)
                if pred(obj):
                    return frames, None
        except rh.WsClosed as e:
            return frames, e
        except TimeoutError:
            self.fail(f"timed out; last frames: {[f.get('seq', f) for f in frames[-5:]]}")

    def assertRuns(self, frames, topic, conflated=False):
        """msg seqs strictly increase; consecutive unless a gap came first (or conflated)."""
        prev, after_gap, seqs = 0, True, []
        for o in frames:
            if o.get("op") == "gap":
                self.assertEqual(o, {"op": "gap", "topic": topic})
                after_gap = True
                continue
            self.assertEqual((o.get("op"), o.get("topic")), ("msg", topic), o)
            seq = o["seq"]
            self.assertGreater(seq, prev, f"out of order after {prev}")
            if not after_gap and not conflated:
                self.assertEqual(seq, prev + 1, "a hole without a gap")
            prev, after_gap = seq, False
            seqs.append(seq)
        return seqs

    def test_disconnect_policy(self):
        self.start()
        slow, normal = self.slow("flood"), self.normal("flood")
        growth = self.flood("flood", self.FLOOD, reader=normal)
        self.assertLess(growth, 30 * 1024, "VmRSS grew by more than 30 MB")
        frames, closed = self.read_until(slow, lambda o: False)
        self.assertIsNotNone(closed, "the slow consumer was not closed")
        if closed.code != 1006:
            self.assertEqual(closed.code, 4100, closed)
        seqs = self.assertRuns(frames, "flood")
        self.assertLess(len(seqs), self.FLOOD)
        if seqs:
            self.assertEqual(seqs, list(range(1, len(seqs) + 1)))
        m = self.server.wait_metrics(
            lambda m: m.get("ringgate_pubsub_slow_consumer_closes_total") >= 1)
        self.assertEqual(m.get("ringgate_pubsub_slow_consumer_closes_total"), 1)
        self.assertStillUsable(normal)

    def test_drop_policy(self):
        self.start("--slow-consumer", "drop")
        slow, normal = self.slow("drop.t"), self.normal("drop.t")
        growth = self.flood("drop.t", self.FLOOD, reader=normal)
        self.assertLess(growth, 30 * 1024, "VmRSS grew by more than 30 MB")
        m = self.server.wait_metrics(
            lambda m: m.get("ringgate_pubsub_dropped_total", reason="slow_consumer") > 0)
        self.assertGreater(m.get("ringgate_pubsub_dropped_total", reason="slow_consumer"), 0)
        self.assertEqual(m.get("ringgate_pubsub_slow_consumer_closes_total"), 0)
        frames, closed = self.read_until(slow, lambda o: o.get("op") == "gap")
        self.assertIsNone(closed, "drop policy must not close")
        last = self.FLOOD + 10
        self.flood("drop.t", 10, first=self.FLOOD + 1)
        more, closed = self.read_until(slow, lambda o: o.get("seq") == last)
        self.assertIsNone(closed, "drop policy must not close")
        seqs = self.assertRuns(frames + more, "drop.t")
        self.assertEqual(seqs[-1], last)
        self.assertLess(len(seqs), last)
        self.assertEqual(seqs[-10:], list(range(self.FLOOD + 1, last + 1)), "live after the gap")

    def read_quiet(self, c, silence=0.5, timeout=20):
        """Frames of `c` until none comes for `silence` seconds; (frames, WsClosed or None)."""
        frames = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                frames.append(c.recv(silence)[1])
        except TimeoutError:
            return frames, None
        except rh.WsClosed as e:
            return frames, e
        self.fail(f"still receiving after {timeout} s")

    def assertConflated(self, frames, topic, last):
        """Increasing seqs ending with `last`, with many of them conflated away. (How many get
        through depends on how much the kernel's socket buffers absorb, which grows with time as
        TCP autotunes them: on a slow, sanitized run a second long run can get through, so only
        "many fewer than sent" is a stable check.)"""
        seqs = self.assertRuns(frames, topic, conflated=True)
        self.assertEqual(seqs[-1], last, "the latest message is kept")
        runs = [s for i, s in enumerate(seqs) if i == 0 or s != seqs[i - 1] + 1]
        self.assertGreater(len(runs), 1, "nothing was conflated")
        self.assertLess(len(seqs), last - last // 10, f"not conflated enough: runs start at {runs[:20]}")
        return seqs

    def test_conflate_policy(self):
        self.start("--slow-consumer", "conflate")
        slow, normal = self.slow("cf"), self.normal("cf")
        growth = self.flood("cf", self.FLOOD, reader=normal)
        self.assertLess(growth, 30 * 1024, "VmRSS grew by more than 30 MB")
        frames, closed = self.read_quiet(slow)
        self.assertIsNone(closed, "conflate policy must not close")
        self.assertConflated(frames, "cf", self.FLOOD)
        self.flood("cf", 1, first=self.FLOOD + 1)
        frames, closed = self.read_quiet(slow)
        self.assertEqual([o.get("seq") for o in frames], [self.FLOOD + 1], "live after catching up")
        m = self.server.wait_metrics(
            lambda m: m.get("ringgate_pubsub_dropped_total", reason="conflated") > 0)
        self.assertGreater(m.get("ringgate_pubsub_dropped_total", reason="conflated"), 0)
        self.assertEqual(m.get("ringgate_pubsub_slow_consumer_closes_total"), 0)

    def test_policy_by_topic_prefix(self):
        self.start("--slow-consumer", "ticker.=conflate")
        n = 2000
        conflated, closed_one = self.slow("ticker.x"), self.slow("tickerx")
        self.flood("ticker.x", n, reader=self.normal("ticker.x"))
        self.flood("tickerx", n, reader=self.normal("tickerx"))
        frames, closed = self.read_until(closed_one, lambda o: False)
        self.assertIsNotNone(closed, "tickerx is not under ticker.: default disconnect")
        frames, closed = self.read_quiet(conflated)
        self.assertIsNone(closed, "ticker.x is conflated, not closed")
        self.assertConflated(frames, "ticker.x", n)
        m = self.server.wait_metrics(
            lambda m: m.get("ringgate_pubsub_slow_consumer_closes_total") >= 1)
        self.assertEqual(m.get("ringgate_pubsub_slow_consumer_closes_total"), 1)
        self.assertGreater(m.get("ringgate_pubsub_dropped_total", reason="conflated"), 0)


class MetricsTest(PubSubCase):
    NAMES = ("ringgate_pubsub_subscriptions", "ringgate_pubsub_topics",
             "ringgate_pubsub_deliveries_total", "ringgate_pubsub_delivery_latency_seconds_count",
             "ringgate_pubsub_slow_consumer_closes_total", "ringgate_pubsub_gaps_total",
             "ringgate_pubsub_ring_overflows_total")

    def test_metrics_exist_and_move(self):
        server = rh.start_server(self, "--workers", "2", "--client-publish", "on")
        m0 = server.metrics()
        for name in self.NAMES:
            self.assertTrue(m0.has(name), name)
        for source in ("ws", "api"):
            self.assertTrue(m0.has("ringgate_pubsub_published_total", source=source), source)
        for reason in ("slow_consumer", "conflated", "ring_full"):
            self.assertTrue(m0.has("ringgate_pubsub_dropped_total", reason=reason), reason)
        self.assertEqual(m0.get("ringgate_pubsub_subscriptions"), 0)
        subs = [self.client(server) for _ in range(6)]
        for i, c in enumerate(subs):
            c.sub("mt.a")
            if i % 2:
                c.sub("mt.b")
        pub = self.client(server)
        for _ in range(10):
            pub.pub("mt.a", "1")
        for c in subs:
            self.assertEqual([c.recv()[1]["seq"] for _ in range(10)], list(range(1, 11)))
        m = server.wait_metrics(lambda m: m.get("ringgate_pubsub_deliveries_total") >= 60
                                and m.get("ringgate_pubsub_delivery_latency_seconds_count") >= 1)
        self.assertEqual(m.get("ringgate_pubsub_subscriptions"), 9)
        self.assertGreaterEqual(m.get("ringgate_pubsub_topics"), 2)
        self.assertEqual(m.get("ringgate_pubsub_published_total", source="ws"), 10)
        self.assertEqual(m.get("ringgate_pubsub_published_total", source="api"), 0)
        self.assertGreaterEqual(m.get("ringgate_pubsub_deliveries_total"), 60)
        self.assertGreaterEqual(m.get("ringgate_pubsub_delivery_latency_seconds_count"), 1)

    def test_close_removes_subscriptions(self):
        server = rh.start_server(self, "--workers", "2", "--client-publish", "on")
        clients = [self.client(server) for _ in range(8)]
        for i, c in enumerate(clients):
            c.sub("cl.%d" % (i % 3))
            c.sub("cl.all")
        m = server.wait_metrics(lambda m: m.get("ringgate_pubsub_subscriptions") == 16)
        self.assertEqual(m.get("ringgate_pubsub_subscriptions"), 16)
        for i, c in enumerate(clients):
            if i % 2:
                c.close(1000)      # clean close handshake
            else:
                c.close()          # TCP close without a close frame
        m = server.wait_metrics(lambda m: m.get("ringgate_connections_active") == 0)
        self.assertEqual(m.get("ringgate_connections_active"), 0)
        m = server.wait_metrics(lambda m: m.get("ringgate_pubsub_subscriptions") == 0)
        self.assertEqual(m.get("ringgate_pubsub_subscriptions"), 0)
        # Publishing now reaches nobody.
        pub = self.client(server)
        self.assertEqual(pub.pub("cl.all", "1"), {"op": "ack", "id": 1, "seq": 1, "delivered": 0})


class CleanExitTest(PubSubCase):
    def test_drain_with_subscribers_history_and_slow_consumers_exits_clean(self):
        """SIGTERM while subscriptions, history frames, queued references and cross-worker answers
        are alive: exit code 0 and no sanitizer report (under the ASan build this is the leak check
        for frames and requests left in queues and mailboxes)."""
        server = rh.start_server(self, "--workers", "2", "--client-publish", "on", "--history", "5",
                                 "--max-outbound-bytes", "8192")
        subs = [self.client(server) for _ in range(6)]
        for i, c in enumerate(subs):
            c.sub("x.%d" % (i % 3))
        slow = self.client(server, rcvbuf=4096)
        slow.sub("x.0")
        pub = self.client(server)
        for n in range(300):
            pub.request("pub", topic="x.%d" % (n % 3), data={"n": n, "pad": "p" * 500})
        server.wait_metrics(lambda m: m.get("ringgate_pubsub_published_total", source="ws") == 300, timeout=10)
        code = server.stop(timeout=15)
        log = server.stderr_text()
        self.assertEqual(code, 0, log[-2000:])
        self.assertNotIn("Sanitizer", log)
        self.assertNotIn("runtime error", log)


if __name__ == "__main__":
    unittest.main(verbosity=2)
