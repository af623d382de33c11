// Randomized differential test: a long random sequence of arm / push_later / cancel / advance
// (small steps and jumps of months), with callbacks that re-arm, push and cancel, checked against a
// std::multimap of deadline -> id. Each fire must be never early, never twice, never of an entry
// armed during the same advance, and every entry past its firing window must have fired.
#include "ringgate/timer/wheel.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <random>
#include <vector>

namespace ringgate::timer {
namespace {

struct RefEntry {
  bool armed = false;
  bool due_next = false;     // armed with a deadline already past: must fire on the next advance
  std::uint64_t epoch = 0;   // advance during which it was last (eagerly) armed
  std::multimap<std::uint64_t, std::size_t>::iterator it;
};

class Model {
 public:
  Model(std::size_t n, std::uint32_t tick_ms, std::uint64_t seed)
      : entries_(n), ref_(n), wheel_(1'000, tick_ms), tick_ms_(tick_ms), rng_(seed) {}

  void run(std::size_t ops) {
    for (std::size_t op = 0; op < ops && !::testing::Test::HasFailure(); ++op) {
      const unsigned r = pick(100);
      const std::size_t id = pick(entries_.size());
      if (r < 35) {
        arm(id, random_deadline());
      } else if (r < 55) {
        push_later(id, random_deadline());
      } else if (r < 65) {
        cancel(id);
      } else {
        advance(wheel_.now_ms() + random_step());
      }
      ASSERT_EQ(wheel_.size(), by_deadline_.size());
      if (op % 2048 == 0) {
        ASSERT_TRUE(wheel_.check_invariants()) << "op " << op;
      }
    }
    EXPECT_GT(fired_, ops / 20) << "the sequence should exercise firing";
  }

 private:
  std::uint64_t pick(std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng_); }

