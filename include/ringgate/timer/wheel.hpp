// Hierarchical timer wheel, one per worker, sans-IO: the caller reads the clock once per loop turn
// and passes milliseconds in, so tests drive it with a manual clock.
//
// Entries are intrusive (embedded in their owner, 24 bytes: two links and a deadline), so arming
// never allocates, and arm / re-arm / cancel are O(1) list splices. Timers are mostly cancelled or
// pushed later before they fire (idle, pong and handshake deadlines), so push_later() only stores
// the new deadline; the entry keeps its old, earlier slot, and when that slot comes due the wheel
// sees the deadline is still ahead and re-links it instead of calling back (nginx's lazy timers).
//
// Layout: 4 levels x 256 slots of `tick_ms` each (10 ms ticks: level 0 spans 2.56 s, level 3
// ~497 days) plus an overflow list for deadlines beyond the current top-level rotation. An entry's
// level is the highest base-256 digit in which its expiry tick differs from the wheel's tick, so
// every occupied slot lies ahead of the wheel in its level's current rotation and the lowest
// non-empty level holds the earliest slot. One occupancy bit per slot lets advance() jump straight
// to the next occupied slot (hours-long gaps cost a few bitmap scans, not one step per tick) and
// makes next_deadline_ms() a scan of at most 16 words.
//
// Firing contract (never early, at most one tick late):
//   - an entry never fires in advance(now) unless its deadline_ms <= now;
//   - an entry armed with a deadline <= now_ms() (already past) fires on the next advance();
//   - otherwise it fires at the latest in the first advance(now) with now >= its deadline rounded
//     up to a multiple of tick_ms (a lazily pushed entry may fire up to one tick sooner, but never
//     before its deadline).
#pragma once

#include <cstddef>
#include <cstdint>

#include "ringgate/core/check.hpp"

namespace ringgate::timer {

namespace detail {
// Circular doubly-linked list node. Slot heads are bare Links (sentinels), so unlinking an entry
// needs no knowledge of which slot holds it.
struct Link {
  Link* next_ = nullptr;
  Link* prev_ = nullptr;
};
}  // namespace detail

// Embed in the owner; default (zero) state = not armed. Owned by the Wheel while armed: the owner
// must cancel it (or destroy the Wheel) before destroying it, and it cannot be copied or moved.
class Entry : private detail::Link {
 public:
  Entry() noexcept = default;
  Entry(const Entry&) = delete;
  Entry& operator=(const Entry&) = delete;
  ~Entry() { RG_DEBUG_ASSERT(!armed()); }

  bool armed() const noexcept { return next_ != nullptr; }
  // The deadline last set by arm() or push_later(); meaningful only while armed or in the callback.
  std::uint64_t deadline_ms() const noexcept { return deadline_ms_; }

 private:
  friend class Wheel;
  std::uint64_t deadline_ms_ = 0;
};

class Wheel {
 public:
  static constexpr unsigned kLevels = 4;
  static constexpr unsigned kSlotBits = 8;
  static constexpr unsigned kSlots = 1u << kSlotBits;
  static constexpr std::uint64_t kNever = UINT64_MAX;

  // Cheap counters for metrics (and for tests that check gaps are skipped, not walked).
  struct Stats {
    std::uint64_t fired = 0;
    std::uint64_t relinked = 0;       // entries moved down a level or re-linked after push_later()
    std::uint64_t slots_visited = 0;  // slots (and overflow rounds) emptied by advance()
  };

  // tick_ms must be > 0 (configuration, checked always).
  explicit Wheel(std::uint64_t now_ms, std::uint32_t tick_ms = 10) noexcept;
  // Disarms every entry still linked, so owners may outlive the wheel.
  ~Wheel();
  Wheel(const Wheel&) = delete;
  Wheel& operator=(const Wheel&) = delete;

  // Arms `e`, or moves it if already armed.
  void arm(Entry& e, std::uint64_t deadline_ms) noexcept;
  // Lazy re-arm: if `e` is armed and deadline_ms >= its current deadline, only stores the new
  // deadline (no list work); otherwise behaves as arm().
  void push_later(Entry& e, std::uint64_t deadline_ms) noexcept {
    if (e.armed() && deadline_ms >= e.deadline_ms_) {
      e.deadline_ms_ = deadline_ms;
    } else {
      arm(e, deadline_ms);
    }
  }
  // No-op if `e` is not armed.
  void cancel(Entry& e) noexcept;

  // Fires due entries (see the contract above), each disarmed before fn(Entry&) is called. fn may
  // arm, push or cancel any entry, the fired one included; an entry it arms with a deadline <= now
  // fires on the next advance(), not this one, so a callback that re-arms itself cannot loop. Time
  // going backwards is treated as no time passing. Not re-entrant. Returns the number fired.
  template <class Fn>
  std::size_t advance(std::uint64_t now_ms, Fn&& fn) noexcept;

  // Earliest time at which advance() may fire something: never later than any entry's firing time,
  // possibly earlier (the start of a coarser slot or of the next top-level rotation, or a lazily
  // pushed entry). now_ms() when an entry is already due; kNever when empty (or when nothing can
  // fire before the end of time). Cost: at most 16 bitmap words.
  std::uint64_t next_deadline_ms() const noexcept;

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::uint32_t tick_ms() const noexcept { return tick_ms_; }
  // The latest time passed to the constructor or advance().
  std::uint64_t now_ms() const noexcept { return now_ms_; }
  const Stats& stats() const noexcept { return stats_; }

  // O(entries + slots) self-check of the layout invariants, for tests.
  bool check_invariants() const noexcept;

 private:
  using Link = detail::Link;
  static constexpr unsigned kOverflow = kLevels * kSlots;  // pseudo slot index of overflow_
  static constexpr unsigned kNone = kOverflow + 1;
  struct NextSlot {
    unsigned index;  // flat slot index, kOverflow or kNone
    std::uint64_t start_tick;
  };

  void start_advance(std::uint64_t now_ms) noexcept;
  Entry* next_expired() noexcept;
  bool load_next_slot() noexcept;
  std::uint64_t earliest_overflow_rotation() const noexcept;
  NextSlot earliest_slot() const noexcept;
  unsigned first_occupied(unsigned level, unsigned from) const noexcept;
  void link_at_tick(Entry& e, std::uint64_t expiry_tick) noexcept;
  void unlink(Entry& e) noexcept;
  std::uint64_t expiry_tick(std::uint64_t deadline_ms) const noexcept {
    return deadline_ms / tick_ms_ + (deadline_ms % tick_ms_ != 0);
  }
  bool slot_ok(unsigned index, std::uint64_t start_tick) const noexcept;

  Link slots_[kLevels * kSlots];
  std::uint64_t occupied_[kLevels * kSlots / 64] = {};
  Link due_;       // armed with a deadline already past: fire on the next advance()
  Link overflow_;  // expiry beyond the current top-level rotation
  Link pending_;   // taken out of a slot by the running advance(), not yet examined
  std::uint64_t now_ms_;
  std::uint64_t wheel_tick_;   // every expiry tick <= wheel_tick_ has been processed
  std::uint64_t target_tick_;  // tick of the running advance()'s now
  std::uint32_t tick_ms_;
  bool advancing_ = false;
  std::size_t size_ = 0;
  Stats stats_;
};

template <class Fn>
std::size_t Wheel::advance(std::uint64_t now_ms, Fn&& fn) noexcept {
  start_advance(now_ms);
  std::size_t fired = 0;
  while (Entry* e = next_expired()) {
    ++fired;
    fn(*e);
  }
  return fired;
}

}  // namespace ringgate::timer
