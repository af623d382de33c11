// Ring: one io_uring per worker thread, the only place liburing is used. Everything above it sees
// plain completions (user_data, res, flags) and submits through typed methods, so the gateway never
// includes liburing and the ring set-up is stated once, here.
//
// Invariants: a Ring is created, used and destroyed by one thread (IORING_SETUP_SINGLE_ISSUER).
// Connection descriptors are either direct (indices into the ring's fixed-file table) or ordinary
// fds, decided once at init(); listener sockets are always ordinary fds.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "ringgate/core/result.hpp"

struct io_uring;
struct io_uring_sqe;

namespace ringgate::net {

struct Completion {
  std::uint64_t user_data;
  std::int32_t res;  // >= 0 success value, or -errno
  std::uint32_t flags;
  bool more() const noexcept;         // multishot request stays armed (IORING_CQE_F_MORE)
  bool has_buffer() const noexcept;   // a provided buffer was consumed (IORING_CQE_F_BUFFER)
  std::uint16_t buffer_id() const noexcept;
};

struct RingConfig {
  unsigned sq_entries = 4096;
  unsigned cq_entries = 16384;
  unsigned fixed_files = 0;         // 0 = the process's RLIMIT_NOFILE (the per-ring cap on this kernel)
  bool direct_descriptors = true;   // accept into the fixed-file table; falls back when unavailable
};

// What init() found. describe() is one line for the start-up log.
struct RingFeatures {
  bool single_issuer = false;
  bool defer_taskrun = false;
  bool direct_descriptors = false;
  bool fd_install = false;  // IORING_OP_FIXED_FD_INSTALL: lets us getpeername() a direct socket
  unsigned fixed_files = 0;
  std::string describe() const;
};

class Ring {
 public:
  Ring() noexcept;
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // Creates the ring on the calling thread. Returns a message in `why` on failure.
  Result<void> init(const RingConfig& cfg, std::string& why) noexcept;
  const RingFeatures& features() const noexcept { return features_; }
  bool direct() const noexcept { return features_.direct_descriptors; }
  int ring_fd() const noexcept;
  io_uring* raw() noexcept { return ring_; }  // for BufferRing only

  // Submission helpers. Each returns Errc::again when no SQE is free even after flushing.
  // `fd` of connection operations is a fixed index when direct(), else an ordinary fd.
  Result<void> accept_multishot(int listen_fd, std::uint64_t ud) noexcept;
  Result<void> recv_multishot(int fd, std::uint16_t buf_group, std::uint64_t ud) noexcept;
  Result<void> send(int fd, const void* buf, std::size_t len, std::uint64_t ud) noexcept;
  Result<void> sendmsg(int fd, const msghdr* msg, std::uint64_t ud) noexcept;
  // One-shot recvmsg into the caller's buffers (kTLS control records: the record type arrives as
  // a control message). `msg` and what it points to must stay valid until the completion.
  Result<void> recvmsg(int fd, msghdr* msg, std::uint64_t ud) noexcept;
  Result<void> shutdown_write(int fd, std::uint64_t ud) noexcept;
  Result<void> cancel(std::uint64_t target_ud, std::uint64_t ud) noexcept;  // by user_data
  Result<void> close(int fd, std::uint64_t ud) noexcept;                     // close_direct when direct()
  Result<void> fd_install(int fixed_index, std::uint64_t ud) noexcept;       // res = new ordinary fd
  // Client side (ringgate-load). connect() starts IORING_OP_CONNECT on `fd` (a fixed index when
  // direct()); `addr` must stay valid until the completion. register_file() puts an ordinary fd
  // into fixed slot `slot` (the caller may close its fd afterwards: the table holds a reference).
  Result<void> connect(int fd, const sockaddr* addr, socklen_t len, std::uint64_t ud) noexcept;
  Result<void> register_file(unsigned slot, int ordinary_fd) noexcept;
  // Operations on an ordinary fd whatever direct() says (the gateway's broker connections).
  Result<void> connect_plain(int fd, const sockaddr* addr, socklen_t len, std::uint64_t ud) noexcept;
  Result<void> recv_plain(int fd, void* buf, std::size_t len, std::uint64_t ud) noexcept;
  Result<void> send_plain(int fd, const void* buf, std::size_t len, std::uint64_t ud) noexcept;
  // Posts a CQE with (user_data=ud, res=value) on another ring (IORING_OP_MSG_RING). Our own CQE is skipped.
  Result<void> msg_ring(int target_ring_fd, std::int32_t value, std::uint64_t ud) noexcept;

  // Submits everything queued and waits for at least one completion or `timeout_ns`.
  // Returns the number submitted or an error; -ETIME / -EINTR are not errors.
  Result<void> submit_and_wait(std::uint64_t timeout_ns) noexcept;
  Result<void> submit() noexcept;
  // Copies up to `max` completions into `out` and marks them seen. Returns how many.
  std::size_t reap(Completion* out, std::size_t max) noexcept;

 private:
  ::io_uring_sqe* get_sqe() noexcept;
  io_uring* ring_;
  RingFeatures features_;
  bool initialised_ = false;
};

}  // namespace ringgate::net
