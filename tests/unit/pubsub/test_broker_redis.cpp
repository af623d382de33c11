// The Redis broker against a scripted server on a loopback socket, driven through a real ring the
// way a worker drives it (poll, submit, completions of kind kBroker): restore in batches of 512
// (the next batch only once the last is confirmed), publishes answered in order with the reply's
// count or an error, our envelope on every publish, raw and enveloped messages in, a lost
// publisher connection failing what waits and refusing at once, and pings that find a server
// that stopped answering.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "pubsub/external_broker.hpp"
#include "ringgate/net/user_data.hpp"
#include "ringgate/core/clock.hpp"
#include "ringgate/net/listener.hpp"
#include "ringgate/pubsub/envelope.hpp"

namespace ringgate::pubsub {
namespace {

constexpr std::uint8_t kBroker = 11;  // the ring owner's kind for broker operations (any non-zero)

struct Recorder final : pubsub::Broker::Events {
  std::vector<std::string> messages;  // "topic data"
  std::vector<std::string> published; // "token ok|unavailable receivers"
  std::vector<std::string> subscribed;  // "topic" or "topic restored"
  int lost = 0, ups = 0, downs = 0;
  void on_message(std::string_view topic, std::string_view data, std::uint64_t) noexcept override {
    messages.push_back(std::string(topic) + " " + std::string(data));
  }
  void on_published(std::uint64_t token, pubsub::PublishResult r, std::uint64_t receivers) noexcept override {
    published.push_back(std::to_string(token) + (r == pubsub::PublishResult::ok ? " ok " : " unavailable ") +
                        std::to_string(receivers));
  }
  void on_subscribed(std::string_view topic, bool restored) noexcept override {
    subscribed.push_back(std::string(topic) + (restored ? " restored" : ""));
  }
  void on_subscriptions_lost() noexcept override { ++lost; }
  void on_state(bool up) noexcept override { ++(up ? ups : downs); }
};

// RESP commands as the server reads them: arrays of bulk strings.
bool next_command(std::string& buf, std::vector<std::string>& args) {
  args.clear();
  std::size_t pos = 0;
  auto line = [&](std::string& out) {
    const std::size_t end = buf.find("\r\n", pos);
    if (end == std::string::npos) return false;
    out = buf.substr(pos, end - pos);
    pos = end + 2;
    return true;
  };
  std::string l;
  if (!line(l) || l.empty() || l[0] != '*') return false;
  const int n = std::stoi(l.substr(1));
  for (int i = 0; i < n; ++i) {
    if (!line(l) || l.empty() || l[0] != '$') return false;
    const std::size_t len = std::stoul(l.substr(1));
    if (buf.size() < pos + len + 2) return false;
    args.push_back(buf.substr(pos, len));
    pos += len + 2;
  }
  buf.erase(0, pos);
  return true;
}

std::string bulk(std::string_view s) { return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n"; }
std::string push(std::string_view kind, std::string_view a, std::string_view b) {
  return "*3\r\n" + bulk(kind) + bulk(a) + bulk(b);
}
std::string confirm(std::string_view topic, int n) {
  return "*3\r\n" + bulk("subscribe") + bulk(topic) + ":" + std::to_string(n) + "\r\n";
}

struct Peer {  // one accepted connection, server side
  int fd = -1;
  std::string in;
  std::vector<std::vector<std::string>> commands;
  void read() {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) break;
      in.append(buf, std::size_t(n));
    }
    std::vector<std::string> args;
    while (next_command(in, args)) commands.push_back(args);
  }
  std::size_t count(std::string_view name) const {
    std::size_t n = 0;
    for (const auto& c : commands) n += !c.empty() && c[0] == name;
    return n;
  }
  void write(const std::string& s) const { ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), ssize_t(s.size())); }
};

class RedisBrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    net::RingConfig rc;
    rc.fixed_files = 64;
    ASSERT_TRUE(ring_.init(rc, why)) << why;
    auto a = net::parse_address("127.0.0.1:0");
    ASSERT_TRUE(a);
    auto l = net::open_listener(a.value(), net::ListenOptions{});
    ASSERT_TRUE(l);
    listen_fd_ = l.value();
    ASSERT_EQ(::fcntl(listen_fd_, F_SETFL, ::fcntl(listen_fd_, F_GETFL) | O_NONBLOCK), 0);  // accept_one polls
    cfg_.kind = BrokerKind::redis;
    cfg_.address = net::local_address(listen_fd_).value();
    cfg_.url = "redis://test";
    cfg_.ping_interval_ms = 60000;
  }
  void TearDown() override {
    if (broker_) {
      broker_->stop();
      for (int i = 0; i < 100 && !broker_->idle(); ++i) turn();
      broker_.reset();
    }
    for (Peer* p : {&sub_, &pub_}) {
      if (p->fd >= 0) ::close(p->fd);
    }
    ::close(listen_fd_);
  }
  void start() {
    broker_ = make_redis_broker(BrokerContext{ring_, cfg_, ev_, metrics_, 0x0123456789abcdefull, 65536, kBroker});
    ASSERT_NE(broker_, nullptr);
  }
  void turn() {
    const std::uint64_t now = monotonic_ms();
    broker_->poll(now);
    (void)ring_.submit_and_wait(2'000'000);
    net::Completion c[64];
    const std::size_t n = ring_.reap(c, 64);
    for (std::size_t i = 0; i < n; ++i) {
      if (net::ud_kind(c[i].user_data) == kBroker) broker_->on_completion(c[i].user_data, c[i].res, monotonic_ms());
    }
  }
  template <class Pred>
  bool run_until(Pred pred, int ms = 2000) {
    const std::uint64_t end = monotonic_ms() + std::uint64_t(ms);
    while (monotonic_ms() < end) {
      turn();
      if (pred()) return true;
    }
    return false;
  }
  void settle(int ms = 60) {
    run_until([] { return false; }, ms);
  }
  int accept_one(int ms = 2000) {
    int fd = -1;
    run_until([&] { return (fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0; }, ms);
    return fd;
  }
  // Accepts both connections; the subscriber one is the one that got SUBSCRIBE (or, with no
  // topics, the one that did not get the PUBLISH `probe` makes).
  void accept_both(bool has_topics) {
    int a = accept_one(), b = accept_one();
    ASSERT_GE(a, 0);
    ASSERT_GE(b, 0);
    Peer pa{a}, pb{b};
    if (has_topics) {
      ASSERT_TRUE(run_until([&] { pa.read(); pb.read(); return !pa.commands.empty() || !pb.commands.empty(); }));
      const bool a_is_sub = pa.count("SUBSCRIBE") > 0;
      sub_ = a_is_sub ? pa : pb;
      pub_ = a_is_sub ? pb : pa;
    } else {
      ASSERT_TRUE(run_until([&] { return broker_->up(); }));
      broker_->publish("probe", "0", 1);
      ASSERT_TRUE(run_until([&] { pa.read(); pb.read(); return pa.count("PUBLISH") + pb.count("PUBLISH") > 0; }));
      const bool a_is_pub = pa.count("PUBLISH") > 0;
      pub_ = a_is_pub ? pa : pb;
      sub_ = a_is_pub ? pb : pa;
      pub_.write(":0\r\n");
      ASSERT_TRUE(run_until([&] { return ev_.published.size() == 1; }));
      ev_.published.clear();
      pub_.commands.clear();
    }
  }

  net::Ring ring_;
  int listen_fd_ = -1;
  BrokerConfig cfg_;
  Recorder ev_;
  Metrics metrics_;
  std::unique_ptr<IoBroker> broker_;
  Peer sub_, pub_;
};

TEST_F(RedisBrokerTest, RestoresInBatchesOf512EachAfterTheLastIsConfirmed) {
  start();
  for (int i = 0; i < 1200; ++i) broker_->subscribe("t" + std::to_string(i));  // down: kept
  EXPECT_TRUE(ev_.subscribed.empty());
  accept_both(true);
  std::size_t answered = 0;
  for (std::size_t want : {512u, 1024u, 1200u}) {
    ASSERT_TRUE(run_until([&] { sub_.read(); return sub_.commands.size() >= want; })) << sub_.commands.size();
    settle();
    sub_.read();
    ASSERT_EQ(sub_.commands.size(), want) << "more than one batch before the confirmations";
    std::string replies;
    for (; answered < want; ++answered) {
      ASSERT_EQ(sub_.commands[answered].size(), 2u);
      EXPECT_EQ(sub_.commands[answered][0], "SUBSCRIBE");
      replies += confirm(sub_.commands[answered][1], int(answered + 1));
    }
    sub_.write(replies);
  }
  ASSERT_TRUE(run_until([&] { return ev_.subscribed.size() == 1200; }));
  for (const std::string& s : ev_.subscribed) EXPECT_NE(s.find(" restored"), std::string::npos) << s;
  EXPECT_EQ(metrics_.broker_resubscribed.get(), 1200u);
  EXPECT_EQ(metrics_.broker_up.get(), 1);
}

