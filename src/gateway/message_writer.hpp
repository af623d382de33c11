// The one place WebSocket frames are written into a connection's output queue: data messages
// (echo, pub/sub replies), control frames (ping, pong, close) and frames encoded once and shared
// by many connections (fan-out). Everything that sends a frame calls these, so what every frame
// needs (permessage-deflate next) is added here once.
//
// Data messages are written whole as one frame: header in front of the payload in the queue's
// tail chunk. A payload that is the connection's assembled input message (`assembled`, a chunk
// with kHeadroom bytes free in front) and longer than kCopyMessageBytes is queued in place (the
// header written into its headroom) instead of copied; small ones are copied, so a flood of small
// fragmented messages shares chunks rather than pinning one per message. Control frames jump the
// queue (OutQueue::write_control / write_pong); a close frame is queued in order, after the data.
#pragma once

#include <cstdint>
#include <span>

#include "ringgate/gateway/connection.hpp"
#include "ringgate/pubsub/frame.hpp"
#include "ringgate/ws/frame.hpp"

namespace ringgate::gateway {

inline constexpr std::size_t kHeadroom = ws::kMaxHeaderBytes;  // room for a frame header before a message
inline constexpr std::uint64_t kCopyMessageBytes = 4096;       // assembled messages up to this are copied

// False: out of memory (nothing queued). `assembled` is cleared when the queue took the chunk.
bool write_message(OutQueue& q, ChunkPool& pool, ws::Opcode op, std::span<const std::uint8_t> payload,
                   Chunk*& assembled) noexcept;
// A close frame carrying `code` and `reason` (no payload for 1005, "no status").
bool write_close(OutQueue& q, ChunkPool& pool, std::uint16_t code, std::string_view reason) noexcept;
// A frame encoded once for many connections: one reference queued, or (conflate) the queued,
// not yet started frame of the same topic replaced (false if there is none).
bool write_shared(OutQueue& q, ChunkPool& pool, LocalFrame* frame) noexcept;
// What the queue needs of a pub/sub frame: its bytes, its topic (conflation), its release.
SharedRef shared_ref(pubsub::SharedFrame* f) noexcept;
bool replace_shared(OutQueue& q, ChunkPool& pool, LocalFrame* frame) noexcept;

}  // namespace ringgate::gateway
