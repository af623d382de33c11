// Outbound bytes of one connection: a singly linked queue of chunks, flushed with one send (or one
// vectored sendmsg) per connection per loop turn.
//
// Small writes (frame headers, echoed small messages, pongs, handshake responses) are appended to
// the tail chunk, so many frames written in one turn leave in one syscall. Standard chunks come from
// a per-worker ChunkPool and go back to it, so steady traffic allocates nothing; a message larger
// than a chunk gets a chunk of its own size (assembled in place, see Chunk::headroom).
// An idle connection holds no chunk: an empty queue is two null pointers and a counter.
//
// Frames encoded once for many connections (pub/sub fan-out) are not copied: a reference chunk (a
// small node from the pool) points at a LocalFrame, this worker's share of a frame another thread
// may hold too (SharedRef: its bytes, its group, and how to give the worker's one reference back).
// The worker counts its connections' references to it without atomics and gives its one shared
// reference back when the last goes. The queue knows nothing of what the frame is (pub/sub's
// SharedFrame in practice): net sits below pubsub.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>


namespace ringgate::net {

// A frame shared across threads, as the queue sees it.
struct SharedRef {
  const std::uint8_t* bytes;  // the whole encoded frame
  std::uint32_t len;
  std::uint64_t group;        // frames of one group replace each other under conflation (a topic)
  void* owner;                // what release(owner) gives one reference back to
  void (*release)(void* owner) noexcept;
};

struct LocalFrame {
  SharedRef shared;
  std::uint32_t refs;  // queued reference chunks (+1 while the worker is still fanning it out)
  LocalFrame* next_free;
};

inline constexpr std::uint16_t kRefChunk = 2;    // Chunk::pooled of a reference chunk
inline constexpr std::uint16_t kSmallChunk = 3;  // Chunk::pooled of a small (control-frame) chunk
// Chunk::control: 0 for data; kControl for control frames put ahead of queued data; with
// kControlPong set, the last of them is a pong a newer one may replace, at offset control >> 2
// (control chunks are small, so the offset fits).
inline constexpr std::uint16_t kControl = 1, kControlPong = 2;
constexpr std::uint16_t control_with_pong_at(std::uint32_t offset) noexcept {
  return std::uint16_t(kControl | kControlPong | (offset << 2));
}

struct Chunk {
  Chunk* next;
  std::uint32_t begin;  // first byte not yet sent
  std::uint32_t end;    // one past the last byte written
  std::uint32_t cap;    // bytes available in data[]
  std::uint16_t pooled;  // 1 when it belongs to the standard-size pool, kRefChunk for a reference
  std::uint16_t control; // 0, kControl, or control_with_pong_at(offset): see above
  std::uint8_t data[];

  std::uint32_t size() const noexcept { return end - begin; }
  std::uint32_t room() const noexcept { return cap - end; }  // 0 for a reference (cap == end)
  bool is_ref() const noexcept { return pooled == kRefChunk; }
  LocalFrame* ref() const noexcept { return *reinterpret_cast<LocalFrame* const*>(data); }
  // The bytes begin/end index: the chunk's own, or the shared frame's.
  const std::uint8_t* bytes() const noexcept { return is_ref() ? ref()->shared.bytes : data; }
};

class ChunkPool {
 public:
  static constexpr std::uint32_t kChunkBytes = 16384 - 32;  // data bytes in a standard chunk
  // Control frames get small chunks: a pong for a 125-byte ping plus a heartbeat ping fit in one,
  // so a connection's control frames never pin a standard chunk.
  static constexpr std::uint32_t kSmallChunkBytes = 256 - 32;
  static_assert((kSmallChunkBytes << 2) < 65536, "a pong's offset in Chunk::control");

  explicit ChunkPool(std::uint32_t max_cached = 1024) noexcept : max_cached_(max_cached) {}
  ~ChunkPool();
  ChunkPool(const ChunkPool&) = delete;
  ChunkPool& operator=(const ChunkPool&) = delete;

  // A chunk with at least `min_bytes` of data room (a standard one when it fits); nullptr when out of memory.
  Chunk* get(std::size_t min_bytes) noexcept;
  // Grows an unqueued chunk to at least `min_bytes` of capacity, keeping its contents.
  Chunk* grow(Chunk* c, std::size_t min_bytes) noexcept;
  void put(Chunk* c) noexcept;
  // A small chunk (kSmallChunkBytes of room) for control frames; nullptr when out of memory.
  Chunk* get_small() noexcept;
  // A reference chunk for `lf` (whole frame unsent); takes one local reference.
  Chunk* get_ref(LocalFrame* lf) noexcept;
  // This worker's share of a frame it was handed (with one shared reference); refs start at 1
  // (the fan-out's own hold, dropped with release_local() when it is done).
  LocalFrame* local_frame(const SharedRef& f) noexcept;
  void release_local(LocalFrame* lf) noexcept;
  std::uint32_t cached() const noexcept { return cached_count_; }
  // Gives back half of the cached standard and small chunks beyond kKeepCached (the worker calls
  // it once a second): after a burst the caches decay, so the memory goes back to the system
  // instead of staying resident at the burst's high-water mark.
  void trim() noexcept;
  static constexpr std::uint32_t kKeepCached = 64;
  std::uint64_t outstanding() const noexcept { return outstanding_; }