  std::uint64_t random_deadline() {
    const std::uint64_t now = wheel_.now_ms();
    const unsigned r = pick(100);
    if (r < 8) return now - std::min<std::uint64_t>(now, pick(2'000));   // past
    if (r < 14) return now + pick(2 * tick_ms_);                          // this or next tick
    if (r < 45) return now + pick(300);
    if (r < 70) return now + pick(60'000);
    if (r < 85) return now + pick(86'400'000);                            // a day
    if (r < 95) return now + pick(std::uint64_t{1} << 36);                // ~2 years
    if (r < 99) return now + pick(std::uint64_t{1} << 44);
    return Wheel::kNever - pick(1'000);
  }

  std::uint64_t random_step() {
    const unsigned r = pick(100);
    if (r < 70) return pick(3 * tick_ms_ + 1);
    if (r < 90) return pick(2'000);
    if (r < 97) return pick(86'400'000);
    return pick(std::uint64_t{1} << 34);  // ~200 days: crosses top-level rotations at tick 1
  }

  void forget(std::size_t id) {
    RefEntry& r = ref_[id];
    if (!r.armed) return;
    by_deadline_.erase(r.it);
    r.armed = false;
  }

  void remember(std::size_t id, std::uint64_t deadline_ms, bool due_next) {
    RefEntry& r = ref_[id];
    r.armed = true;
    r.due_next = due_next;
    r.it = by_deadline_.emplace(deadline_ms, id);
  }

  void arm(std::size_t id, std::uint64_t deadline_ms) {
    wheel_.arm(entries_[id], deadline_ms);
    forget(id);
    remember(id, deadline_ms, deadline_ms <= wheel_.now_ms());
    ref_[id].epoch = epoch_;
  }

  void push_later(std::size_t id, std::uint64_t deadline_ms) {
    RefEntry& r = ref_[id];
    if (!r.armed || deadline_ms < r.it->first) {
      wheel_.push_later(entries_[id], deadline_ms);
      forget(id);
      remember(id, deadline_ms, deadline_ms <= wheel_.now_ms());
      r.epoch = epoch_;
      return;
    }
    // Lazy: an entry still waiting in the due list keeps its "next advance" promise only while the
    // new deadline is past too; otherwise the guarantee is the rounded-up deadline.
    wheel_.push_later(entries_[id], deadline_ms);
    const bool due_next = r.due_next && deadline_ms <= wheel_.now_ms();
    forget(id);
    remember(id, deadline_ms, due_next);
  }

  void cancel(std::size_t id) {
    wheel_.cancel(entries_[id]);
    forget(id);
  }

  void on_fire(Entry& e, std::uint64_t now_ms) {
    const std::size_t id = std::size_t(&e - entries_.data());
    RefEntry& r = ref_[id];
    ASSERT_FALSE(e.armed());
    ASSERT_TRUE(r.armed) << "fired twice or after cancel: id " << id;
    ASSERT_LE(r.it->first, now_ms) << "fired early: id " << id;
    ASSERT_EQ(e.deadline_ms(), r.it->first);
    ASSERT_NE(r.epoch, epoch_) << "armed during this advance yet fired in it: id " << id;
    forget(id);
    ++fired_;
    const unsigned a = pick(100);
    const std::size_t other = pick(entries_.size());
    if (a < 20) {
      arm(id, random_deadline());  // may be in the past: must wait for the next advance
    } else if (a < 30) {
      cancel(other);
    } else if (a < 40) {
      arm(other, random_deadline());
    } else if (a < 50) {
      push_later(other, random_deadline());
    }
  }

  void advance(std::uint64_t now_ms) {
    ++epoch_;
    wheel_.advance(now_ms, [&](Entry& e) { on_fire(e, now_ms); });
    // Every entry not armed in this advance whose window closed (rounded-up deadline <= now, or
    // armed while already past) must be gone.
    const std::uint64_t settled_ms = now_ms / tick_ms_ * tick_ms_;
    for (auto it = by_deadline_.begin(); it != by_deadline_.end() && it->first <= now_ms; ++it) {
      const RefEntry& r = ref_[it->second];
      if (r.epoch == epoch_) continue;
      ASSERT_FALSE(it->first <= settled_ms || r.due_next)
          << "late: id " << it->second << " deadline " << it->first << " now " << now_ms;
    }
    check_next_deadline();
  }

  // next_deadline_ms() may be early but never later than any entry's firing bound.
  void check_next_deadline() {
    const std::uint64_t next = wheel_.next_deadline_ms();
    if (by_deadline_.empty()) {
      ASSERT_EQ(next, Wheel::kNever);
      return;
    }
    std::uint64_t bound = Wheel::kNever;
    for (const auto& [deadline, id] : by_deadline_) {
      const std::uint64_t rounded = (deadline + tick_ms_ - 1) / tick_ms_ * tick_ms_;
      if (ref_[id].due_next) {
        bound = std::min(bound, wheel_.now_ms());
      } else if (deadline <= Wheel::kNever - tick_ms_) {
        bound = std::min(bound, rounded);
      }
      if (deadline <= Wheel::kNever - tick_ms_ && rounded > bound) break;  // sorted by deadline: nothing later can lower the bound
    }
    ASSERT_LE(next, bound);
    ASSERT_GE(next, wheel_.now_ms());
  }

  std::vector<Entry> entries_;  // before wheel_: the wheel disarms them when destroyed
  std::vector<RefEntry> ref_;
  std::multimap<std::uint64_t, std::size_t> by_deadline_;
  Wheel wheel_;
  std::uint64_t tick_ms_;
  std::mt19937_64 rng_;
  std::uint64_t epoch_ = 1;
  std::size_t fired_ = 0;
};

class TimerWheelRandom : public ::testing::TestWithParam<std::uint32_t> {};

TEST_P(TimerWheelRandom, MatchesReferenceOver200kOps) {
  Model model(2'000, GetParam(), 0x9e3779b97f4a7c15ull ^ GetParam());
  model.run(200'000);
}

TEST_P(TimerWheelRandom, FewEntriesManySeeds) {
  for (std::uint64_t seed = 1; seed <= 20 && !HasFailure(); ++seed) {
    Model model(8, GetParam(), seed);
    model.run(5'000);
  }
}

INSTANTIATE_TEST_SUITE_P(Ticks, TimerWheelRandom, ::testing::Values(1u, 7u, 10u));

}  // namespace
}  // namespace ringgate::timer
