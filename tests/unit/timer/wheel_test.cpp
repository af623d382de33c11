// Deterministic timer wheel tests with a manual clock: firing times, re-arm, cancel, callbacks that
// mutate the wheel, cascades, wrap-around of each level, overflow and next_deadline_ms().
#include "ringgate/timer/wheel.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace ringgate::timer {
namespace {

static_assert(sizeof(Entry) == 24, "Entry is two links and a deadline");

// Entries are declared before the wheel so the wheel (destroyed first) disarms them.
struct Harness {
  explicit Harness(std::size_t n, std::uint64_t now_ms = 0, std::uint32_t tick_ms = 10)
      : entries(n), wheel(now_ms, tick_ms) {}

  std::size_t id(const Entry& e) const { return std::size_t(&e - entries.data()); }

  // Advances and records the ids fired, in firing order.
  std::vector<std::size_t> advance(std::uint64_t now_ms) {
    std::vector<std::size_t> fired;
    const std::size_t n = wheel.advance(now_ms, [&](Entry& e) {
      EXPECT_FALSE(e.armed());
      EXPECT_LE(e.deadline_ms(), now_ms);
      fired.push_back(id(e));
    });
    EXPECT_EQ(n, fired.size());
    EXPECT_TRUE(wheel.check_invariants());
    return fired;
  }

  // Advances one millisecond at a time up to `until_ms`; returns when `id` fired (0 if never).
  std::uint64_t fire_time(std::size_t which, std::uint64_t from_ms, std::uint64_t until_ms) {
    for (std::uint64_t t = from_ms; t <= until_ms; ++t) {
      for (std::size_t f : advance(t)) {
        if (f == which) return t;
      }
    }
    return 0;
  }

