// Worker::Port: the worker's side of ConnIo (for routes) and LinkIo (for the transport layers) for
// one connection (a slot index and its Connection), made on the stack where a route or the
// transport is called. Routes see only ConnIo, transports only LinkIo; the worker's own code may
// use the extras below (whether a write failed inside a parser feed).
#pragma once

#include "ringgate/gateway/conn_io.hpp"
#include "ringgate/gateway/worker.hpp"
#include "transport/link_io.hpp"

namespace ringgate::gateway {

inline constexpr std::uint16_t kCloseSlowConsumer = 4100;

class Worker::Port final : public ConnIo, public LinkIo {
 public:
  Port(Worker& w, std::uint32_t index, Connection& conn) noexcept : w_(w), index_(index), conn_(conn) {}

  bool send(ws::Opcode op, std::span<const std::uint8_t> payload) noexcept override;
  bool write(std::string_view bytes) noexcept override;
  void close(std::uint16_t code, std::string_view reason) noexcept override;
  void end_response(bool keep_alive) noexcept override;
  void pause_reading() noexcept override;
  void resume_reading() noexcept override;
  void arm_deadline(std::uint64_t ms) noexcept override;
  std::uint64_t token() const noexcept override;
  std::uint64_t held_bytes() const noexcept override;
  std::uint8_t route_state() const noexcept override { return conn_.route_state; }
  void set_route_state(std::uint8_t bits) noexcept override { conn_.route_state = bits & 15u; }
  void abort() noexcept override { w_.teardown(index_, conn_); }
  bool ended() const noexcept override {
    return conn_.phase == Phase::linger || conn_.phase == Phase::finish || conn_.phase == Phase::teardown;
  }
  bool stash(std::span<const std::uint8_t> bytes, std::size_t limit, std::size_t padding) noexcept override;
  std::span<std::uint8_t> stashed() noexcept override;
  void unstash(std::size_t n) noexcept override;
  bool draining() const noexcept override { return w_.draining_; }

  void deliver(std::uint8_t* data, std::size_t len) noexcept override { w_.on_bytes(index_, conn_, data, len); }
  void arm_recv() noexcept override { w_.arm_recv(index_, conn_); }
  void cancel_recv() noexcept override;
  bool recvmsg(msghdr* msg) noexcept override;
  bool send_aside(const void* data, std::size_t len, const void* cmsg, std::size_t cmsg_len) noexcept override;
  bool install_fd(bool for_keys) noexcept override;
  bool direct() const noexcept override { return w_.ring_.direct(); }
  int fd() const noexcept override { return conn_.fd; }
  std::uint32_t slot() const noexcept override { return index_; }
  void dirty() noexcept override { w_.mark_dirty(index_, conn_); }
  void teardown() noexcept override { w_.teardown(index_, conn_); }
  void peer_gone() noexcept override { w_.teardown(index_, conn_, true); }
  void release_if_done() noexcept override { w_.maybe_release(index_, conn_); }
  void finish(bool peer_ended) noexcept override;
  void refuse(http::Reject why, std::string_view first_bytes) noexcept override {
    w_.refuse(index_, conn_, why, nullptr, first_bytes);
  }
  void log_proxy_refusal(ProxyResult why, const sockaddr* peer) noexcept override;
  void set_deadline(std::uint64_t ms) noexcept override { arm_deadline(ms); }
  std::uint64_t age_ms() const noexcept override { return std::uint32_t(w_.now32() - conn_.since_ms); }

  // Queued bytes plus a per-chunk overhead (OutQueue::footprint), plaintext and ciphertext.
  std::uint64_t queued() const noexcept;
  // Reading again once a peer paused for holding too much is below half of --max-outbound-bytes.
  void maybe_resume() noexcept;
  // Pub/sub's disconnect policy: close 4100 ahead of the queue (slow_close), once a send the
  // kernel is stuck on is back (finish_slow_close).
  void slow_close() noexcept;
  void finish_slow_close() noexcept;
  // Reading stops for a reason (kPaused: backpressure, kRoutePaused: the route) and starts again
  // when none is left.
  void pause(std::uint8_t why) noexcept;
  void resume(std::uint8_t why) noexcept;

  // Inside a parser feed a failed write only marks the port (the feed ends, then the worker closes
  // with 1011); elsewhere it tears the connection down at once.
  bool in_feed = false;
  bool failed = false;

 private:
  void write_failed() noexcept;

  Worker& w_;
  std::uint32_t index_;
  Connection& conn_;
};

}  // namespace ringgate::gateway
