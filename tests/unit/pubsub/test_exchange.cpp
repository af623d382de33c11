// Exchange without a ring: a fake Delivery (queues of (topic, seq) with byte counts, answers as
// strings), a fake Broker where a test needs one, and a manual clock (tick). Covers ownership
// across 2-4 exchanges sharing one Hub (mailboxes pumped by hand), history replay from `since`, a
// gap on history overflow and after a broker outage, the backlog when a mailbox is full, each
// slow-consumer policy's decision, restores of many topics, linger and history sweeps, and a
// detach (teardown) during a delivery walk.
#include "ringgate/pubsub/exchange.hpp"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ringgate::pubsub {
namespace {

struct FakeDelivery final : Delivery {
  struct Sub {
    bool open = true;
    std::uint64_t queued = 0;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> frames;  // (topic id, seq)
    std::vector<std::string> log;                                  // answers and notices
    int slow_closes = 0, want_drained = 0;
    bool fail = false;  // append runs out of memory
  };
  std::map<std::uint64_t, Sub> subs;
  std::vector<PubAnswer> pubs;
  SharedFrame* cur = nullptr;
  Exchange* ex = nullptr;
  bool detach_on_slow_close = false;  // a teardown inside the walk (the gateway's out-of-memory path)

  Sub& of(std::uint64_t t) { return subs[t]; }
  bool begin_frame(SharedFrame* f) noexcept override {
    cur = f;
    return true;
  }
  void end_frame() noexcept override {
    cur->release();
    cur = nullptr;
  }
  Append append(std::uint64_t t, std::uint64_t max_queued) noexcept override {
    Sub& s = of(t);
    if (!s.open) return Append::closed;
    if (s.queued + cur->len > max_queued) return Append::over_limit;
    if (s.fail) return Append::failed;
    s.queued += cur->len;
    s.frames.emplace_back(cur->topic_id, cur->seq);
    return Append::queued;
  }
  bool replace(std::uint64_t t) noexcept override {
    Sub& s = of(t);
    for (auto it = s.frames.rbegin(); it != s.frames.rend(); ++it) {
      if (it->first == cur->topic_id) {
        it->second = cur->seq;
        return true;
      }
    }
    return false;
  }
  void slow_close(std::uint64_t t) noexcept override {
    Sub& s = of(t);
    ++s.slow_closes;
    s.open = false;
    if (detach_on_slow_close) ex->detach(t);
  }
  void want_drained(std::uint64_t t) noexcept override { ++of(t).want_drained; }
  bool open(std::uint64_t t) noexcept override { return of(t).open; }
  bool gap(std::uint64_t t, std::string_view json) noexcept override {
    if (!of(t).open) return false;
    of(t).log.push_back(std::string(json));
    return true;
  }
  void subscribed(std::uint64_t t, std::uint64_t id, std::uint64_t seq) noexcept override {
    of(t).log.push_back("ack " + std::to_string(id) + " " + std::to_string(seq));
  }
  void unsubscribed(std::uint64_t t, std::uint64_t id) noexcept override {
    of(t).log.push_back("unack " + std::to_string(id));
  }
  void refused(std::uint64_t t, std::uint64_t id, ErrorCode code, std::string_view) noexcept override {
    of(t).log.push_back("err " + std::to_string(id) + " " + std::string(error_name(code)));
  }
  void published(const PubAnswer& a) noexcept override { pubs.push_back(a); }
};

bool is_gap(const std::string& s) { return s.find("\"gap\"") != std::string::npos; }
int gaps(const FakeDelivery::Sub& s) {
  int n = 0;
  for (const std::string& l : s.log) n += is_gap(l) ? 1 : 0;
  return n;
}

// An external broker under the test's control: confirms subscriptions when told, goes down.
struct FakeBroker final : Broker {
  explicit FakeBroker(Events& e) : ev(e) {}
  void subscribe(std::string_view t) noexcept override { subscribed.emplace_back(t); }
  void unsubscribe(std::string_view t) noexcept override { unsubscribed.emplace_back(t); }
  void publish(std::string_view, std::string_view, std::uint64_t token) noexcept override { waiting.push_back(token); }
  bool up() const noexcept override { return is_up; }
  const char* name() const noexcept override { return "fake"; }
  Events& ev;
  bool is_up = true;
  std::vector<std::string> subscribed, unsubscribed;
  std::vector<std::uint64_t> waiting;
};

// N exchanges on one Hub, each with its own delivery and metrics.
struct Node {
  explicit Node(unsigned n, ExchangeConfig base = {}, std::size_t mailbox = 8192) : hub(n, mailbox) {
    for (unsigned i = 0; i < n; ++i) {
      ExchangeConfig c = base;
      c.worker = i;
      d.push_back(std::make_unique<FakeDelivery>());
      m.push_back(std::make_unique<Metrics>());
      x.push_back(std::make_unique<Exchange>(c, hub, *d[i], *m[i], nullptr));
      d[i]->ex = x[i].get();
    }
  }
  bool start() {
    for (auto& e : x) {
      if (!e->start()) return false;
    }
    return true;
  }
  void pump(int rounds = 4) {
    for (int r = 0; r < rounds; ++r) {
      for (auto& e : x) e->pump(true);
    }
  }
  void tick(std::uint64_t ms) {
    for (auto& e : x) e->tick(ms);
  }
  bool pub(unsigned w, std::uint64_t token, const std::string& topic, const std::string& data, std::uint64_t id = 1) {
    return x[w]->publish(token, std::string(topic), std::string(data), id, false, 1);
  }
  Hub hub;
  std::vector<std::unique_ptr<FakeDelivery>> d;
  std::vector<std::unique_ptr<Metrics>> m;
  std::vector<std::unique_ptr<Exchange>> x;
};

TEST(Exchange, OwnerRoutesSubscriptionsAndPublishesAcrossWorkers) {
  for (unsigned n = 2; n <= 4; ++n) {
    Node node(n);
    ASSERT_TRUE(node.start());
    const std::string topic = "room";
    const unsigned owner = topic_owner(topic, n);
    for (unsigned w = 0; w < n; ++w) node.x[w]->subscribe(100 + w, topic, 7, false, 0);
    node.pump();
    for (unsigned w = 0; w < n; ++w) EXPECT_EQ(node.d[w]->of(100 + w).log, std::vector<std::string>{"ack 7 0"});
    const unsigned from = (owner + 1) % n;  // a publish from a worker that does not own the topic
    ASSERT_TRUE(node.pub(from, 500, topic, "\"hi\"", 9));
    EXPECT_GT(node.x[from]->held_bytes(500), 0u) << "a publish in flight counts for its client";
    node.pump();
    ASSERT_EQ(node.d[from]->pubs.size(), 1u);
    EXPECT_EQ(node.d[from]->pubs[0].seq, 1u);
    EXPECT_EQ(node.d[from]->pubs[0].delivered, n);
    EXPECT_EQ(node.d[from]->pubs[0].result, PublishResult::ok);
    EXPECT_EQ(node.x[from]->held_bytes(500), 0u);
    for (unsigned w = 0; w < n; ++w) {
      ASSERT_EQ(node.d[w]->of(100 + w).frames.size(), 1u) << "worker " << w;
      EXPECT_EQ(node.d[w]->of(100 + w).frames[0].second, 1u);
      EXPECT_EQ(node.m[w]->pubsub_deliveries.get(), 1u);
      EXPECT_EQ(node.m[w]->pubsub_subscriptions.get(), 1);
    }
    // Unsubscribing everywhere leaves the owner's count at zero: the next publish reaches nobody.
    for (unsigned w = 0; w < n; ++w) node.x[w]->unsubscribe(100 + w, topic, 8);
    node.pump();
    ASSERT_TRUE(node.pub(owner, 501, topic, "2"));
    node.pump();
    EXPECT_EQ(node.d[owner]->pubs.back().delivered, 0u);
    EXPECT_EQ(node.d[owner]->of(100 + owner).log.back(), "unack 8");
  }
}

TEST(Exchange, SubscribeRepeatsTheAckAndEnforcesTheLimit) {
  ExchangeConfig c;
  c.max_subscriptions = 2;
  Node node(1, c);
  ASSERT_TRUE(node.start());
  node.x[0]->subscribe(1, "a", 1, false, 0);
  node.x[0]->subscribe(1, "a", 2, false, 0);
  node.x[0]->subscribe(1, "b", 3, false, 0);
  node.x[0]->subscribe(1, "c", 4, false, 0);
  node.x[0]->unsubscribe(1, "zzz", 5);
  EXPECT_EQ(node.d[0]->of(1).log,
            (std::vector<std::string>{"ack 1 0", "ack 2 0", "ack 3 0", "err 4 limit_exceeded", "err 5 unknown_topic"}));
}

TEST(Exchange, HistoryReplaysFromSinceAndGapsBeyondIt) {
  ExchangeConfig c;
  c.history = 3;
  Node node(1, c);
  ASSERT_TRUE(node.start());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(node.pub(0, 9, "t", std::to_string(i)));  // seq 1..5, keeps 3..5
  node.x[0]->subscribe(1, "t", 1, true, 3);
  EXPECT_EQ(node.d[0]->of(1).log, std::vector<std::string>{"ack 1 5"});
  ASSERT_EQ(node.d[0]->of(1).frames.size(), 2u);
  EXPECT_EQ(node.d[0]->of(1).frames[0].second, 4u);
  EXPECT_EQ(node.d[0]->of(1).frames[1].second, 5u);
  node.x[0]->subscribe(2, "t", 1, true, 5);  // up to date: nothing to replay
  EXPECT_TRUE(node.d[0]->of(2).frames.empty());
  EXPECT_EQ(gaps(node.d[0]->of(2)), 0);
  node.x[0]->subscribe(3, "t", 1, true, 1);  // message 2 is gone (overflow): a gap, no replay
  EXPECT_EQ(gaps(node.d[0]->of(3)), 1);
  EXPECT_TRUE(node.d[0]->of(3).frames.empty());
  node.x[0]->subscribe(4, "t", 1, true, 9);  // a future seq (another node's numbers): a gap
  EXPECT_EQ(gaps(node.d[0]->of(4)), 1);
}

TEST(Exchange, HistoryByteCapEvictsTheOldestOfAnyTopic) {
  ExchangeConfig c;
  c.history = 100;
  c.history_max_bytes = 1500;
  Node node(1, c);
  ASSERT_TRUE(node.start());
  const std::string data(200, 'x');
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(node.pub(0, 9, i % 2 ? "a" : "b", "\"" + data + "\""));
  EXPECT_GT(node.m[0]->pubsub_history_evictions.get(), 0u);
  EXPECT_LE(node.m[0]->pubsub_history_bytes.get(), 1500);
  node.x[0]->subscribe(1, "b", 1, true, 0);
  EXPECT_EQ(gaps(node.d[0]->of(1)), 1) << "the first messages were forgotten under the cap";
}

TEST(Exchange, ABrokerOutageGivesEverySubscriberAGapAndSkipsASeq) {
  Node node(1);
  auto* broker = new FakeBroker(node.x[0]->broker_events());
  ASSERT_TRUE(node.x[0]->start(std::unique_ptr<Broker>(broker)));
  node.x[0]->subscribe(1, "t", 1, false, 0);
  EXPECT_TRUE(node.d[0]->of(1).log.empty()) << "answered when the broker confirms";
  ASSERT_EQ(broker->subscribed, std::vector<std::string>{"t"});
  broker->ev.on_subscribed("t", false);
  EXPECT_EQ(node.d[0]->of(1).log, std::vector<std::string>{"ack 1 0"});
  broker->ev.on_message("t", "1", 1);
  EXPECT_EQ(node.d[0]->of(1).frames.size(), 1u);
  // Outage: publishes fail at once; a new subscriber is answered at once and kept.
  broker->is_up = false;
  broker->ev.on_subscriptions_lost();
  ASSERT_TRUE(node.pub(0, 9, "t", "2"));
  ASSERT_EQ(node.d[0]->pubs.size(), 1u);
  EXPECT_EQ(node.d[0]->pubs[0].result, PublishResult::unavailable);
  EXPECT_EQ(node.m[0]->broker_publish_failures.get(), 1u);
  node.x[0]->subscribe(2, "t", 1, true, 1);
  EXPECT_EQ(node.d[0]->of(2).log, std::vector<std::string>{"ack 1 1"});
  // Back: the topic is restored, every subscriber hears of the gap, and seq 2 stands for the loss.
  broker->is_up = true;
  broker->ev.on_subscribed("t", true);
  EXPECT_EQ(gaps(node.d[0]->of(1)), 1);
  EXPECT_EQ(gaps(node.d[0]->of(2)), 1);
  broker->ev.on_message("t", "3", 1);
  EXPECT_EQ(node.d[0]->of(1).frames.back().second, 3u);
  node.x[0]->subscribe(3, "t", 1, true, 1);  // recovery from before the outage: history is gone
  EXPECT_EQ(gaps(node.d[0]->of(3)), 1);
  // An external broker's publish answer carries its receivers and seq 0 (numbered on the way in).
  ASSERT_TRUE(node.pub(0, 9, "t", "4"));
  ASSERT_EQ(broker->waiting.size(), 1u);
  broker->ev.on_published(broker->waiting[0], PublishResult::ok, 5);
  EXPECT_EQ(node.d[0]->pubs.back().seq, 0u);
  EXPECT_EQ(node.d[0]->pubs.back().delivered, 5u);
}

TEST(Exchange, RestoringManyTopicsAnnouncesAGapOnEach) {
  Node node(1);
  auto* broker = new FakeBroker(node.x[0]->broker_events());
  ASSERT_TRUE(node.x[0]->start(std::unique_ptr<Broker>(broker)));
  for (int i = 0; i < 600; ++i) {
    node.x[0]->subscribe(1 + i % 3, "t" + std::to_string(i), 1, false, 0);
    broker->ev.on_subscribed("t" + std::to_string(i), false);
  }
  broker->ev.on_subscriptions_lost();
  // (ExternalBroker sends these in batches of 512; test_broker_redis.cpp checks the batching.)
  for (int i = 0; i < 600; ++i) broker->ev.on_subscribed("t" + std::to_string(i), true);
  EXPECT_EQ(gaps(node.d[0]->of(1)) + gaps(node.d[0]->of(2)) + gaps(node.d[0]->of(3)), 600);
  EXPECT_EQ(node.m[0]->pubsub_gaps.get(), 600u);
}

TEST(Exchange, AFullMailboxDropsMessagesWithAGapAndBacklogsControl) {
  Node node(2, {}, 4);
  ASSERT_TRUE(node.start());
  const std::string topic = "busy";
  const unsigned owner = topic_owner(topic, 2), other = 1 - owner;
  node.x[other]->subscribe(1, topic, 1, false, 0);
  node.pump();
  ASSERT_EQ(node.d[other]->of(1).log, std::vector<std::string>{"ack 1 0"});
  // The owner publishes while the other worker does not read: its mailbox fills up.
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(node.pub(owner, 9, topic, std::to_string(i)));
  EXPECT_GT(node.m[owner]->pubsub_dropped[2].get(), 0u);
  EXPECT_GT(node.m[owner]->pubsub_ring_overflows.get(), 0u);
  node.x[other]->pump(true);
  const std::size_t got = node.d[other]->of(1).frames.size();
  EXPECT_LT(got, 20u);
  ASSERT_TRUE(node.pub(owner, 9, topic, "after"));
  node.x[other]->pump(true);
  EXPECT_EQ(gaps(node.d[other]->of(1)), 1) << "the next message that gets through carries the gap";
  EXPECT_EQ(node.d[other]->of(1).frames.back().second, 21u);
  // Control entries are never dropped: 20 publishes towards a worker that does not read wait in
  // the backlog, in order, and are all answered once it does.
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(node.pub(other, 2, topic, std::to_string(i), 100 + i));
  EXPECT_TRUE(node.x[other]->wake_pending());
  node.pump(20);
  ASSERT_EQ(node.d[other]->pubs.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(node.d[other]->pubs[i].id, std::uint64_t(100 + i));
  EXPECT_FALSE(node.x[other]->wake_pending());
}

// One exchange, a frame that fits once under the limit: the second meets the topic's policy.
struct PolicyTest : ::testing::Test {
  void SetUp() override {
    ExchangeConfig c;
    c.history = 0;
    c.max_outbound_bytes = 60;
    ASSERT_TRUE(c.slow_consumer.add("d.=disconnect"));
    ASSERT_TRUE(c.slow_consumer.add("p.=drop"));
    ASSERT_TRUE(c.slow_consumer.add("c.=conflate"));
    node = std::make_unique<Node>(1, c);
    ASSERT_TRUE(node->start());
  }
  FakeDelivery::Sub& sub(std::uint64_t t) { return node->d[0]->of(t); }
  std::unique_ptr<Node> node;
};

TEST_F(PolicyTest, DisconnectClosesTheSlowConsumer) {
  node->x[0]->subscribe(1, "d.x", 1, false, 0);
  ASSERT_TRUE(node->pub(0, 9, "d.x", "1"));
  EXPECT_EQ(sub(1).slow_closes, 0);
  ASSERT_TRUE(node->pub(0, 9, "d.x", "2"));
  EXPECT_EQ(sub(1).slow_closes, 1);
  EXPECT_EQ(sub(1).frames.size(), 1u);
}

TEST_F(PolicyTest, DropDropsUntilDrainedThenAnnouncesTheGap) {
  node->x[0]->subscribe(1, "p.x", 1, false, 0);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(node->pub(0, 9, "p.x", std::to_string(i)));
  EXPECT_EQ(sub(1).frames.size(), 1u);
  EXPECT_EQ(sub(1).want_drained, 1) << "asked once, whatever is dropped after";
  EXPECT_EQ(node->m[0]->pubsub_dropped[0].get(), 2u);
  sub(1).queued = 0;  // the queue drained: the route calls drained()
  node->x[0]->drained(1);
  EXPECT_EQ(gaps(sub(1)), 1);
  ASSERT_TRUE(node->pub(0, 9, "p.x", "3"));
  EXPECT_EQ(sub(1).frames.back().second, 4u);
}

TEST_F(PolicyTest, ConflateKeepsTheNewestFramePerTopic) {
  node->x[0]->subscribe(1, "c.x", 1, false, 0);
  node->x[0]->subscribe(1, "c.y", 2, false, 0);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(node->pub(0, 9, "c.x", std::to_string(i)));
  ASSERT_EQ(sub(1).frames.size(), 1u);
  EXPECT_EQ(sub(1).frames[0].second, 4u) << "the queued frame was replaced by the newest";
  EXPECT_EQ(node->m[0]->pubsub_dropped[1].get(), 3u);
  ASSERT_TRUE(node->pub(0, 9, "c.y", "1"));  // nothing of c.y queued: one per topic beyond the limit
  EXPECT_EQ(sub(1).frames.size(), 2u);
  EXPECT_EQ(sub(1).slow_closes, 0);
}

TEST_F(PolicyTest, OutOfMemoryClosesAsASlowConsumer) {
  node->x[0]->subscribe(1, "c.x", 1, false, 0);
  sub(1).fail = true;
  ASSERT_TRUE(node->pub(0, 9, "c.x", "1"));
  EXPECT_EQ(sub(1).slow_closes, 1);
}

TEST(Exchange, LingerKeepsTheBrokerSubscriptionAndTheSweepForgetsUnusedTopics) {
  ExchangeConfig c;
  c.broker.linger_ms = 5000;
  c.history_ttl_ms = 20000;
  Node node(1, c);
  auto* broker = new FakeBroker(node.x[0]->broker_events());
  ASSERT_TRUE(node.x[0]->start(std::unique_ptr<Broker>(broker)));
  node.tick(1000);
  node.x[0]->subscribe(1, "t", 1, false, 0);
  broker->ev.on_subscribed("t", false);
  broker->ev.on_message("t", "1", 1);
  node.x[0]->unsubscribe(1, "t", 2);
  node.tick(4000);
  EXPECT_TRUE(broker->unsubscribed.empty()) << "lingers";
  node.x[0]->subscribe(2, "t", 1, true, 1);  // back within the linger: answered at once, no broker trip
  EXPECT_EQ(broker->subscribed.size(), 1u);
  EXPECT_EQ(node.d[0]->of(2).log, std::vector<std::string>{"ack 1 1"});
  node.x[0]->unsubscribe(2, "t", 2);
  node.tick(8000);
  EXPECT_TRUE(broker->unsubscribed.empty()) << "the linger counts from the last subscriber leaving";
  node.tick(9100);
  EXPECT_EQ(broker->unsubscribed, std::vector<std::string>{"t"});
  node.tick(24500);  // past --history-ttl since the last message and subscriber: forgotten
  node.x[0]->subscribe(3, "t", 1, true, 1);
  broker->ev.on_subscribed("t", false);
  EXPECT_EQ(node.d[0]->of(3).log.front(), "ack 1 0") << "a forgotten topic starts again at 0";
  EXPECT_EQ(gaps(node.d[0]->of(3)), 1);
}

TEST(Exchange, ADetachDuringADeliveryWalkWaitsForTheWalk) {
  ExchangeConfig c;
  c.max_outbound_bytes = 1;  // every frame is over the limit: disconnect -> slow_close -> teardown
  Node node(1, c);
  ASSERT_TRUE(node.start());
  node.d[0]->detach_on_slow_close = true;
  for (std::uint64_t t = 1; t <= 5; ++t) node.x[0]->subscribe(t, "t", 1, false, 0);
  EXPECT_EQ(node.m[0]->pubsub_subscriptions.get(), 5);
  ASSERT_TRUE(node.pub(0, 9, "t", "1"));
  for (std::uint64_t t = 1; t <= 5; ++t) EXPECT_EQ(node.d[0]->of(t).slow_closes, 1) << "token " << t;
  EXPECT_EQ(node.m[0]->pubsub_subscriptions.get(), 0) << "detached once the walk was over";
  EXPECT_EQ(node.m[0]->pubsub_topics.get(), 0);
  ASSERT_TRUE(node.pub(0, 9, "t", "2"));
  EXPECT_EQ(node.d[0]->pubs.back().delivered, 0u);
}

TEST(Exchange, AnAnswerForAGoneTokenGivesTheCountBack) {
  Node node(2);
  ASSERT_TRUE(node.start());
  const std::string topic = "x";
  const unsigned other = 1 - topic_owner(topic, 2);
  node.x[other]->subscribe(1, topic, 1, false, 0);
  node.x[other]->detach(1);  // the connection left before the owner answered
  node.pump();
  EXPECT_TRUE(node.d[other]->of(1).log.empty());
  ASSERT_TRUE(node.pub(other, 9, topic, "1"));
  node.pump();
  EXPECT_EQ(node.d[other]->pubs.back().delivered, 0u);
  EXPECT_EQ(node.m[other]->pubsub_subscriptions.get(), 0);
}

}  // namespace
}  // namespace ringgate::pubsub
