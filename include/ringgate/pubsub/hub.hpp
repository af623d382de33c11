// Hub: what the workers' exchanges (exchange.hpp) share. One mailbox per ordered pair of workers (from, to) and
// each worker's ring descriptor, so a producer can wake a consumer with IORING_OP_MSG_RING.
// Created (by the gateway's Server, or a test) before the workers start; read-only afterwards except the mailboxes
// themselves (each single-producer, single-consumer) and the ring descriptors (set once).
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "ringgate/pubsub/mailbox.hpp"

namespace ringgate::pubsub {

inline constexpr unsigned kMaxWorkers = 64;  // interest sets are 64-bit masks

class Hub {
 public:
  explicit Hub(unsigned workers, std::size_t mailbox_capacity = 8192)
      : n_(workers), fds_(new std::atomic<int>[workers]) {
    boxes_.reserve(std::size_t(workers) * workers);
    for (unsigned i = 0; i < workers * workers; ++i) {
      // The diagonal is never used (a worker calls itself directly): keep it tiny.
      boxes_.push_back(std::make_unique<Mailbox>(i / workers == i % workers ? 2 : mailbox_capacity));
    }
    for (unsigned i = 0; i < workers; ++i) fds_[i].store(-1);
  }
  unsigned workers() const noexcept { return n_; }
  Mailbox& box(unsigned from, unsigned to) noexcept { return *boxes_[std::size_t(from) * n_ + to]; }
  const Mailbox& box(unsigned from, unsigned to) const noexcept { return *boxes_[std::size_t(from) * n_ + to]; }
  void set_ring_fd(unsigned worker, int fd) noexcept { fds_[worker].store(fd, std::memory_order_release); }
  int ring_fd(unsigned worker) const noexcept { return fds_[worker].load(std::memory_order_acquire); }
  std::size_t depth() const noexcept {
    std::size_t d = 0;
    for (const auto& b : boxes_) d += b->depth();
    return d;
  }

 private:
  unsigned n_;
  std::vector<std::unique_ptr<Mailbox>> boxes_;
  std::unique_ptr<std::atomic<int>[]> fds_;
};

}  // namespace ringgate::pubsub
