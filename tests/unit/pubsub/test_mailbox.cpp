// Mailbox (SPSC ring): capacity rounding, full/empty edges, FIFO order across wrap-around, depth(),
// and a two-thread stress run that checks every entry arrives once, in order, with its payload.
#include "ringgate/pubsub/mailbox.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

namespace ringgate::pubsub {
namespace {

MailEntry entry(std::uint64_t i) {
  MailEntry e;
  e.kind = std::uint32_t(i % 7);
  e.a = std::uint32_t(i * 3);
  e.b = i;
  e.p = reinterpret_cast<void*>(std::uintptr_t(i * 16 + 8));
  return e;
}

std::vector<MailEntry> drain_all(Mailbox& m) {
  std::vector<MailEntry> out;
  const std::size_t n = m.drain([&](const MailEntry& e) { out.push_back(e); });
  EXPECT_EQ(n, out.size()) << "drain() returns how many it handed out";
  return out;
}

TEST(Mailbox, CapacityRoundsUpToAPowerOfTwoOfAtLeastTwo) {
  EXPECT_EQ(Mailbox(0).capacity(), 2u);
  EXPECT_EQ(Mailbox(1).capacity(), 2u);
  EXPECT_EQ(Mailbox(2).capacity(), 2u);
  EXPECT_EQ(Mailbox(3).capacity(), 4u);
  EXPECT_EQ(Mailbox(4).capacity(), 4u);
  EXPECT_EQ(Mailbox(5).capacity(), 8u);
  EXPECT_EQ(Mailbox(1000).capacity(), 1024u);
  EXPECT_EQ(Mailbox(1024).capacity(), 1024u);
  EXPECT_EQ(Mailbox(1025).capacity(), 2048u);
  EXPECT_EQ(Mailbox().capacity(), 4096u);
}

TEST(Mailbox, PushUntilFullThenFails) {
  for (std::size_t asked : {2u, 3u, 8u, 100u}) {
    Mailbox m(asked);
    const std::size_t cap = m.capacity();
    for (std::size_t i = 0; i < cap; ++i) {
      ASSERT_TRUE(m.push(entry(i))) << "capacity " << cap << " entry " << i;
      EXPECT_EQ(m.depth(), i + 1);
    }
    EXPECT_FALSE(m.push(entry(cap))) << "a full ring refuses, capacity " << cap;
    EXPECT_FALSE(m.push(entry(cap + 1))) << "and keeps refusing";
    EXPECT_EQ(m.depth(), cap) << "a refused push changes nothing";
    const auto got = drain_all(m);
    ASSERT_EQ(got.size(), cap);
    for (std::size_t i = 0; i < cap; ++i) EXPECT_EQ(got[i].b, i) << "the refused entries never got in";
  }
}

TEST(Mailbox, DrainIsFifoAndCopiesEveryField) {
  Mailbox m(16);
  for (std::uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(m.push(entry(i)));
  const auto got = drain_all(m);
  ASSERT_EQ(got.size(), 10u);
  for (std::uint64_t i = 0; i < 10; ++i) {
    const MailEntry want = entry(i);
    EXPECT_EQ(got[i].kind, want.kind);
    EXPECT_EQ(got[i].a, want.a);
    EXPECT_EQ(got[i].b, want.b);
    EXPECT_EQ(got[i].p, want.p);
  }
  EXPECT_EQ(m.depth(), 0u);
}

TEST(Mailbox, EmptyDrainCallsNothing) {
  Mailbox m(4);
  int calls = 0;
  EXPECT_EQ(m.drain([&](const MailEntry&) { ++calls; }), 0u);
  EXPECT_EQ(calls, 0);
  ASSERT_TRUE(m.push(entry(1)));
  EXPECT_EQ(m.drain([&](const MailEntry&) { ++calls; }), 1u);
  EXPECT_EQ(m.drain([&](const MailEntry&) { ++calls; }), 0u) << "a drained entry is not handed out twice";
  EXPECT_EQ(calls, 1);
}

TEST(Mailbox, DrainFreesRoomAndOrderHoldsAcrossWrapAround) {
  // Capacity 4, pushed and drained in uneven batches for many laps: indices wrap many times.
  Mailbox m(4);
  std::uint64_t next_push = 0, next_pop = 0;
  for (int round = 0; round < 1000; ++round) {
    const int batch = 1 + round % 4;
    for (int k = 0; k < batch; ++k) ASSERT_TRUE(m.push(entry(next_push++))) << "round " << round;
    EXPECT_EQ(m.depth(), std::size_t(batch));
    for (const MailEntry& e : drain_all(m)) ASSERT_EQ(e.b, next_pop++);
    EXPECT_EQ(m.depth(), 0u);
  }
  EXPECT_EQ(next_pop, next_push);
}

TEST(Mailbox, PartialDrainThenRefill) {
  Mailbox m(4);
  for (std::uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(m.push(entry(i)));
  ASSERT_FALSE(m.push(entry(99)));
  ASSERT_EQ(drain_all(m).size(), 4u);
  // Room again: the producer's cached head is stale and must be refreshed, not trusted.
  for (std::uint64_t i = 4; i < 8; ++i) ASSERT_TRUE(m.push(entry(i)));
  EXPECT_FALSE(m.push(entry(99)));
  const auto got = drain_all(m);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got.front().b, 4u);
  EXPECT_EQ(got.back().b, 7u);
}

TEST(Mailbox, TwoThreadStressKeepsOrderAndCount) {
  constexpr std::uint64_t kCount = 1'000'000;
  Mailbox m(256);  // small: the producer meets a full ring often
  std::atomic<bool> stop{false};
  std::uint64_t full_retries = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);

  std::thread producer([&] {
    for (std::uint64_t i = 0; i < kCount; ++i) {
      while (!m.push(entry(i))) {
        ++full_retries;
        if (stop.load(std::memory_order_relaxed)) return;
        std::this_thread::yield();
      }
    }
  });

  std::uint64_t received = 0, out_of_order = 0, bad_payload = 0;
  std::size_t max_depth = 0;
  while (received < kCount && std::chrono::steady_clock::now() < deadline) {
    const std::size_t d = m.depth();
    if (d > max_depth) max_depth = d;
    const std::size_t n = m.drain([&](const MailEntry& e) {
      if (e.b != received) ++out_of_order;
      const MailEntry want = entry(e.b);
      if (e.kind != want.kind || e.a != want.a || e.p != want.p) ++bad_payload;
      ++received;
    });
    if (n == 0) std::this_thread::yield();
  }
  stop.store(true);
  producer.join();

  EXPECT_EQ(received, kCount) << "timed out or lost entries";
  EXPECT_EQ(out_of_order, 0u);
  EXPECT_EQ(bad_payload, 0u) << "an entry was read before its slot was fully written";
  EXPECT_LE(max_depth, m.capacity()) << "depth never exceeds capacity";
  EXPECT_EQ(m.depth(), 0u);
  // Nothing more arrives after the producer is done.
  EXPECT_EQ(m.drain([](const MailEntry&) {}), 0u);
  RecordProperty("full_retries", std::to_string(full_retries));
}

}  // namespace
}  // namespace ringgate::pubsub
