// Worker: one thread, one io_uring, one provided-buffer ring, one connection slab, one timer wheel.
// Workers share nothing; the only cross-thread state is the stop flag and the metrics (single
// writer, read by the admin thread).
//
// One loop turn: wait for completions (or the next timer deadline) -> handle every completion ->
// fire due timers -> flush each connection that has output with one send -> hand receive buffers
// back in one batch -> submit everything in one io_uring_enter.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ringgate/core/log.hpp"
#include "ringgate/core/slab.hpp"
#include "ringgate/gateway/config.hpp"
#include "ringgate/gateway/connection.hpp"
#include "ringgate/gateway/metrics.hpp"
#include "ringgate/http/request.hpp"
#include "ringgate/net/buffer_ring.hpp"
#include "ringgate/net/ring.hpp"
#include "ringgate/timer/wheel.hpp"

namespace ringgate::gateway {

class Worker {
 public:
  Worker(unsigned id, const Config& cfg, std::vector<int> listen_fds) noexcept;
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Thread body: sets up the ring (on this thread, as SINGLE_ISSUER requires), reports readiness
  // through `ready` (1 = running, -1 = failed, with `error()` set) and runs until drained.
  void run(std::atomic<int>& ready) noexcept;
  // From any thread: begin the graceful drain (close 1001 to everyone, stop accepting).
  void request_stop() noexcept;
  const WorkerMetrics& metrics() const noexcept { return metrics_; }
  const std::string& error() const noexcept { return error_; }
  std::string features() const;
  int ring_fd() const noexcept { return ring_fd_.load(std::memory_order_acquire); }

 private:
  struct SendOp {
    msghdr msg;
    iovec iov[32];
    std::uint16_t next_free;
  };
  struct PendingLog {
    std::uint64_t ud;
    std::string head, rest;  // the log line before and after "peer=..."
  };
  friend struct EchoSink;

  // worker.cpp: the loop and the ring plumbing
  bool setup() noexcept;
  void loop() noexcept;
  void arm_accept(std::size_t listener) noexcept;
  void dispatch(const net::Completion& c) noexcept;
  void on_accept(std::size_t listener, const net::Completion& c) noexcept;
  void on_recv(std::uint32_t index, Connection& conn, const net::Completion& c) noexcept;
  void on_send(std::uint32_t index, Connection& conn, const net::Completion& c) noexcept;
  void arm_recv(std::uint32_t index, Connection& conn) noexcept;
  void mark_dirty(std::uint32_t index, Connection& conn) noexcept;
  void flush() noexcept;
  void start_send(std::uint32_t index, Connection& conn) noexcept;
  void teardown(std::uint32_t index, Connection& conn) noexcept;
  void maybe_release(std::uint32_t index, Connection& conn) noexcept;
  void on_timer(timer::Entry& e) noexcept;
  void on_open_timer(std::uint32_t index, Connection& conn) noexcept;
  std::uint64_t open_deadline(std::uint32_t index, const Connection& conn) const noexcept;
  void arm_open_timer(std::uint32_t index, Connection& conn) noexcept;
  std::uint32_t ping_interval_ms(std::uint32_t index) const noexcept;
  void send_ping(std::uint32_t index, Connection& conn) noexcept;
  void on_pong(Connection& conn) noexcept;
  std::uint32_t now32() const noexcept { return std::uint32_t(now_ms_ - epoch_ms_); }
  void begin_drain() noexcept;
  std::uint64_t ud(std::uint8_t kind, std::uint32_t index) const noexcept;

  // connection.cpp: bytes in, protocol out
  void on_bytes(std::uint32_t index, Connection& conn, std::uint8_t* data, std::size_t len) noexcept;
  std::size_t on_head_bytes(std::uint32_t index, Connection& conn, std::uint8_t* data, std::size_t len) noexcept;
  void on_frames(std::uint32_t index, Connection& conn, std::uint8_t* data, std::size_t len) noexcept;
  void accept_upgrade(std::uint32_t index, Connection& conn, std::string_view key,
                      std::string_view protocol) noexcept;
  void refuse(std::uint32_t index, Connection& conn, http::Reject why, const http::Request* req,
              std::string_view raw_head) noexcept;
  void log_refusal(std::uint32_t index, Connection& conn, http::Reject why, const http::Request* req,
                   std::string_view raw_head) noexcept;
  void send_close(std::uint32_t index, Connection& conn, std::uint16_t code, std::string_view reason,
                  Phase next) noexcept;
  void on_peer_gone(std::uint32_t index, Connection& conn) noexcept;
  void on_fd_installed(std::uint64_t ud, std::int32_t res) noexcept;
  void release_in(Connection& conn) noexcept;

  unsigned id_;
  Config cfg_;
  std::vector<std::string_view> subprotocols_;  // views of cfg_.subprotocols
  std::vector<int> listen_fds_;
  std::vector<std::uint8_t> accept_armed_;
  std::string error_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<int> ring_fd_{-1};

  net::Ring ring_;
  net::BufferRing buffers_;
  Slab<Connection> conns_;
  ChunkPool chunks_;
  timer::Wheel wheel_;
  std::uint64_t epoch_ms_;  // Connection times are milliseconds since this, modulo 2^32
  std::vector<SendOp> send_ops_;
  std::uint16_t free_send_op_ = 0xffff;
  std::vector<std::uint32_t> rearm_;  // connections whose recv must be re-armed after buffers return
  std::vector<std::uint32_t> dirty_;  // connections with output or a phase step to take (kDirty set)
  std::uint64_t now_ms_ = 0;
  bool draining_ = false;
  bool accept_retry_ = false;
  std::uint64_t drain_deadline_ms_ = 0;
  RateLimiter refusal_log_{10};
  std::vector<PendingLog> pending_logs_;
  WorkerMetrics metrics_;
};

}  // namespace ringgate::gateway
