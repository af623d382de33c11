"""NATS as the broker (issue 7) against the real binary and a real nats-server started here: the
scenarios of test_broker_redis.py with `--broker nats://127.0.0.1:P` and raw `PUB` as the
external publish. Two nodes share one NATS (ws, API and raw publishes cross nodes; 1,000 messages
complete and in order on both); an outage of the server (broker_up 0, `unavailable`/503, then
after a restart on the same port: one SUB per topic per node again, as the server's monitoring
/connz shows, a gap per topic, raw publishes reach both nodes); a server absent at start-up.
The pub ack's `delivered` is 0 with NATS (the PONG after the PUB does not count receivers)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import broker_servers as bs  # noqa: E402
import ringgate_harness as rh  # noqa: E402
from test_broker_redis import WORKERS, BrokerScenarios  # noqa: E402
from test_pubsub import PubSubCase  # noqa: E402


class NatsBrokerTest(BrokerScenarios, PubSubCase):
    DELIVERED_PER_SUBSCRIBER = 0

    def start_broker(self, port=None):
        return bs.start_nats(self, port)

    def broker_url(self, server):
        return server.url()

    def broker_url_for_port(self, port):
        return f"nats://127.0.0.1:{port}"

    def raw_publish(self, server, topic, payload):
        bs.nats_publish(server.port, topic, payload)

    def raw_publish_many(self, server, messages):
        bs.nats_publish_many(server.port, messages)

    def subscribers(self, server, topic):
        return server.subscriptions().get(topic, 0)

    def test_two_nodes_share_one_nats(self):
        self.scenario_cross_node()

    def test_outage_and_restore(self):
        self.scenario_outage()

    def test_restore_more_than_one_batch(self):
        self.scenario_restore_many()

    def test_nats_absent_at_start(self):
        self.scenario_broker_absent_at_start()

    def test_one_connection_per_worker(self):
        """Each worker holds one NATS connection for both directions: 2 gateways x 2 workers."""
        broker = self.start_broker()
        for _ in range(2):
            self.gateway(self.broker_url(broker))
        n = rh.wait_until(lambda: broker.connections() == 2 * WORKERS, 5.0)
        self.assertEqual(broker.connections(), 2 * WORKERS, n)

    def test_bad_broker_values_refuse_to_start(self):
        self.check_broker_values(("nats://", "bogus://x"), f"nats://127.0.0.1:{bs.free_port()}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
