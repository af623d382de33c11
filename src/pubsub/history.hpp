// HistoryLedger: every message an owner worker keeps in its topics' histories, in one list,
// oldest first, and the memory they take. --history-max-bytes bounds that memory for all topics
// together (a publisher that sprays topics nobody reads cannot park memory for --history-ttl):
// over the cap, the oldest message of any topic is forgotten first, and a recovery that needed it
// gets a gap. The list runs through the frames themselves (SharedFrame::history_prev/next), so
// keeping, dropping and evicting are O(1) and allocate nothing. Owner thread only.
#pragma once

#include <cstdint>

#include "ringgate/pubsub/frame.hpp"

namespace ringgate::pubsub {

class HistoryLedger {
 public:
  // What one kept message costs: the frame, its header and its topic name.
  static std::uint64_t cost(const pubsub::SharedFrame* f) noexcept {
    return sizeof(pubsub::SharedFrame) + f->len + f->topic_len;
  }

  void push(pubsub::SharedFrame* f) noexcept {
    f->history_next = nullptr;
    f->history_prev = newest_;
    (newest_ != nullptr ? newest_->history_next : oldest_) = f;
    newest_ = f;
    bytes_ += cost(f);
  }

  void remove(pubsub::SharedFrame* f) noexcept {
    (f->history_prev != nullptr ? f->history_prev->history_next : oldest_) = f->history_next;
    (f->history_next != nullptr ? f->history_next->history_prev : newest_) = f->history_prev;
    f->history_prev = f->history_next = nullptr;
    bytes_ -= cost(f);
  }

  pubsub::SharedFrame* oldest() const noexcept { return oldest_; }
  std::uint64_t bytes() const noexcept { return bytes_; }

 private:
  pubsub::SharedFrame* oldest_ = nullptr;
  pubsub::SharedFrame* newest_ = nullptr;
  std::uint64_t bytes_ = 0;
};

}  // namespace ringgate::pubsub