  std::vector<Entry> entries;
  Wheel wheel;
};

using Ids = std::vector<std::size_t>;

TEST(TimerWheel, EntryStartsDisarmed) {
  Entry e;
  EXPECT_FALSE(e.armed());
  Wheel w(0);
  EXPECT_TRUE(w.empty());
  EXPECT_EQ(w.next_deadline_ms(), Wheel::kNever);
  EXPECT_EQ(w.advance(1'000'000, [](Entry&) { ADD_FAILURE(); }), 0u);
}

TEST(TimerWheel, FiresAtAlignedDeadlineNotBefore) {
  Harness h(1);
  h.wheel.arm(h.entries[0], 100);
  EXPECT_TRUE(h.entries[0].armed());
  EXPECT_EQ(h.wheel.size(), 1u);
  EXPECT_EQ(h.advance(99), Ids{});
  EXPECT_EQ(h.advance(100), Ids{0});
  EXPECT_FALSE(h.entries[0].armed());
  EXPECT_EQ(h.wheel.size(), 0u);
  EXPECT_EQ(h.advance(10'000), Ids{});
}

TEST(TimerWheel, UnalignedDeadlineFiresWithinOneTick) {
  Harness h(1, 3);
  h.wheel.arm(h.entries[0], 105);
  EXPECT_EQ(h.fire_time(0, 4, 200), 110u);  // rounded up to the tick grid, never early
}

TEST(TimerWheel, EveryDeadlineInARangeFiresInItsWindow) {
  Harness h(300, 0, 10);
  for (std::size_t i = 0; i < h.entries.size(); ++i) h.wheel.arm(h.entries[i], 1 + i * 7);
  std::vector<std::uint64_t> when(h.entries.size(), 0);
  for (std::uint64_t t = 1; t <= 3000; ++t) {
    for (std::size_t f : h.advance(t)) when[f] = t;
  }
  for (std::size_t i = 0; i < h.entries.size(); ++i) {
    const std::uint64_t d = 1 + i * 7;
    EXPECT_GE(when[i], d) << i;
    EXPECT_EQ(when[i], (d + 9) / 10 * 10) << i;
  }
}

TEST(TimerWheel, PastAndPresentDeadlinesFireOnNextAdvance) {
  Harness h(3, 1000);
  h.wheel.arm(h.entries[0], 500);
  h.wheel.arm(h.entries[1], 1000);
  h.wheel.arm(h.entries[2], 0);
  EXPECT_EQ(h.wheel.next_deadline_ms(), 1000u);
  Ids fired = h.advance(1000);  // same instant, still fires
  std::sort(fired.begin(), fired.end());
  EXPECT_EQ(fired, (Ids{0, 1, 2}));
  EXPECT_EQ(h.wheel.next_deadline_ms(), Wheel::kNever);
}

TEST(TimerWheel, ReArmEarlierAndLater) {
  Harness h(2);
  h.wheel.arm(h.entries[0], 500);
  h.wheel.arm(h.entries[0], 200);  // earlier
  h.wheel.arm(h.entries[1], 300);
  h.wheel.arm(h.entries[1], 900);  // later, moved eagerly
  EXPECT_EQ(h.wheel.size(), 2u);
  EXPECT_EQ(h.advance(199), Ids{});
  EXPECT_EQ(h.advance(200), Ids{0});
  EXPECT_EQ(h.advance(899), Ids{});
  EXPECT_EQ(h.advance(900), Ids{1});
  EXPECT_EQ(h.wheel.stats().relinked, 0u);
}

TEST(TimerWheel, CancelPreventsFiringAndIsIdempotent) {
  Harness h(3);
  h.wheel.arm(h.entries[0], 50);
  h.wheel.arm(h.entries[1], 50);
  h.wheel.arm(h.entries[2], 70'000);  // level 1
  h.wheel.cancel(h.entries[0]);
  h.wheel.cancel(h.entries[0]);
  h.wheel.cancel(h.entries[2]);
  EXPECT_FALSE(h.entries[0].armed());
  EXPECT_EQ(h.wheel.size(), 1u);
  EXPECT_EQ(h.wheel.next_deadline_ms(), 50u);
  EXPECT_EQ(h.advance(100'000), Ids{1});
  Entry never_armed;
  h.wheel.cancel(never_armed);
  EXPECT_EQ(h.wheel.size(), 0u);
}

TEST(TimerWheel, CancelEmptiesSlotBitSoNextDeadlineMovesOn) {
  Harness h(2);
  h.wheel.arm(h.entries[0], 100);
  h.wheel.arm(h.entries[1], 300);
  EXPECT_EQ(h.wheel.next_deadline_ms(), 100u);
  h.wheel.cancel(h.entries[0]);
  EXPECT_EQ(h.wheel.next_deadline_ms(), 300u);
  h.wheel.cancel(h.entries[1]);
  EXPECT_EQ(h.wheel.next_deadline_ms(), Wheel::kNever);
  EXPECT_EQ(h.advance(1000), Ids{});
  EXPECT_EQ(h.wheel.stats().slots_visited, 0u);
}

TEST(TimerWheel, CallbackCancellingItselfIsNoOp) {
  Harness h(2);
  h.wheel.arm(h.entries[0], 10);
  h.wheel.arm(h.entries[1], 10);
  const std::size_t n = h.wheel.advance(10, [&](Entry& e) { h.wheel.cancel(e); });
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(h.wheel.size(), 0u);
  EXPECT_TRUE(h.wheel.check_invariants());
}

TEST(TimerWheel, CallbackCancelsOtherDueEntrySameSlot) {
  Harness h(2);
  h.wheel.arm(h.entries[0], 20);
  h.wheel.arm(h.entries[1], 20);
  Ids fired;
  h.wheel.advance(20, [&](Entry& e) {
    fired.push_back(h.id(e));
    h.wheel.cancel(h.entries[1 - h.id(e)]);
  });
  EXPECT_EQ(fired.size(), 1u);
  EXPECT_EQ(h.wheel.size(), 0u);
  EXPECT_FALSE(h.entries[0].armed() || h.entries[1].armed());
}

TEST(TimerWheel, CallbackCancelsOtherDueEntryLaterSlotAndLevel) {
  Harness h(3);
  h.wheel.arm(h.entries[0], 20);
  h.wheel.arm(h.entries[1], 500);     // later level-0 slot, due in the same advance
  h.wheel.arm(h.entries[2], 40'000);  // level 1, due in the same advance
  Ids fired;
  h.wheel.advance(50'000, [&](Entry& e) {
    fired.push_back(h.id(e));
    if (h.id(e) == 0) {
      h.wheel.cancel(h.entries[1]);
      h.wheel.cancel(h.entries[2]);
    }
  });
  EXPECT_EQ(fired, Ids{0});
  EXPECT_TRUE(h.wheel.empty());
  EXPECT_TRUE(h.wheel.check_invariants());
}

TEST(TimerWheel, FiresInTickOrderAcrossOneAdvance) {
  Harness h(4);
  h.wheel.arm(h.entries[0], 90'000);
  h.wheel.arm(h.entries[1], 30);
  h.wheel.arm(h.entries[2], 3'000);
  h.wheel.arm(h.entries[3], 700);
  EXPECT_EQ(h.advance(100'000), (Ids{1, 3, 2, 0}));
}

TEST(TimerWheel, PeriodicReArmFromCallback) {
  Harness h(1);
  h.wheel.arm(h.entries[0], 50);
  std::vector<std::uint64_t> times;
  for (std::uint64_t t = 0; t <= 1000; t += 10) {
    h.wheel.advance(t, [&](Entry& e) {
      times.push_back(t);
      h.wheel.arm(e, e.deadline_ms() + 50);
    });
  }
  ASSERT_EQ(times.size(), 20u);
  for (std::size_t i = 0; i < times.size(); ++i) EXPECT_EQ(times[i], 50 * (i + 1));
}

TEST(TimerWheel, ReArmInCallbackWithPastDeadlineWaitsForNextAdvance) {
  Harness h(1);
  h.wheel.arm(h.entries[0], 10);
  int calls = 0;
  auto rearm_in_past = [&](Entry& e) {
    ++calls;
    h.wheel.arm(e, 0);
  };
  EXPECT_EQ(h.wheel.advance(100, rearm_in_past), 1u);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(h.entries[0].armed());
  EXPECT_EQ(h.wheel.next_deadline_ms(), 100u);
  EXPECT_EQ(h.wheel.advance(100, rearm_in_past), 1u);
  EXPECT_EQ(calls, 2);
  h.wheel.cancel(h.entries[0]);
}

TEST(TimerWheel, CallbackArmsAnotherEntryDueLaterInSameAdvance) {
  Harness h(2);
  h.wheel.arm(h.entries[0], 100);
  Ids fired;
  h.wheel.advance(1000, [&](Entry& e) {
    fired.push_back(h.id(e));
    if (h.id(e) == 0) h.wheel.arm(h.entries[1], 500);  // past by now: next advance
  });
  EXPECT_EQ(fired, Ids{0});
  EXPECT_EQ(h.advance(1000), Ids{1});
}

TEST(TimerWheel, CascadesFromEveryLevelFireOnTime) {
  // Tick 1 ms: each deadline starts on a different level (2^8, 2^16, 2^24 ticks per level).
  Harness h(4, 0, 1);
  const std::uint64_t d[4] = {200, 60'000, 10'000'000, 3'000'000'000};
  for (int i = 0; i < 4; ++i) h.wheel.arm(h.entries[i], d[i]);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(h.advance(d[i] - 1), Ids{}) << i;
    EXPECT_LE(h.wheel.next_deadline_ms(), d[i]);
    EXPECT_EQ(h.advance(d[i]), Ids{std::size_t(i)}) << i;
  }
  EXPECT_GT(h.wheel.stats().relinked, 3u);
}

TEST(TimerWheel, ManyTimersAtOneTick) {
  Harness h(10'000);
  for (Entry& e : h.entries) h.wheel.arm(e, 12'340);
  EXPECT_EQ(h.advance(12'339), Ids{});
  Ids fired = h.advance(12'340);
  ASSERT_EQ(fired.size(), h.entries.size());
  std::sort(fired.begin(), fired.end());
  for (std::size_t i = 0; i < fired.size(); ++i) EXPECT_EQ(fired[i], i);
  EXPECT_TRUE(h.wheel.empty());
}

// For each level, starts just before a block boundary of that level and arms deadlines that cross
// it: one tick past, one block past, and several blocks past.
TEST(TimerWheel, WrapAroundOfEveryLevel) {
  for (unsigned level = 0; level < Wheel::kLevels; ++level) {
    const std::uint64_t block = std::uint64_t{1} << ((level + 1) * Wheel::kSlotBits);
    const std::uint64_t start = 3 * block - 2;  // ticks (= ms with tick 1)
    Harness h(4, start, 1);
    const std::uint64_t d[4] = {start + 1, start + 3, start + 2 + block, start + 5 * block + 7};
    for (int i = 0; i < 4; ++i) h.wheel.arm(h.entries[i], d[i]);
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(h.advance(d[i] - 1), Ids{}) << level << " " << i;
      EXPECT_EQ(h.advance(d[i]), Ids{std::size_t(i)}) << level << " " << i;
    }
  }
}

TEST(TimerWheel, FarFutureBeyondTopLevelUsesOverflow) {
  const std::uint64_t rotation = std::uint64_t{1} << 32;  // ticks in the whole wheel
  Harness h(4, 5, 1);
  const std::uint64_t d[4] = {rotation + 3, 3 * rotation + 11, 40 * rotation, Wheel::kNever - 1};
  for (int i = 0; i < 4; ++i) h.wheel.arm(h.entries[i], d[i]);
  EXPECT_EQ(h.wheel.next_deadline_ms(), rotation);  // start of the next rotation: early, not late
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(h.advance(d[i] - 1), Ids{}) << i;
    EXPECT_EQ(h.advance(d[i]), Ids{std::size_t(i)}) << i;
  }
  EXPECT_EQ(h.advance(Wheel::kNever - 2), Ids{});
  EXPECT_EQ(h.advance(Wheel::kNever - 1), Ids{3});
}

TEST(TimerWheel, OverflowNearEndOfRotation) {
  // The wheel sits 3 ticks before its top rotation ends; a deadline 10 ticks ahead does not fit
  // any level and must still fire exactly on time.
  const std::uint64_t rotation = std::uint64_t{1} << 32;
  Harness h(1, rotation - 3, 1);
  h.wheel.arm(h.entries[0], rotation + 7);
  EXPECT_EQ(h.fire_time(0, rotation - 3, rotation + 20), rotation + 7);
}

TEST(TimerWheel, MaximalDeadlineWithCoarseTickNeverFires) {
  // kNever rounded up to a 1 s tick lies past the end of time: it must not fire early, even at
  // now = kNever, and must not wrap around either.
  Harness h(2, 0, 1000);
  h.wheel.arm(h.entries[0], Wheel::kNever);
  h.wheel.arm(h.entries[1], Wheel::kNever - 1000);
  EXPECT_EQ(h.advance(Wheel::kNever - 1001), Ids{});
  EXPECT_EQ(h.advance(Wheel::kNever), Ids{1});
  EXPECT_TRUE(h.entries[0].armed());
  EXPECT_EQ(h.wheel.next_deadline_ms(), Wheel::kNever);
  h.wheel.cancel(h.entries[0]);
}

TEST(TimerWheel, PushLaterIsLazy) {
  Harness h(1);
  h.wheel.arm(h.entries[0], 100);
  h.wheel.push_later(h.entries[0], 250);
  h.wheel.push_later(h.entries[0], 400);
  EXPECT_EQ(h.entries[0].deadline_ms(), 400u);
  EXPECT_EQ(h.wheel.next_deadline_ms(), 100u);  // still in its old slot: an early bound
  EXPECT_EQ(h.advance(100), Ids{});
  EXPECT_EQ(h.wheel.stats().relinked, 1u);
  EXPECT_EQ(h.wheel.next_deadline_ms(), 400u);
  EXPECT_EQ(h.advance(399), Ids{});
  EXPECT_EQ(h.advance(400), Ids{0});
}

TEST(TimerWheel, PushLaterEarlierOrDisarmedActsAsArm) {
  Harness h(2);
  h.wheel.arm(h.entries[0], 500);
  h.wheel.push_later(h.entries[0], 100);  // earlier: moved now
  h.wheel.push_later(h.entries[1], 200);  // not armed: armed
  EXPECT_EQ(h.wheel.next_deadline_ms(), 100u);
  EXPECT_EQ(h.advance(100), Ids{0});
  EXPECT_EQ(h.advance(200), Ids{1});
  EXPECT_EQ(h.wheel.stats().relinked, 0u);
}

TEST(TimerWheel, PushLaterOnDueEntry) {
  Harness h(2, 1000);
  h.wheel.arm(h.entries[0], 900);  // due
  h.wheel.arm(h.entries[1], 900);  // due
  h.wheel.push_later(h.entries[0], 1500);
  h.wheel.push_later(h.entries[1], 950);  // still past: still fires on the next advance
  EXPECT_EQ(h.advance(1000), Ids{1});
  EXPECT_EQ(h.advance(1499), Ids{});
  EXPECT_EQ(h.advance(1500), Ids{0});
}

TEST(TimerWheel, PushLaterFromCallbackOnPendingEntry) {
  Harness h(2);
  h.wheel.arm(h.entries[0], 100);
  h.wheel.arm(h.entries[1], 100);
  Ids fired;
  h.wheel.advance(100, [&](Entry& e) {
    fired.push_back(h.id(e));
    h.wheel.push_later(h.entries[1 - h.id(e)], 300);
  });
  EXPECT_EQ(fired.size(), 1u);
  const std::size_t other = 1 - fired[0];
  EXPECT_EQ(h.advance(299), Ids{});
  EXPECT_EQ(h.advance(300), Ids{other});
}

TEST(TimerWheel, NextDeadlineTracksEarliest) {
  Harness h(4);
  EXPECT_EQ(h.wheel.next_deadline_ms(), Wheel::kNever);
  h.wheel.arm(h.entries[0], 900);
  EXPECT_EQ(h.wheel.next_deadline_ms(), 900u);
  h.wheel.arm(h.entries[1], 250);
  EXPECT_EQ(h.wheel.next_deadline_ms(), 250u);
  h.wheel.arm(h.entries[2], 255);  // rounds up to 260: 250 stays the earliest
  EXPECT_EQ(h.wheel.next_deadline_ms(), 250u);
  h.wheel.cancel(h.entries[1]);
  EXPECT_EQ(h.wheel.next_deadline_ms(), 260u);
  h.wheel.cancel(h.entries[2]);
  h.wheel.cancel(h.entries[0]);
  // Level 1 (tick 10: 2560 ms per slot): the bound is the slot start, refined after the cascade.
  h.wheel.arm(h.entries[3], 10'005);
  EXPECT_EQ(h.wheel.next_deadline_ms(), 7'680u);
  EXPECT_EQ(h.advance(7'680), Ids{});
  EXPECT_EQ(h.wheel.next_deadline_ms(), 10'010u);
  h.wheel.arm(h.entries[0], 1);  // past
  EXPECT_EQ(h.wheel.next_deadline_ms(), 7'680u);
}

TEST(TimerWheel, HugeTimeJumpSkipsEmptyRanges) {
  Harness h(1000, 0, 1);
  const std::uint64_t ten_years_ms = 10ull * 365 * 24 * 3600 * 1000;
  for (std::size_t i = 0; i < h.entries.size(); ++i) {
    h.wheel.arm(h.entries[i], 1 + i * (ten_years_ms / h.entries.size()));
  }
  EXPECT_EQ(h.advance(2 * ten_years_ms).size(), 1000u);
  // Each entry is relinked at most once per level below its start (plus overflow rounds), so the
  // slots visited are bounded by the entries, not by the 3e11 ticks crossed.
  EXPECT_LT(h.wheel.stats().slots_visited, 1000u * (Wheel::kLevels + 1) + 100);

  Harness one(1, 0, 1);
  one.wheel.arm(one.entries[0], ten_years_ms);
  EXPECT_EQ(one.advance(ten_years_ms), Ids{0});
  EXPECT_LT(one.wheel.stats().slots_visited, 100u);
}

TEST(TimerWheel, TimeGoingBackwardsFiresNothing) {
  Harness h(1, 1000);
  h.wheel.arm(h.entries[0], 1200);
  EXPECT_EQ(h.advance(500), Ids{});
  EXPECT_EQ(h.wheel.now_ms(), 1000u);
  EXPECT_EQ(h.advance(1200), Ids{0});
}

TEST(TimerWheel, DestroyingWheelDisarmsEntries) {
  std::vector<Entry> entries(3);
  {
    Wheel w(0);
    w.arm(entries[0], 5);          // level 0
    w.arm(entries[1], 1);          // level 0
    w.arm(entries[2], 1ull << 45); // overflow
  }
  for (const Entry& e : entries) EXPECT_FALSE(e.armed());
}

}  // namespace
}  // namespace ringgate::timer
