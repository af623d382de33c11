// Timer wheel mechanics. Invariant (I): for an entry in slot s of level l, the expiry tick that put
// it there agrees with wheel_tick_ in every digit above l and has a larger digit l; so slots at or
// behind the wheel's own digit are empty, and moving wheel_tick_ forward to the start of the
// earliest occupied slot (or to any tick before it) keeps (I) for every other entry.
#include "ringgate/timer/wheel.hpp"

#include <algorithm>
#include <bit>

namespace ringgate::timer {

namespace {

using detail::Link;

void init_head(Link& head) noexcept { head.next_ = head.prev_ = &head; }
bool list_empty(const Link& head) noexcept { return head.next_ == &head; }

void push_back(Link& head, Link& node) noexcept {
  node.prev_ = head.prev_;
  node.next_ = &head;
  head.prev_->next_ = &node;
  head.prev_ = &node;
}

// Moves every node of `from` (non-empty) to the empty list `to`.
void move_all(Link& from, Link& to) noexcept {
  to.next_ = from.next_;
  to.prev_ = from.prev_;
  to.next_->prev_ = &to;
  to.prev_->next_ = &to;
  init_head(from);
}

// Clears the links of every node in the list and empties it.
void disarm_all(Link& head) noexcept {
  Link* n = head.next_;
  while (n != &head) {
    Link* next = n->next_;
    n->next_ = n->prev_ = nullptr;
    n = next;
  }
  init_head(head);
}

std::uint64_t block_start(std::uint64_t tick, unsigned level) noexcept {
  const unsigned bits = (level + 1) * Wheel::kSlotBits;
  return tick >> bits << bits;
}

unsigned digit(std::uint64_t tick, unsigned level) noexcept {
  return unsigned(tick >> (level * Wheel::kSlotBits)) & (Wheel::kSlots - 1);
}

constexpr unsigned kTopBits = Wheel::kLevels * Wheel::kSlotBits;

}  // namespace

Wheel::Wheel(std::uint64_t now_ms, std::uint32_t tick_ms) noexcept
    : now_ms_(now_ms), tick_ms_(tick_ms) {
  RG_CHECK(tick_ms > 0);
  wheel_tick_ = target_tick_ = now_ms / tick_ms;
  for (Link& head : slots_) init_head(head);
  init_head(due_);
  init_head(overflow_);
  init_head(pending_);
}

Wheel::~Wheel() {
  for (Link& head : slots_) disarm_all(head);
  disarm_all(due_);
  disarm_all(overflow_);
  disarm_all(pending_);
}

void Wheel::arm(Entry& e, std::uint64_t deadline_ms) noexcept {
  if (e.armed()) unlink(e);
  e.deadline_ms_ = deadline_ms;
  if (deadline_ms <= now_ms_) {
    push_back(due_, e);
    ++size_;
  } else {
    // deadline > now_ms_ >= target_tick_ * tick_ms_, so the expiry tick is ahead of the wheel.
    link_at_tick(e, expiry_tick(deadline_ms));
  }
}

void Wheel::cancel(Entry& e) noexcept {
  if (e.armed()) unlink(e);
}

void Wheel::link_at_tick(Entry& e, std::uint64_t tick) noexcept {
  RG_DEBUG_ASSERT(tick > wheel_tick_);
  const unsigned top_bit = 63u - unsigned(std::countl_zero(tick ^ wheel_tick_));
  const unsigned level = top_bit / kSlotBits;
  ++size_;
  if (level >= kLevels) {
    push_back(overflow_, e);
    return;
  }
  const unsigned index = level * kSlots + digit(tick, level);
  push_back(slots_[index], e);
  occupied_[index / 64] |= std::uint64_t{1} << (index % 64);
}

void Wheel::unlink(Entry& e) noexcept {
  Link* prev = e.prev_;
  Link* next = e.next_;
  prev->next_ = next;
  next->prev_ = prev;
  e.next_ = e.prev_ = nullptr;
  --size_;
  // prev == next only when that node is the head of a list that is now empty. The heads of
  // slots_ are the only ones with an occupancy bit; compare addresses as integers (other heads
  // lie outside the array).
  if (prev == next) {
    const auto offset = reinterpret_cast<std::uintptr_t>(prev) -
                        reinterpret_cast<std::uintptr_t>(&slots_[0]);
    if (offset < sizeof(slots_)) {
      const std::size_t index = offset / sizeof(Link);
      occupied_[index / 64] &= ~(std::uint64_t{1} << (index % 64));
    }
  }
}

unsigned Wheel::first_occupied(unsigned level, unsigned from) const noexcept {
  constexpr unsigned kWords = kSlots / 64;
  const std::uint64_t* words = occupied_ + level * kWords;
  for (unsigned w = from / 64; w < kWords; ++w) {
    std::uint64_t bits = words[w];
    if (w == from / 64) bits &= ~std::uint64_t{0} << (from % 64);
    if (bits != 0) return w * 64 + unsigned(std::countr_zero(bits));
  }
  return kSlots;
}

Wheel::NextSlot Wheel::earliest_slot() const noexcept {
  // By (I) all of a level's entries precede every entry of the levels above, so the first
  // occupied slot of the lowest non-empty level is the earliest.
  for (unsigned level = 0; level < kLevels; ++level) {
    const unsigned from = digit(wheel_tick_, level) + 1;
    if (from == kSlots) continue;
    const unsigned slot = first_occupied(level, from);
    if (slot == kSlots) continue;
    const std::uint64_t start =
        block_start(wheel_tick_, level) | (std::uint64_t{slot} << (level * kSlotBits));
    return {level * kSlots + slot, start};
  }
  if (!list_empty(overflow_)) {
    // Overflow entries expire in a later top-level rotation, so wheel_tick_ is not in the last one
    // and this does not wrap.
    return {kOverflow, ((wheel_tick_ >> kTopBits) + 1) << kTopBits};
  }
  return {kNone, 0};
}

std::uint64_t Wheel::next_deadline_ms() const noexcept {
  if (!list_empty(due_) || !list_empty(pending_)) return now_ms_;
  const NextSlot next = earliest_slot();
  if (next.index == kNone) return kNever;
  std::uint64_t ms;
  return __builtin_mul_overflow(next.start_tick, std::uint64_t{tick_ms_}, &ms) ? kNever : ms;
}

void Wheel::start_advance(std::uint64_t now_ms) noexcept {
  RG_DEBUG_ASSERT(!advancing_);
  advancing_ = true;
  if (now_ms > now_ms_) now_ms_ = now_ms;
  target_tick_ = now_ms_ / tick_ms_;
  // Entries armed from now on with a past deadline go to a fresh due_ and wait for the next call.
  if (!list_empty(due_)) move_all(due_, pending_);
}

// Overflow entries may lie many rotations ahead; jumping to the earliest one's rotation (rather
// than one rotation per visit) keeps a long time jump proportional to the entries, not the time.
std::uint64_t Wheel::earliest_overflow_rotation() const noexcept {
  std::uint64_t start = UINT64_MAX;
  for (const Link* n = overflow_.next_; n != &overflow_; n = n->next_) {
    const std::uint64_t tick = expiry_tick(static_cast<const Entry*>(n)->deadline_ms_);
    start = std::min(start, tick >> kTopBits << kTopBits);
  }
  return start;
}

bool Wheel::load_next_slot() noexcept {
  const NextSlot next = earliest_slot();
  std::uint64_t start = next.start_tick;
  if (next.index == kOverflow && start <= target_tick_) start = earliest_overflow_rotation();
  if (next.index == kNone || start > target_tick_) {
    wheel_tick_ = target_tick_;  // keeps (I): nothing is occupied up to target_tick_
    return false;
  }
  wheel_tick_ = start;
  ++stats_.slots_visited;
  if (next.index == kOverflow) {
    move_all(overflow_, pending_);
  } else {
    move_all(slots_[next.index], pending_);
    occupied_[next.index / 64] &= ~(std::uint64_t{1} << (next.index % 64));
  }
  return true;
}

Entry* Wheel::next_expired() noexcept {
  for (;;) {
    while (!list_empty(pending_)) {
      Entry& e = static_cast<Entry&>(*pending_.next_);
      unlink(e);
      if (e.deadline_ms_ <= now_ms_) {
        ++stats_.fired;
        return &e;
      }
      // Cascaded down a level or pushed later: deadline > now_ms_ puts its tick past target_tick_,
      // so it is ahead of wheel_tick_ and is met again in this call if it expires by target_tick_.
      ++stats_.relinked;
      link_at_tick(e, expiry_tick(e.deadline_ms_));
    }
    if (!load_next_slot()) {
      advancing_ = false;
      return nullptr;
    }
  }
}

bool Wheel::slot_ok(unsigned index, std::uint64_t start_tick) const noexcept {
  const Link& head = index == kOverflow ? overflow_ : slots_[index];
  if (index != kOverflow) {
    const bool bit = (occupied_[index / 64] >> (index % 64)) & 1;
    if (bit == list_empty(head)) return false;
    const unsigned level = index / kSlots;
    if (!list_empty(head) && digit(start_tick, level) <= digit(wheel_tick_, level)) return false;
  }
  for (const Link* n = head.next_; n != &head; n = n->next_) {
    if (n->next_->prev_ != n) return false;
    // A slot may hold an entry later than its range (lazy push), never earlier.
    if (expiry_tick(static_cast<const Entry*>(n)->deadline_ms_) < start_tick) return false;
  }
  return true;
}

bool Wheel::check_invariants() const noexcept {
  std::size_t count = 0;
  auto count_list = [&count](const Link& head) {
    for (const Link* n = head.next_; n != &head; n = n->next_) ++count;
  };
  for (unsigned level = 0; level < kLevels; ++level) {
    for (unsigned slot = 0; slot < kSlots; ++slot) {
      const unsigned index = level * kSlots + slot;
      const std::uint64_t start =
          block_start(wheel_tick_, level) | (std::uint64_t{slot} << (level * kSlotBits));
      if (!slot_ok(index, start)) return false;
      count_list(slots_[index]);
    }
  }
  if (!list_empty(overflow_)) {
    if ((wheel_tick_ >> kTopBits) == (UINT64_MAX >> kTopBits)) return false;
    if (!slot_ok(kOverflow, ((wheel_tick_ >> kTopBits) + 1) << kTopBits)) return false;
  }
  count_list(overflow_);
  count_list(due_);
  count_list(pending_);
  if (!advancing_ && !list_empty(pending_)) return false;
  return count == size_ && wheel_tick_ <= target_tick_ && target_tick_ == now_ms_ / tick_ms_;
}

}  // namespace ringgate::timer
