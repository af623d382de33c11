// Mailbox: a bounded single-producer single-consumer ring between two workers. Every ordered pair
// of workers has one, so each is written by exactly one thread and read by exactly one other; the
// producer wakes the consumer with IORING_OP_MSG_RING (the gateway does that, once per loop turn).
//
// Entries are small and carry pointers: a frame reference or a request object whose ownership
// moves with the entry. push() fails when the ring is full, and the caller decides: messages are
// dropped and counted (the topic is marked for a gap), control entries wait in the producer's
// backlog (see hub.hpp). Capacity is a power of two.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace ringgate::pubsub {

struct MailEntry {
  std::uint32_t kind = 0;
  std::uint32_t a = 0;
  std::uint64_t b = 0;
  void* p = nullptr;
};

class Mailbox {
 public:
  explicit Mailbox(std::size_t capacity = 4096)
      : mask_(round_up(capacity) - 1), slots_(new MailEntry[mask_ + 1]) {}
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  // Producer thread only.
  bool push(const MailEntry& e) noexcept {
    const std::uint64_t t = tail_.load(std::memory_order_relaxed);
    if (t - head_cache_ > mask_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (t - head_cache_ > mask_) return false;
    }
    slots_[t & mask_] = e;
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }
  // Consumer thread only: calls f(entry) for everything queued now; returns how many.
  template <class F>
  std::size_t drain(F&& f) noexcept {
    std::uint64_t h = head_.load(std::memory_order_relaxed);
    const std::uint64_t t = tail_.load(std::memory_order_acquire);
    for (std::uint64_t i = h; i != t; ++i) f(slots_[i & mask_]);
    head_.store(t, std::memory_order_release);
    return std::size_t(t - h);
  }
  // Any thread (metrics): entries waiting.
  std::size_t depth() const noexcept {
    return std::size_t(tail_.load(std::memory_order_relaxed) - head_.load(std::memory_order_relaxed));
  }
  std::size_t capacity() const noexcept { return mask_ + 1; }

 private:
  static std::size_t round_up(std::size_t n) noexcept {
    std::size_t c = 2;
    while (c < n) c <<= 1;
    return c;
  }
  const std::uint64_t mask_;
  std::unique_ptr<MailEntry[]> slots_;
  alignas(64) std::atomic<std::uint64_t> head_{0};   // consumer
  alignas(64) std::atomic<std::uint64_t> tail_{0};   // producer
  std::uint64_t head_cache_ = 0;                     // producer's last view of head_
};

}  // namespace ringgate::pubsub
