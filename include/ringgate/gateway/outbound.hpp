// Outbound bytes of one connection: a singly linked queue of chunks, flushed with one send (or one
// vectored sendmsg) per connection per loop turn.
//
// Small writes (frame headers, echoed small messages, pongs, handshake responses) are appended to
// the tail chunk, so many frames written in one turn leave in one syscall. Standard chunks come from
// a per-worker ChunkPool and go back to it, so steady traffic allocates nothing; a message larger
// than a chunk gets a chunk of its own size (assembled in place, see Chunk::headroom).
// An idle connection holds no chunk: an empty queue is two null pointers and a counter.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

namespace ringgate::gateway {

struct Chunk {
  Chunk* next;
  std::uint32_t begin;  // first byte not yet sent
  std::uint32_t end;    // one past the last byte written
  std::uint32_t cap;    // bytes available in data[]
  std::uint16_t pooled;  // 1 when it belongs to the standard-size pool
  std::uint16_t control; // 1 when it holds a control frame put ahead of queued data
  std::uint8_t data[];

  std::uint32_t size() const noexcept { return end - begin; }
  std::uint32_t room() const noexcept { return cap - end; }
};

class ChunkPool {
 public:
  static constexpr std::uint32_t kChunkBytes = 16384 - 32;  // data bytes in a standard chunk

  explicit ChunkPool(std::uint32_t max_cached = 1024) noexcept : max_cached_(max_cached) {}
  ~ChunkPool();
  ChunkPool(const ChunkPool&) = delete;
  ChunkPool& operator=(const ChunkPool&) = delete;

  // A chunk with at least `min_bytes` of data room (a standard one when it fits); nullptr when out of memory.
  Chunk* get(std::size_t min_bytes) noexcept;
  // Grows an unqueued chunk to at least `min_bytes` of capacity, keeping its contents.
  Chunk* grow(Chunk* c, std::size_t min_bytes) noexcept;
  void put(Chunk* c) noexcept;
  std::uint32_t cached() const noexcept { return cached_count_; }
  std::uint64_t outstanding() const noexcept { return outstanding_; }

 private:
  Chunk* free_ = nullptr;
  std::uint32_t cached_count_ = 0, max_cached_;
  std::uint64_t outstanding_ = 0;
};

class OutQueue {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  std::uint32_t bytes() const noexcept { return bytes_; }

  // Contiguous room for n bytes at the tail; commit(k <= n) makes them part of the queue.
  std::uint8_t* reserve(ChunkPool& pool, std::size_t n) noexcept;
  void commit(std::size_t n) noexcept;
  bool write(ChunkPool& pool, const void* data, std::size_t n) noexcept;
  // Appends a byte stream that has no frame boundaries (TLS ciphertext): fills the tail chunk and
  // continues in new standard chunks, so records larger than a chunk cost no large allocation.
  bool write_stream(ChunkPool& pool, const void* data, std::size_t n) noexcept;
  // Appends a filled chunk (e.g. an assembled message); the queue takes ownership.
  void append(Chunk* c) noexcept;

  // A control frame (ping, pong) jumps the queue: it goes right after the chunks a send has
  // already taken (which the kernel may be transmitting) and after control frames queued before it
  // (their order is kept), ahead of every queued data frame.
  // Chunk boundaries are frame boundaries (a frame is always written whole into one chunk), so the
  // frame never lands inside another.
  bool write_control(ChunkPool& pool, const void* data, std::size_t n) noexcept;

  // Describes up to max_iov chunks of unsent data for one send; returns the count. The chunks
  // described are locked (write_control() stays behind them) until consume() releases them.
  std::size_t fill_iov(iovec* iov, std::size_t max_iov) noexcept;
  // The same for a plain send of the head chunk only.
  void lock_head() noexcept { locked_ = head_ != nullptr ? 1 : 0; }
  const Chunk* head() const noexcept { return head_; }
  // Drops n sent bytes from the front, returning drained chunks to the pool. A partly sent head
  // chunk stays locked: the rest of its frame must leave before anything else.
  void consume(ChunkPool& pool, std::size_t n) noexcept;
  void clear(ChunkPool& pool) noexcept;

 private:
  Chunk* head_ = nullptr;
  Chunk* tail_ = nullptr;
  std::uint32_t bytes_ = 0;
  std::uint32_t locked_ = 0;  // chunks at the head that a send has taken
};

}  // namespace ringgate::gateway
