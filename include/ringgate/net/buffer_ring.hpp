// BufferRing: a provided-buffer ring (IORING_REGISTER_PBUF_RING) owned by one worker. Multishot
// receives of every connection draw from it, so a connection holds no receive buffer of its own.
// Buffers are `buffer_bytes` long and followed by `padding_bytes` of slack that the kernel never
// writes, so SIMD code (unmasking, UTF-8, JSON) may read past the end of the data without a tail loop.
//
// liburing 2.3 lacks io_uring_setup_buf_ring(), so the ring memory is mmap'd and registered here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "ringgate/core/result.hpp"
#include "ringgate/net/ring.hpp"

struct io_uring_buf_ring;

namespace ringgate::net {

class BufferRing {
 public:
  BufferRing() noexcept = default;
  ~BufferRing();
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;

  // count must be a power of two (<= 32768).
  Result<void> init(Ring& ring, std::uint16_t group, std::uint32_t count, std::uint32_t buffer_bytes,
                    std::uint32_t padding_bytes, std::string& why) noexcept;
  std::uint16_t group() const noexcept { return group_; }
  std::uint32_t buffer_bytes() const noexcept { return buffer_bytes_; }
  std::uint8_t* buffer(std::uint16_t id) noexcept { return base_ + std::size_t(id) * stride_; }
  // Hands a buffer back to the kernel; visible to it after publish().
  void recycle(std::uint16_t id) noexcept;
  void publish() noexcept;  // one release store for all buffers recycled since the last call
  std::uint32_t recycled_pending() const noexcept { return pending_; }

 private:
  Ring* ring_ = nullptr;
  io_uring_buf_ring* br_ = nullptr;
  std::uint8_t* base_ = nullptr;
  std::size_t ring_bytes_ = 0, pool_bytes_ = 0, stride_ = 0;
  std::uint32_t count_ = 0, buffer_bytes_ = 0, pending_ = 0;
  std::uint16_t group_ = 0;
};

}  // namespace ringgate::net
