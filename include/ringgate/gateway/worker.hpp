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
#include "ringgate/http/upgrade.hpp"
#include "ringgate/net/buffer_ring.hpp"
#include "ringgate/net/listener.hpp"
#include "ringgate/net/ring.hpp"
#include "ringgate/pubsub/hub.hpp"
#include "ringgate/timer/wheel.hpp"
#include "ringgate/tls/context.hpp"

namespace ringgate::gateway {

enum class ListenerKind : std::uint8_t { plain, tls, redirect, api };

using Hub = pubsub::Hub;  // the workers' shared mailboxes (pub/sub's)
using pubsub::kMaxWorkers;
class RouteHandler;   // src/gateway/route.hpp
class Transport;      // src/gateway/transport/transport.hpp
struct UpgradeCheck;  // src/gateway/upgrade_policy.hpp

// One listening socket of a worker, as the server opened it.
struct ListenerSpec {
  int fd = -1;
  ListenerKind kind = ListenerKind::plain;
  tls::ContextSlot* tls = nullptr;  // kind == tls: the listener's current certificates
  std::uint16_t redirect_port = 443;// kind == redirect: the https port named in Location
};

class Worker {
 public:
  Worker(unsigned id, const Config& cfg, std::vector<ListenerSpec> listeners, bool ktls_available,
         Hub* hub) noexcept;
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Thread body: sets up the ring (on this thread, as SINGLE_ISSUER requires), reports readiness
  // through `ready` (1 = running, -1 = failed, with `error()` set) and runs until drained.
  void run(std::atomic<int>& ready) noexcept;
  // From any thread: begin the graceful drain (close 1001 to everyone, stop accepting).
  void request_stop() noexcept;
  // After every worker has stopped: frees what is still in the mailboxes addressed to this one.
  void discard_mail() noexcept;
  const WorkerMetrics& metrics() const noexcept { return metrics_; }
  const std::string& error() const noexcept { return error_; }
  std::string features() const;
  int ring_fd() const noexcept { return ring_fd_.load(std::memory_order_acquire); }

 private:
  struct SendOp {
    msghdr msg;
    iovec iov[32];
    alignas(8) std::uint8_t cmsg[24];  // control data of a send aside (a kTLS record type)
    std::uint16_t next_free;
  };
  struct Listener {
    ListenerSpec spec;
    std::shared_ptr<tls::ServerContext> ctx;  // this worker's reference to the current context
    std::uint64_t generation = 0;
    // The current TLS context (certificates reloaded by SIGHUP are taken for new connections).
    const std::shared_ptr<tls::ServerContext>* context() noexcept;
  };
  // Parts of the worker with a class of their own, each in its file:
  class Port;          // ConnIo (routes) and LinkIo (transport) for one connection (worker_port.hpp)
  struct FrameSink;    // parser events -> whole messages for the route (messages.cpp)
  class Subscribers;   // the Exchange and the Delivery it calls (subscribers.hpp)
  class RefusalLog;    // refusal lines, with the peer looked up on the ring (refusal_log.hpp)

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
  void start_send(std::uint32_t index, Connection& conn, OutQueue& q) noexcept;
  // The connection closes now (peer_gone: it left, so an open WebSocket ended with 1006).
  void teardown(std::uint32_t index, Connection& conn, bool peer_gone = false) noexcept;
  void close_if_deferred(std::uint32_t index, Connection& conn) noexcept;
  void maybe_release(std::uint32_t index, Connection& conn) noexcept;
  std::uint64_t ud(std::uint8_t kind, std::uint32_t index) const noexcept;

  // deadlines.cpp: the one timer per connection, the heartbeat, the drain
  void on_timer(timer::Entry& e) noexcept;
  void on_open_timer(std::uint32_t index, Connection& conn) noexcept;
  void arm_open_timer(std::uint32_t index, Connection& conn) noexcept;
  void send_ping(std::uint32_t index, Connection& conn) noexcept;
  void on_pong(Connection& conn) noexcept;
  void begin_drain() noexcept;
  std::uint32_t now32() const noexcept { return std::uint32_t(now_ms_ - epoch_ms_); }

  // upgrade.cpp, messages.cpp: bytes in, protocol out
  RouteHandler* route_handler(const Connection& conn) const noexcept {
    return conn.route != 0 ? routes_[conn.route - 1u].get() : nullptr;
  }
  void on_bytes(std::uint32_t index, Connection& conn, std::uint8_t* data, std::size_t len) noexcept;
  std::size_t on_head_bytes(std::uint32_t index, Connection& conn, std::uint8_t* data, std::size_t len) noexcept;
  // The 101 for route table row `row`, with the subprotocol it speaks; then the route's on_open.
  void accept_upgrade(std::uint32_t index, Connection& conn, const http::Request& req, const http::Upgrade& up,
                      std::size_t row) noexcept;
  void refuse(std::uint32_t index, Connection& conn, http::Reject why, const http::Request* req,
              std::string_view raw_head) noexcept;
  void on_frames(std::uint32_t index, Connection& conn, std::uint8_t* data, std::size_t len) noexcept;
  void send_close(std::uint32_t index, Connection& conn, std::uint16_t code, std::string_view reason,
                  Phase next) noexcept;

  unsigned id_;
  Config cfg_;
  std::vector<std::unique_ptr<RouteHandler>> routes_;  // one per row of route_table()
  std::vector<UpgradeCheck> policy_;                    // upgrade_policy(cfg_)
  std::vector<Listener> listeners_;
  bool ktls_available_;
  std::unique_ptr<Transport> transport_;  // PROXY, TLS, kTLS (transport/)
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
  std::uint64_t next_trim_ms_ = 0;  // when the chunk pool next gives back part of its cache
  bool draining_ = false;
  bool accept_retry_ = false;
  std::uint64_t drain_deadline_ms_ = 0;
  Hub* hub_;
  std::unique_ptr<Subscribers> subscribers_;
  std::unique_ptr<RefusalLog> refusals_;
  WorkerMetrics metrics_;
};

}  // namespace ringgate::gateway