 private:
  Chunk* free_ = nullptr;
  Chunk* free_refs_ = nullptr;
  Chunk* free_small_ = nullptr;
  LocalFrame* free_locals_ = nullptr;
  std::uint32_t cached_count_ = 0, max_cached_;
  std::uint32_t cached_refs_ = 0, cached_locals_ = 0, cached_small_ = 0;
  std::uint64_t outstanding_ = 0;
};

class OutQueue {
 public:
  // What a queued chunk costs beyond its bytes (header, allocator rounding), for the limits: a peer
  // that makes the queue hold many tiny chunks pays for each.
  static constexpr std::uint32_t kChunkOverhead = 64;

  bool empty() const noexcept { return head_ == nullptr; }
  // What the queue holds: its unsent bytes plus kChunkOverhead per chunk. This is what
  // --max-outbound-bytes is compared with (one counter: an idle Connection stays small).
  std::uint32_t footprint() const noexcept { return cost_; }
  // Unsent bytes and chunks, counted by walking the queue (tests, diagnostics).
  struct Tally {
    std::uint64_t bytes = 0, chunks = 0;
  };
  Tally tally() const noexcept;

  // Contiguous room for n bytes at the tail; commit(k <= n) makes them part of the queue.
  std::uint8_t* reserve(ChunkPool& pool, std::size_t n) noexcept;
  void commit(std::size_t n) noexcept;
  bool write(ChunkPool& pool, const void* data, std::size_t n) noexcept;
  // Appends a byte stream that has no frame boundaries (TLS ciphertext): fills the tail chunk and
  // continues in new standard chunks, so records larger than a chunk cost no large allocation.
  bool write_stream(ChunkPool& pool, const void* data, std::size_t n) noexcept;
  // Appends a filled chunk (e.g. an assembled message); the queue takes ownership.
  void append(Chunk* c) noexcept;
  // Queues a shared frame by reference. False when out of memory.
  bool append_ref(ChunkPool& pool, LocalFrame* lf) noexcept;
  // Conflation: replaces the queued, not yet started frame of the same topic with `lf`. False
  // when the queue holds none (the caller then appends).
  bool replace_ref(ChunkPool& pool, LocalFrame* lf) noexcept;
  // Drops everything a send has not taken (a slow consumer being closed): in-flight bytes stay.
  void drop_unsent(ChunkPool& pool) noexcept;

  // A control frame (ping, pong) jumps the queue: it goes right after the chunks a send has
  // already taken (which the kernel may be transmitting) and after control frames queued before it,
  // ahead of every queued data frame. Chunk boundaries are frame boundaries (a frame is always
  // written whole into one chunk), so the frame never lands inside another. Control frames share
  // small chunks kept right behind what a send holds, so inserting steps over at most that (one
  // sendmsg's iovecs), never over queued data or earlier control frames.
  bool write_control(ChunkPool& pool, const void* data, std::size_t n) noexcept;
  // A pong (a complete frame) as a control frame. Pongs queue in order while the control chunk
  // has room (every ping of a client that pings a few times is answered); beyond that a new pong
  // replaces the last queued one (RFC 6455 5.5.3: a pong may answer only the most recent ping), so
  // a ping flood holds one small chunk per connection.
  bool write_pong(ChunkPool& pool, const void* frame, std::size_t n) noexcept;

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
  Chunk* insert_control(ChunkPool& pool, Chunk* after, const void* data, std::size_t n) noexcept;
  Chunk* control_run_end() const noexcept;
  void hoist_control(std::uint32_t span) noexcept;
  // Walk at most the chunks one send holds (a sendmsg's iovecs): bounded, whatever the queue holds.
  Chunk* first_unlocked() const noexcept;
  Chunk* last_locked() const noexcept;

  // Kept to 24 bytes: every Connection embeds one. Invariant: the control chunks no send has
  // taken come right after the locked ones.
  Chunk* head_ = nullptr;
  Chunk* tail_ = nullptr;
  std::uint32_t cost_ = 0;    // footprint(): unsent bytes + kChunkOverhead per chunk
  std::uint32_t locked_ = 0;  // chunks at the head that a send has taken
};

}  // namespace ringgate::net
