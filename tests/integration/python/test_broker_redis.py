"""Redis as the broker (issue 7) against the real binary and a real redis-server started here:
two gateway nodes share one Redis, so a /ws subscriber on node A receives what node B's clients,
node B's HTTP API and `redis-cli PUBLISH` publish (raw payloads as JSON values or strings), and
1,000 messages arrive complete and in order on both nodes; a Redis outage (broker_up 0,
`unavailable` and 503 at once, then after a restart on the same port: subscriptions restored, a
gap per topic, the reconnect counter, delivery again); both also in sharded mode (SSUBSCRIBE /
SPUBLISH, checked with PUBSUB SHARDNUMSUB); a Redis that is not there yet at start-up; the
connections per worker; --broker values that refuse to start.

BrokerScenarios holds the scenarios shared with test_broker_nats.py; a backend class supplies the
server, the --broker URL, a raw external publish and the broker's own view of subscriptions."""
import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import broker_servers as bs  # noqa: E402
import ringgate_harness as rh  # noqa: E402
from test_pubsub import PubSubCase  # noqa: E402

TOKEN = "br0ker"
WORKERS = 2
UP_TIMEOUT_S = 10.0       # a fresh gateway connecting to a running broker
RESTORE_TIMEOUT_S = 15.0  # reconnect after an outage: backoff is at most 5 s plus jitter
SEQ_MESSAGES = 1000


def fnv1a_parity(topic):
    """topic's owner with 2 workers under FNV-1a (32- or 64-bit: both bases are odd and the prime
    is odd, so the low bit is 1 ^ the low bits of all bytes)."""
    p = 1
    for b in topic.encode():
        p ^= b & 1
    return p


