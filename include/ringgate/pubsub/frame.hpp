// SharedFrame: one published message, framed once as a complete server-to-client WebSocket text
// frame ({"op":"msg","topic":..,"seq":..,"data":..} behind its header) and shared by every
// subscriber on every worker. Server frames are unmasked, so the bytes are the same for everyone.
//
// Ownership: an atomic reference count. The owner worker creates a frame with one reference per
// holder it hands it to (each interested worker, the topic's history); each holder releases its
// reference once. Workers keep their own non-atomic count per frame for their subscribers (see
// net/outbound.hpp), so the shared count is touched once per worker, not once per subscriber.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ringgate::pubsub {

struct SharedFrame {
  std::atomic<std::uint32_t> refs;
  std::uint32_t len;            // bytes of the WebSocket frame in bytes[]
  std::uint64_t topic_id;       // the owner's id of the topic (conflation compares it)
  std::uint64_t seq;
  std::uint64_t published_ns;   // monotonic clock when the owner accepted the message
  // The owner worker's history of all its topics, oldest first (owner thread only; see
  // gateway/history.hpp): what lets a memory cap forget the oldest message of any topic in O(1).
  SharedFrame* history_prev;
  SharedFrame* history_next;
  std::uint16_t topic_len;      // the topic name follows the frame bytes
  std::uint8_t bytes[];

  std::string_view topic() const noexcept {
    return {reinterpret_cast<const char*>(bytes) + len, topic_len};
  }
  std::string_view data_json() const noexcept;  // the JSON text after the WebSocket header

  // Frames {"op":"msg",...} for `topic` (a valid topic) and `data` (validated JSON). Starts with
  // `refs` references; nullptr when out of memory. One allocation per published message.
  static SharedFrame* make(std::string_view topic, std::uint64_t topic_id, std::uint64_t seq,
                           std::string_view data, std::uint64_t published_ns, std::uint32_t refs) noexcept;
  void retain(std::uint32_t n = 1) noexcept { refs.fetch_add(n, std::memory_order_relaxed); }
  // Drops n references; frees the frame when none are left.
  void release(std::uint32_t n = 1) noexcept;
};

}  // namespace ringgate::pubsub