TEST_F(RedisBrokerTest, PublishesAreAnsweredInOrderWithOurEnvelope) {
  start();
  accept_both(false);
  broker_->publish("news", R"({"a":1})", 11);
  broker_->publish("news", "2", 12);
  broker_->publish("x", "3", 13);
  ASSERT_TRUE(run_until([&] { pub_.read(); return pub_.commands.size() == 3; }));
  for (const auto& c : pub_.commands) {
    ASSERT_EQ(c.size(), 3u);
    EXPECT_EQ(c[0], "PUBLISH");
    const pubsub::Envelope env = pubsub::decode_envelope(c[2]);
    EXPECT_TRUE(env.ours) << c[2];
    EXPECT_EQ(env.node, 0x0123456789abcdefull);
  }
  EXPECT_EQ(pubsub::decode_envelope(pub_.commands[0][2]).payload, R"({"a":1})");
  EXPECT_EQ(pub_.commands[2][1], "x");
  EXPECT_TRUE(ev_.published.empty()) << "acked before Redis answered";
  pub_.write(":2\r\n-ERR nope\r\n:0\r\n");
  ASSERT_TRUE(run_until([&] { return ev_.published.size() == 3; }));
  EXPECT_EQ(ev_.published, (std::vector<std::string>{"11 ok 2", "12 unavailable 0", "13 ok 0"}));
  EXPECT_EQ(metrics_.broker_publish_failures.get(), 1u);
  EXPECT_EQ(metrics_.broker_latency_count.get(), 4u);  // with the probe
}

TEST_F(RedisBrokerTest, MessagesInRawOrEnvelopedOnlyForSubscribedTopics) {
  start();
  accept_both(false);
  broker_->subscribe("chat");
  ASSERT_TRUE(run_until([&] { sub_.read(); return sub_.count("SUBSCRIBE") == 1; }));
  sub_.write(confirm("chat", 1));
  ASSERT_TRUE(run_until([&] { return ev_.subscribed.size() == 1; }));
  EXPECT_EQ(ev_.subscribed[0], "chat") << "subscribed while up: not restored";
  char head[pubsub::kEnvelopeMax];
  const std::size_t n = pubsub::encode_envelope(head, sizeof head, 42, realtime_ms(), 0);
  sub_.write(push("message", "chat", "hello world") + push("message", "chat", R"({"a": [1, 2]})") +
             push("message", "other", "1") + push("message", "chat", std::string(head, n) + "[true]"));
  ASSERT_TRUE(run_until([&] { return ev_.messages.size() == 3; }));
  settle();
  EXPECT_EQ(ev_.messages, (std::vector<std::string>{R"(chat "hello world")", R"(chat {"a": [1, 2]})", "chat [true]"}));
  EXPECT_EQ(metrics_.broker_messages.get(), 3u) << "the message for a topic we do not hold is not counted";
}

TEST_F(RedisBrokerTest, LostPublisherConnectionFailsWaitingAndRefusesAtOnce) {
  start();
  accept_both(false);
  broker_->publish("t", "1", 21);
  ASSERT_TRUE(run_until([&] { pub_.read(); return pub_.commands.size() == 1; }));
  ::close(pub_.fd);
  pub_.fd = -1;
  ASSERT_TRUE(run_until([&] { return !broker_->up(); }));
  EXPECT_EQ(ev_.published, (std::vector<std::string>{"21 unavailable 0"})) << "failed, not kept";
  EXPECT_EQ(metrics_.broker_up.get(), 0);
  EXPECT_EQ(ev_.downs, 1);
  EXPECT_EQ(ev_.lost, 0) << "the subscriber connection is still there";
  // The publisher connection comes back after its backoff.
  const int again = accept_one();
  ASSERT_GE(again, 0);
  pub_ = Peer{again};
  ASSERT_TRUE(run_until([&] { return broker_->up(); }));
  EXPECT_EQ(metrics_.broker_reconnects.get(), 1u);
  EXPECT_EQ(metrics_.broker_up.get(), 1);
}

TEST_F(RedisBrokerTest, RefusedWhileDownWithoutWaiting) {
  start();
  broker_->publish("t", "1", 31);  // not connected yet
  EXPECT_EQ(ev_.published, (std::vector<std::string>{"31 unavailable 0"})) << "answered before publish() returned";
  EXPECT_EQ(metrics_.broker_publish_failures.get(), 1u);
}

TEST_F(RedisBrokerTest, PingsFindAServerThatStoppedAnswering) {
  cfg_.ping_interval_ms = 100;
  start();
  accept_both(false);
  ASSERT_TRUE(run_until([&] { sub_.read(); pub_.read(); return sub_.count("PING") >= 1 && pub_.count("PING") >= 1; }));
  // Nobody answers: both connections are dropped two intervals after their ping, and come back.
  const std::uint64_t t0 = monotonic_ms();
  ASSERT_TRUE(run_until([&] { return !broker_->up(); }, 1000));
  EXPECT_LT(monotonic_ms() - t0, 700u) << "two intervals (200 ms) after the ping, plus scheduling";
  const int again = accept_one(1500);
  EXPECT_GE(again, 0) << "no reconnect";
  if (again >= 0) ::close(again);
}

}  // namespace
}  // namespace ringgate::pubsub