class BrokerScenarios:
    """Mixin for a PubSubCase. The backend class defines:
    start_broker(port=None) -> server with .port, .stop(), .start(); broker_url(server);
    raw_publish(server, topic, payload); subscribers(server, topic) -> int (the broker's count of
    subscriptions on the topic); DELIVERED_PER_SUBSCRIBER: 1 for Redis (PUBLISH's reply counts
    the subscribed connections), 0 for NATS (the ack does not know)."""

    DELIVERED_PER_SUBSCRIBER = 1

    # -- helpers ---------------------------------------------------------------------------
    def gateway(self, url, wait_up=True):
        g = rh.start_server(self, "--workers", str(WORKERS), "--client-publish", "on",
                            "--api", "127.0.0.1:0", "--api-token", TOKEN, "--broker", url)
        if wait_up:
            self.assertBrokerUp(g, 1, UP_TIMEOUT_S)
        return g

    def assertBrokerUp(self, gateway, value, timeout):
        m = gateway.wait_metrics(lambda m: m.has("ringgate_broker_up")
                                 and m.get("ringgate_broker_up") == value, timeout)
        self.assertTrue(m.has("ringgate_broker_up"), "no ringgate_broker_up in /metrics")
        self.assertEqual(m.get("ringgate_broker_up"), value,
                         f"ringgate_broker_up after {timeout}s (gateway pid {gateway.pid()})")
        return m

    def assertCleanExit(self, gateway):
        code = gateway.stop(timeout=15)
        log = gateway.stderr_text()
        self.assertEqual(code, 0, log[-2000:])
        self.assertNotIn("Sanitizer", log)
        self.assertNotIn("runtime error", log)

    def delivered(self, subscribers):
        return subscribers * self.DELIVERED_PER_SUBSCRIBER

    def wait_subscribers(self, broker, topic, want, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            n = self.subscribers(broker, topic)
            if n == want or time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        self.assertEqual(n, want, f"subscriptions to {topic!r} at the broker")

    def subscribe(self, client, topic, seq=0):
        rid = client.request("sub", topic=topic)
        self.assertAck(client.reply(rid), rid, seq=seq)

    def api_publish(self, gateway, topic, data_raw):
        api = rh.ApiClient(gateway.api_port)
        try:
            return api.publish(TOKEN, topic, data_raw)
        finally:
            api.close()

    def assertUnavailable(self, client, topic):
        """A pub while the broker is down: err unavailable, answered well under a second."""
        t0 = time.monotonic()
        rid = client.send_pub(topic, '"lost while down"')
        try:
            obj = client.reply(rid, timeout=1.0)
        except TimeoutError:
            self.fail("no reply to a pub within 1 s while the broker is down")
        elapsed = time.monotonic() - t0
        self.assertErr(obj, "unavailable", rid)
        self.assertLess(elapsed, 0.5, f"err unavailable took {elapsed:.3f}s")

    def assertApiUnavailable(self, gateway, topic):
        resp = self.api_publish(gateway, topic, '"lost while down"')
        self.assertEqual(resp.status, 503, resp)
        self.assertEqual(json.loads(resp.body).get("error"), "unavailable", resp)

    def assertFailuresDelta(self, gateway, before, delta, what=""):
        name = "ringgate_broker_publish_failures_total"
        want = before.get(name) + delta
        gateway.wait_metrics(lambda m: m.get(name) >= want, 2.0)
        time.sleep(0.1)
        m = gateway.metrics()
        self.assertEqual(m.get(name) - before.get(name), delta, f"{name} {what}")

    def collect(self, client, done, timeout):
        """Frames read from `client` until done(frames) holds or `timeout` passes."""
        frames = []
        deadline = time.monotonic() + timeout
        while not done(frames):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                frames.append(client.recv(min(left, 0.5)))
            except TimeoutError:
                continue
        return frames

    # -- scenarios -------------------------------------------------------------------------
    def scenario_cross_node(self):
        broker = self.start_broker()
        url = self.broker_url(broker)
        a, b = self.gateway(url), self.gateway(url)
        topic = "x.node"
        sa = self.client(a)
        self.subscribe(sa, topic)
        self.wait_subscribers(broker, topic, 1)
        pb = self.client(b)
        # 1. pub on node B's /ws: acked once the broker replied, seq unknown (0).
        rid = pb.send_pub(topic, '{"via":"ws","v":[1, 2]}')
        self.assertAck(pb.reply(rid, timeout=5), rid, seq=0, delivered=self.delivered(1))
        raw, obj = sa.recv(5)
        self.assertMsg(raw, obj, topic, 1, '{"via":"ws","v":[1, 2]}')
        # 2. node B's HTTP API.
        resp = self.api_publish(b, topic, '{"via":"api"}')
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(json.loads(resp.body), {"delivered": self.delivered(1), "seq": 0}, resp)
        raw, obj = sa.recv(5)
        self.assertMsg(raw, obj, topic, 2, '{"via":"api"}')
        # 3. external publishes without an envelope: one JSON value verbatim, else a JSON string.
        self.raw_publish(broker, topic, '{"via": "raw", "a" : [1, 2.50]}')
        raw, obj = sa.recv(5)
        self.assertMsg(raw, obj, topic, 3, '{"via": "raw", "a" : [1, 2.50]}')
        for seq, payload in ((4, "hello world"), (5, 'say "hi" \\ {not json'), (6, "[1, 2"),
                             (7, "GW1 not an envelope")):
            self.raw_publish(broker, topic, payload)
            raw, obj = sa.recv(5)
            self.assertEqual(obj, {"op": "msg", "topic": topic, "seq": seq, "data": payload}, raw)
            if seq == 4:
                self.assertIn(b'"data":"hello world"', raw)
        self.assertEqual(sa.quiet(0.3), [], "more frames than publishes on node A")
        self.assertEqual(pb.quiet(0.01), [], "node B's publisher is no subscriber")
        # Messages in from the broker: node A got 7 on its one subscription, node B none.
        ma = a.wait_metrics(lambda m: m.get("ringgate_broker_messages_total") >= 7)
        self.assertEqual(ma.get("ringgate_broker_messages_total"), 7)
        mb = b.metrics()
        self.assertEqual(mb.get("ringgate_broker_messages_total"), 0)
        self.assertEqual(mb.get("ringgate_broker_publish_latency_seconds_count"), 2,
                         "node B published twice (ws + api)")
        self.assertEqual(ma.get("ringgate_broker_up"), 1)
        self.sequenced(broker, a, b)

    def sequenced(self, broker, a, b):
        """SEQ_MESSAGES pubs pipelined on node B: every subscriber on both nodes gets all of
        them, seq 1, 2, 3... and data in publish order."""
        topic = "x.seq"
        subs = [self.client(a), self.client(b)]
        for c in subs:
            self.subscribe(c, topic)
        self.wait_subscribers(broker, topic, 2)
        collectors = [rh.Collector(c, lambda f: len(rh.msgs_of(f)) >= SEQ_MESSAGES, 30.0)
                      for c in subs]
        for col in collectors:
            col.start()
        pub = self.client(b)
        ids = [pub.send_pub(topic, '{"n":%d}' % i) for i in range(SEQ_MESSAGES)]
        for rid in ids:
            self.assertAck(pub.reply(rid, timeout=10), rid, seq=0, delivered=self.delivered(2))
        for node, col in zip("AB", collectors):
            col.join(35.0)
            self.assertIsNone(col.error, f"node {node}")
            self.assertIsNone(col.closed, f"node {node}")
            msgs = rh.msgs_of(col.frames)
            self.assertEqual(len(col.frames), len(msgs), f"node {node}: non-msg frames "
                             f"{[o for _, o in col.frames if o.get('op') != 'msg'][:3]}")
            self.assertEqual(len(msgs), SEQ_MESSAGES, f"node {node}: messages received")
            self.assertEqual([m["seq"] for m in msgs], list(range(1, SEQ_MESSAGES + 1)),
                             f"node {node}: seq")
            self.assertEqual([m["data"] for m in msgs], [{"n": i} for i in range(SEQ_MESSAGES)],
                             f"node {node}: data order")
            self.assertEqual({m["topic"] for m in msgs}, {topic})
        for node, c in zip("AB", subs):
            self.assertEqual(c.quiet(0.2), [], f"node {node}: frames after the last message")

    def scenario_outage(self):
        broker = self.start_broker()
        url = self.broker_url(broker)
        a, b = self.gateway(url), self.gateway(url)
        topics = ["o.%d" % i for i in range(6)]
        # More topics than workers, owned by both workers.
        self.assertEqual({fnv1a_parity(t) for t in topics}, {0, 1})
        ca, cb = self.client(a), self.client(b)
        for t in topics:
            self.subscribe(ca, t)
            self.subscribe(cb, t)
        for t in topics:
            self.wait_subscribers(broker, t, 2)
        before = {g: g.metrics() for g in (a, b)}
        for g in (a, b):
            self.assertEqual(before[g].get("ringgate_broker_up"), 1)

        broker.stop()
        for g in (a, b):
            self.assertBrokerUp(g, 0, 5.0)
        pa, pb = self.client(a), self.client(b)
        for p in (pa, pb):
            for t in topics[:2]:
                self.assertUnavailable(p, t)
        for g in (a, b):
            self.assertApiUnavailable(g, topics[0])
        # Per node: 2 pubs on /ws and 1 on the API were refused.
        for g, node in ((a, "A"), (b, "B")):
            self.assertFailuresDelta(g, before[g], 3, node)
        # A sub while the broker is down is acked and restored later.
        late = self.client(a)
        self.subscribe(late, "o.late")

        broker.start()  # same port
        for g in (a, b):
            self.assertBrokerUp(g, 1, RESTORE_TIMEOUT_S)
        for t in topics:
            self.wait_subscribers(broker, t, 2)
        self.wait_subscribers(broker, "o.late", 1)
        # Each subscriber gets exactly one gap per topic it holds, and nothing published while
        # the broker was down.
        for node, c in (("A", ca), ("B", cb)):
            frames = self.collect(c, lambda f: {o.get("topic") for _, o in f
                                                if o.get("op") == "gap"} >= set(topics), 5.0)
            frames += c.quiet(0.3)
            gaps = sorted(o["topic"] for _, o in frames if o.get("op") == "gap")
            self.assertEqual(gaps, sorted(topics), f"node {node}: gap frames")
            for raw, o in frames:
                self.assertEqual(o, {"op": "gap", "topic": o.get("topic")}, raw)
        late_frames = late.quiet(0.2)
        self.assertEqual([o for _, o in late_frames if o.get("op") != "gap"], [],
                         "the late subscriber got something other than a gap")
        for g, node in ((a, "A"), (b, "B")):
            m = g.wait_metrics(lambda m: m.get("ringgate_broker_reconnects_total")
                               > before[g].get("ringgate_broker_reconnects_total"))
            self.assertGreater(m.get("ringgate_broker_reconnects_total"),
                               before[g].get("ringgate_broker_reconnects_total"), f"node {node}")
            self.assertGreaterEqual(m.get("ringgate_broker_resubscribed_topics_total")
                                    - before[g].get("ringgate_broker_resubscribed_topics_total"),
                                    len(topics), f"node {node}: resubscribed topics")
        # Publishing works again, through the gateway and from outside, to both nodes.
        for t in topics:
            rid = pb.send_pub(t, '{"after":"%s"}' % t)
            self.assertAck(pb.reply(rid, timeout=5), rid, seq=0, delivered=self.delivered(2))
            self.raw_publish(broker, t, "raw %s" % t)
        rid = pa.send_pub("o.late", '"late"')
        self.assertAck(pa.reply(rid, timeout=5), rid, seq=0, delivered=self.delivered(1))
        for node, c in (("A", ca), ("B", cb)):
            frames = self.collect(c, lambda f: len(rh.msgs_of(f)) >= 2 * len(topics), 5.0)
            for t in topics:
                self.assertEqual([m["data"] for m in rh.msgs_of(frames, t)],
                                 [{"after": t}, "raw %s" % t], f"node {node} topic {t}")
            self.assertEqual(len(frames), 2 * len(topics), f"node {node}: extra frames")
        self.assertEqual([o["data"] for o in rh.msgs_of(late.quiet(1.0))], ["late"])
        # SIGTERM with clients subscribed and broker connections up: a clean exit (under ASan,
        # the leak check of everything the outage and restore allocated).
        for g in (a, b):
            self.assertCleanExit(g)

    def scenario_broker_absent_at_start(self):
        port = bs.free_port()
        g = self.gateway(self.broker_url_for_port(port), wait_up=False)
        self.assertBrokerUp(g, 0, 2.0)
        time.sleep(0.3)
        self.assertEqual(g.metrics().get("ringgate_broker_up"), 0, "up without a broker")
        c = self.client(g)
        self.subscribe(c, "abs.t")
        self.assertUnavailable(c, "abs.t")
        self.assertApiUnavailable(g, "abs.t")
        self.assertFailuresDelta(g, rh.Metrics(""), 2, "(ws + api while absent)")
        broker = self.start_broker(port)
        self.assertBrokerUp(g, 1, RESTORE_TIMEOUT_S)
        self.wait_subscribers(broker, "abs.t", 1)
        pub = self.client(g)
        rid = pub.send_pub("abs.t", '{"k":"v"}')
        self.assertAck(pub.reply(rid, timeout=5), rid, seq=0, delivered=self.delivered(1))
        frames = self.collect(c, lambda f: len(rh.msgs_of(f)) >= 1, 5.0)
        frames += c.quiet(0.2)
        others = [o for _, o in frames if o.get("op") != "msg"]
        self.assertLessEqual(len(others), 1, f"frames besides the msg: {others}")
        for o in others:
            self.assertEqual(o, {"op": "gap", "topic": "abs.t"})
        msgs = rh.msgs_of(frames)
        self.assertEqual(len(msgs), 1, frames)
        self.assertEqual(msgs[0]["data"], {"k": "v"})
        self.assertEqual(msgs[0]["topic"], "abs.t")

    def scenario_restore_many(self):
        """1,500 topics over 2 workers: each worker restores ~750, in a batch of 512 and then,
        once that one is confirmed, the rest. Every topic comes back (a gap each, then a raw
        publish to every topic arrives)."""
        broker = self.start_broker()
        g = self.gateway(self.broker_url(broker))
        topics = ["many.%d" % i for i in range(1500)]
        clients = [self.client(g), self.client(g)]  # --max-subscriptions is 1024 per connection
        mine = {0: topics[0::2], 1: topics[1::2]}
        for k, c in enumerate(clients):
            rids = [c.request("sub", topic=t) for t in mine[k]]
            for rid in rids:
                self.assertAck(c.reply(rid, timeout=10), rid, seq=0)
        rh.wait_until(lambda: self.subscribers(broker, topics[-1]) == 1, 10.0)
        broker.stop()
        self.assertBrokerUp(g, 0, 5.0)
        broker.start()
        self.assertBrokerUp(g, 1, RESTORE_TIMEOUT_S)
        for k, c in enumerate(clients):
            frames = self.collect(c, lambda f, n=len(mine[k]): sum(o.get("op") == "gap" for _, o in f) >= n, 15.0)
            self.assertEqual(sorted(o["topic"] for _, o in frames if o.get("op") == "gap"), sorted(mine[k]),
                             f"client {k}: one gap per topic")
        self.raw_publish_many(broker, [(t, '{"t":"%s"}' % t) for t in topics])
        for k, c in enumerate(clients):
            frames = self.collect(c, lambda f, n=len(mine[k]): len(rh.msgs_of(f)) >= n, 15.0)
            self.assertEqual(sorted(m["topic"] for m in rh.msgs_of(frames)), sorted(mine[k]),
                             f"client {k}: every restored topic delivers")
            self.assertTrue(all(m["data"] == {"t": m["topic"]} for m in rh.msgs_of(frames)))
        m = g.metrics()
        self.assertEqual(m.get("ringgate_broker_resubscribed_topics_total"), len(topics))

    def check_refuses(self, value):
        try:
            r = rh.run_binary(["--listen", "127.0.0.1:0", "--broker", value], timeout=10)
        except rh.subprocess.TimeoutExpired:
            self.fail(f"ringgate --broker {value!r} kept running")
        self.assertEqual(r.returncode, 2, f"--broker {value!r}: {r}")
        self.assertIn("--broker", r.stderr, f"--broker {value!r}: the message names no flag")
        self.assertNotIn("unknown option", r.stderr, "--broker itself is not known")

    def check_broker_values(self, bad, good):
        """The flag exists: `good` starts (and reaches the admin line), every value of `bad`
        refuses to start with exit code 2 and a message naming --broker."""
        rh.start_server(self, "--broker", good)
        for value in bad:
            with self.subTest(value=value):
                self.check_refuses(value)


class RedisBackend(BrokerScenarios):
    SHARDED = False

    def start_broker(self, port=None):
        return bs.start_redis(self, port)

    def broker_url(self, server):
        return self.broker_url_for_port(server.port)

    def broker_url_for_port(self, port):
        return f"redis://127.0.0.1:{port}" + ("/?sharded=1" if self.SHARDED else "")

    def raw_publish(self, server, topic, payload):
        out = bs.redis_cli(server.port, "SPUBLISH" if self.SHARDED else "PUBLISH", topic, payload)
        self.assertRegex(out, r"^\d+$", "redis-cli PUBLISH reply")

    def raw_publish_many(self, server, messages):
        cmd = "SPUBLISH" if self.SHARDED else "PUBLISH"
        replies = bs.redis_pipeline(server.port, [(cmd, t, p) for t, p in messages])
        self.assertTrue(all(isinstance(r, int) for r in replies), replies[:5])

    def subscribers(self, server, topic):
        fn = bs.pubsub_shardnumsub if self.SHARDED else bs.pubsub_numsub
        other = bs.pubsub_numsub if self.SHARDED else bs.pubsub_shardnumsub
        n = fn(server.port, topic)
        self.assertEqual(other(server.port, topic), 0,
                         f"{topic!r} subscribed in the wrong mode (sharded={self.SHARDED})")
        return n


class RedisBrokerTest(RedisBackend, PubSubCase):
    def test_two_nodes_share_one_redis(self):
        self.scenario_cross_node()

    def test_outage_and_restore(self):
        self.scenario_outage()

    def test_restore_more_than_one_batch(self):
        self.scenario_restore_many()

    def test_redis_absent_at_start(self):
        self.scenario_broker_absent_at_start()

    def test_raw_publish_with_redis_cli_and_raw_resp(self):
        """The raw RESP helper and redis-cli reach the same subscribers (and the helper's reply
        count is Redis's own)."""
        broker = self.start_broker()
        g = self.gateway(self.broker_url(broker))
        c = self.client(g)
        self.subscribe(c, "resp.t")
        self.wait_subscribers(broker, "resp.t", 1)
        self.assertEqual(bs.redis_command(broker.port, "PUBLISH", "resp.t", b'"bytes \xc3\xa9"'), 1)
        raw, obj = c.recv(5)
        self.assertMsg(raw, obj, "resp.t", 1, '"bytes \u00e9"')
        # Not valid UTF-8 and not JSON: a JSON string with U+FFFD for the bad byte.
        self.assertEqual(bs.redis_command(broker.port, "PUBLISH", "resp.t", b"ab\xffcd"), 1)
        raw, obj = c.recv(5)
        self.assertEqual(obj, {"op": "msg", "topic": "resp.t", "seq": 2, "data": "ab\ufffdcd"}, raw)

    def test_two_connections_per_worker(self):
        """Per worker one subscriber and one publisher connection: 2 gateways x 2 workers x 2."""
        broker = self.start_broker()
        for _ in range(2):
            self.gateway(self.broker_url(broker))

        def others():  # CLIENT LIST counts the asking connection too
            return len(bs.redis_command(broker.port, "CLIENT", "LIST").splitlines()) - 1

        rh.wait_until(lambda: others() == 2 * WORKERS * 2, 5.0)
        self.assertEqual(others(), 2 * WORKERS * 2)

    def test_embedded_broker_is_always_up(self):
        g = rh.start_server(self, "--workers", str(WORKERS), "--broker", "embedded")
        self.assertBrokerUp(g, 1, 5.0)

    def test_bad_broker_values_refuse_to_start(self):
        self.check_broker_values(("bogus://x", "redis://", ""),
                                 f"redis://127.0.0.1:{bs.free_port()}")


class RedisLivenessTest(RedisBackend, PubSubCase):
    """What only a misbehaving broker or client shows: a Redis that stops answering (SIGSTOP: the
    TCP connections stay up, nothing comes back) is found by the pings, and a client that never
    reads does not slow the gateway's Redis read."""

    def test_frozen_redis_is_found_by_pings(self):
        broker = self.start_broker()
        g = rh.start_server(self, "--workers", str(WORKERS), "--client-publish", "on",
                            "--broker", self.broker_url(broker), "--broker-ping-interval", "0.3")
        self.assertBrokerUp(g, 1, UP_TIMEOUT_S)
        c = self.client(g)
        self.subscribe(c, "frozen.t")
        self.wait_subscribers(broker, "frozen.t", 1)
        os.kill(broker.pid(), signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            # A ping unanswered for two intervals (0.6 s) ends each connection; the loop looks
            # every 0.1 s.
            self.assertBrokerUp(g, 0, 3.0)
            self.assertLess(time.monotonic() - t0, 2.5, "a frozen Redis took too long to notice")
            # A publish fails with unavailable: at once if its worker already gave up on the
            # connection, else when its ping runs out (the PUBLISH sent to the frozen Redis is
            # then failed, not kept).
            pub = self.client(g)
            rid = pub.send_pub("frozen.t", '"lost while frozen"')
            self.assertErr(pub.reply(rid, timeout=3.0), "unavailable", rid)
        finally:
            os.kill(broker.pid(), signal.SIGCONT)
        self.assertBrokerUp(g, 1, RESTORE_TIMEOUT_S)
        frames = self.collect(c, lambda f: any(o.get("op") == "gap" for _, o in f), 5.0)
        self.assertIn({"op": "gap", "topic": "frozen.t"}, [o for _, o in frames])
        # Redis may keep the dead connections' subscriptions until it notices them: at least ours.
        self.assertGreaterEqual(self.subscribers(broker, "frozen.t"), 1)
        self.raw_publish(broker, "frozen.t", '"thawed"')
        frames = self.collect(c, lambda f: len(rh.msgs_of(f)) >= 1, 5.0)
        self.assertEqual([m["data"] for m in rh.msgs_of(frames)], ["thawed"])

    def test_recovery_across_an_outage_gets_a_gap(self):
        """Messages published while the subscription was gone never reached the node: one number
        stands for them, so recovering from the last seq seen before the outage (or any earlier
        one) gets a gap, never a silent "up to date"."""
        broker = self.start_broker()
        g = self.gateway(self.broker_url(broker))
        c = self.client(g)
        self.subscribe(c, "rec.t")
        self.wait_subscribers(broker, "rec.t", 1)
        for i in (1, 2):
            self.raw_publish(broker, "rec.t", '{"n":%d}' % i)
        frames = self.collect(c, lambda f: len(rh.msgs_of(f)) >= 2, 5.0)
        self.assertEqual([m["seq"] for m in rh.msgs_of(frames)], [1, 2])
        broker.stop()
        self.assertBrokerUp(g, 0, 5.0)
        broker.start()
        self.assertBrokerUp(g, 1, RESTORE_TIMEOUT_S)
        frames = self.collect(c, lambda f: any(o.get("op") == "gap" for _, o in f), 5.0)
        self.assertIn({"op": "gap", "topic": "rec.t"}, [o for _, o in frames])
        self.raw_publish(broker, "rec.t", '{"n":3}')
        frames = self.collect(c, lambda f: len(rh.msgs_of(f)) >= 1, 5.0)
        self.assertEqual([(m["seq"], m["data"]) for m in rh.msgs_of(frames)], [(4, {"n": 3})],
                         "the first message after the outage skips the number of the lost ones")
        for since in (2, 1):
            r = self.client(g)
            rid = r.request("sub", topic="rec.t", since=since)
            self.assertAck(r.recv(5)[1], rid, seq=4)
            self.assertEqual(r.recv(5)[1], {"op": "gap", "topic": "rec.t"}, f"since={since}")
            self.assertEqual(r.quiet(0.2), [], "history from before the outage is gone")
        r = self.client(g)
        rid = r.request("sub", topic="rec.t", since=4)
        self.assertAck(r.recv(5)[1], rid, seq=4)
        self.assertEqual(r.quiet(0.2), [], "up to date after the outage: nothing to replay")

    def test_client_that_never_reads_does_not_stall_the_broker_read(self):
        broker = self.start_broker()
        g = rh.start_server(self, "--workers", str(WORKERS), "--broker", self.broker_url(broker),
                            "--max-outbound-bytes", "262144")
        self.assertBrokerUp(g, 1, UP_TIMEOUT_S)
        slow = self.client(g, rcvbuf=4096)
        self.subscribe(slow, "flood.t")
        normal = self.client(g)
        self.subscribe(normal, "flood.t")
        self.wait_subscribers(broker, "flood.t", 1)
        # 8 MB in batches of 200 KB, the reader keeping up between batches; the client that never
        # reads fills its socket buffers, then its queue, and is closed (policy disconnect).
        batches, per_batch, pad = 40, 200, "p" * 1000
        frames = []
        for b in range(batches):
            first = b * per_batch
            replies = bs.redis_pipeline(broker.port, [
                ("PUBLISH", "flood.t", '{"n":%d,"pad":"%s"}' % (i, pad)) for i in range(first, first + per_batch)])
            self.assertEqual(replies, [1] * per_batch, "Redis delivered every message to the gateway")
            frames += self.collect(normal, lambda f, want=first + per_batch - len(rh.msgs_of(frames)):
                                   len(rh.msgs_of(f)) >= want, 10.0)
        n = batches * per_batch
        self.assertEqual([m["data"]["n"] for m in rh.msgs_of(frames)], list(range(n)),
                         "the reading subscriber got every message, in order")
        m = g.wait_metrics(lambda m: m.get("ringgate_pubsub_slow_consumer_closes_total") >= 1)
        self.assertEqual(m.get("ringgate_pubsub_slow_consumer_closes_total"), 1)
        self.assertEqual(m.get("ringgate_broker_messages_total"), n)
        self.assertEqual(m.get("ringgate_broker_reconnects_total"), 0, "a broker connection was lost")
        self.assertEqual(m.get("ringgate_broker_up"), 1)
        # Redis kept the gateway's subscriber connection (no output-buffer limit was reached).
        self.assertEqual(self.subscribers(broker, "flood.t"), 1)


class RedisLingerTest(RedisBackend, PubSubCase):
    """The broker subscription outlives a topic's last subscriber by --broker-linger, so a
    subscriber that leaves and comes back (a page reload) costs no UNSUBSCRIBE/SUBSCRIBE."""

    def test_subscription_lingers_then_goes(self):
        broker = self.start_broker()
        g = rh.start_server(self, "--workers", str(WORKERS), "--client-publish", "on",
                            "--broker", self.broker_url(broker), "--broker-linger", "1.5")
        self.assertBrokerUp(g, 1, UP_TIMEOUT_S)
        c = self.client(g)
        self.subscribe(c, "linger.t")
        self.wait_subscribers(broker, "linger.t", 1)
        rid = c.request("unsub", topic="linger.t")
        self.assertAck(c.reply(rid), rid)
        t0 = time.monotonic()
        time.sleep(0.3)
        self.assertEqual(self.subscribers(broker, "linger.t"), 1, "gone before the linger")
        # Back within the linger: answered at once, and messages flow without a new SUBSCRIBE.
        d = self.client(g)
        rid = d.request("sub", topic="linger.t")
        obj = d.reply(rid)
        self.assertEqual((obj.get("op"), obj.get("id")), ("ack", rid), obj)
        self.raw_publish(broker, "linger.t", '"still here"')
        frames = self.collect(d, lambda f: len(rh.msgs_of(f)) >= 1, 5.0)
        self.assertEqual([m["data"] for m in rh.msgs_of(frames)], ["still here"])
        rid = d.request("unsub", topic="linger.t")
        self.assertAck(d.reply(rid), rid)
        t1 = time.monotonic()
        self.assertLess(t1 - t0, 1.4, "the test itself was too slow to see the linger")
        # Let go after the linger (swept once a second): 1.5..2.5 s after the last unsub.
        self.wait_subscribers(broker, "linger.t", 0, timeout=5.0)
        self.assertGreaterEqual(time.monotonic() - t1, 1.4, "unsubscribed before the linger")

    def test_linger_zero_unsubscribes_at_once(self):
        broker = self.start_broker()
        g = rh.start_server(self, "--workers", str(WORKERS), "--broker", self.broker_url(broker),
                            "--broker-linger", "0")
        self.assertBrokerUp(g, 1, UP_TIMEOUT_S)
        c = self.client(g)
        self.subscribe(c, "now.t")
        self.wait_subscribers(broker, "now.t", 1)
        t0 = time.monotonic()
        rid = c.request("unsub", topic="now.t")
        self.assertAck(c.reply(rid), rid)
        self.wait_subscribers(broker, "now.t", 0, timeout=2.0)
        self.assertLess(time.monotonic() - t0, 0.9, "not at once")


class RedisShardedBrokerTest(RedisBackend, PubSubCase):
    SHARDED = True

    def test_two_nodes_share_one_redis_sharded(self):
        self.scenario_cross_node()

    def test_outage_and_restore_sharded(self):
        self.scenario_outage()


if __name__ == "__main__":
    unittest.main(verbosity=2)
