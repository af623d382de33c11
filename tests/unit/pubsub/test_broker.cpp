// MemoryBroker (the embedded loopback) and topic_owner(): a publish is delivered, then acknowledged,
// before publish() returns; the owner of a topic is a stable FNV-1a hash in range, spread evenly.
#include "ringgate/pubsub/broker.hpp"

#include <gtest/gtest.h>

#include <memory>

#include <string>
#include <vector>

namespace ringgate::pubsub {
namespace {

struct Recorder final : Broker::Events {
  std::vector<std::string> log;
  void on_message(std::string_view topic, std::string_view data, std::uint64_t published_ns) noexcept override {
    log.push_back("msg " + std::string(topic) + " " + std::string(data) + (published_ns != 0 ? " at" : ""));
  }
  void on_published(std::uint64_t token, PublishResult result, std::uint64_t receivers) noexcept override {
    log.push_back("pub " + std::to_string(token) + (result == PublishResult::ok ? " ok" : " unavailable") +
                  (receivers != 0 ? " to " + std::to_string(receivers) : ""));
  }
  void on_subscribed(std::string_view topic, bool restored) noexcept override {
    log.push_back("subscribed " + std::string(topic) + (restored ? " restored" : ""));
  }
  void on_subscriptions_lost() noexcept override { log.push_back("lost"); }
  void on_state(bool up) noexcept override { log.push_back(up ? "up" : "down"); }
};

TEST(MemoryBroker, PublishLoopsBackThenAcknowledges) {
  Recorder ev;
  MemoryBroker b(ev);
  EXPECT_TRUE(b.up());
  EXPECT_STREQ(b.name(), "embedded");
  b.publish("news", R"({"x":1})", 77);
  EXPECT_EQ(ev.log, (std::vector<std::string>{R"(msg news {"x":1})", "pub 77 ok"}))
      << "delivered first, acknowledged second, both before publish() returned";
  b.publish("other", "null", 0);
  b.publish("news", "[]", ~std::uint64_t(0));
  ASSERT_EQ(ev.log.size(), 6u);
  EXPECT_EQ(ev.log[2], "msg other null");
  EXPECT_EQ(ev.log[3], "pub 0 ok");
  EXPECT_EQ(ev.log[4], "msg news []");
  EXPECT_EQ(ev.log[5], "pub 18446744073709551615 ok") << "the token is passed back untouched";
}

TEST(MemoryBroker, SubscribeIsConfirmedAtOnceAndUnsubscribeRaisesNothing) {
  Recorder ev;
  MemoryBroker b(ev);
  EXPECT_TRUE(b.subscribing());
  EXPECT_TRUE(b.loopback()) << "the fan-out layer numbers a loopback's publish before acking it";
  b.subscribe("news");
  EXPECT_EQ(ev.log, (std::vector<std::string>{"subscribed news"})) << "confirmed before subscribe() returns, never restored";
  ev.log.clear();
  b.unsubscribe("news");
  b.unsubscribe("never");
  EXPECT_TRUE(ev.log.empty());
  // Delivered whether or not anybody subscribed (the fan-out layer decides who gets it).
  b.publish("nobody", "1", 5);
  EXPECT_EQ(ev.log, (std::vector<std::string>{"msg nobody 1", "pub 5 ok"}));
}

TEST(MemoryBroker, WorksThroughTheBaseInterface) {
  Recorder ev;
  std::unique_ptr<Broker> b = std::make_unique<MemoryBroker>(ev);
  b->publish("t", "true", 9);
  EXPECT_EQ(ev.log, (std::vector<std::string>{"msg t true", "pub 9 ok"}));
}

// The owner is standard FNV-1a 64 of the name modulo the worker count, so anything outside the
// gateway (an external broker's partitioning, a load tool) can compute it too.
TEST(TopicOwner, IsFnv1aModuloWorkers) {
  // Known FNV-1a 64 values: "" -> 0xcbf29ce484222325, "a" -> 0xaf63dc4c8601ec8c.
  for (unsigned w : {1u, 2u, 3u, 7u, 64u}) {
    EXPECT_EQ(topic_owner("", w), unsigned(0xcbf29ce484222325ull % w)) << w;
    EXPECT_EQ(topic_owner("a", w), unsigned(0xaf63dc4c8601ec8cull % w)) << w;
  }
}

TEST(TopicOwner, StableAndInRange) {
  for (unsigned w = 1; w <= 64; ++w) {
    for (int i = 0; i < 500; ++i) {
      const std::string t = "room." + std::to_string(i);
      const unsigned o = topic_owner(t, w);
      ASSERT_LT(o, w) << t << " over " << w;
      ASSERT_EQ(topic_owner(t, w), o) << "same name, same owner";
      ASSERT_EQ(topic_owner(std::string(t), w), o) << "depends on the bytes, not the buffer";
    }
  }
  EXPECT_EQ(topic_owner("x", 1), 0u);
  EXPECT_EQ(topic_owner("x", 0), 0u) << "zero workers never divides by zero";
  EXPECT_NE(topic_owner("news", 64), topic_owner("newt", 64)) << "one byte changes the owner (this pair)";
}

TEST(TopicOwner, SpreadsTopicsOverWorkers) {
  // Three naming styles; every worker gets more than half its fair share of 10000 topics.
  const char* styles[] = {"topic.", "user:", "a/b/c/"};
  for (const char* style : styles) {
    for (unsigned w = 2; w <= 8; ++w) {
      std::vector<unsigned> count(w, 0);
      for (int i = 0; i < 10000; ++i) ++count[topic_owner(style + std::to_string(i), w)];
      const unsigned fair = 10000 / w;
      for (unsigned k = 0; k < w; ++k) {
        EXPECT_GT(count[k], fair / 2) << style << " over " << w << " workers: worker " << k << " got " << count[k];
      }
    }
  }
}

}  // namespace
}  // namespace ringgate::pubsub
