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
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ringgate/core/log.hpp"
#include "ringgate/core/slab.hpp"
#include "ringgate/gateway/config.hpp"
#include "ringgate/gateway/connection.hpp"
#include "ringgate/gateway/metrics.hpp"
#include "ringgate/http/request.hpp"
#include "ringgate/net/buffer_ring.hpp"
#include "ringgate/net/listener.hpp"
#include "ringgate/net/ring.hpp"
#include "ringgate/pubsub/codec.hpp"
#include "ringgate/pubsub/exchange.hpp"
#include "ringgate/pubsub/hub.hpp"
#include "ringgate/timer/wheel.hpp"
#include "ringgate/tls/context.hpp"
#include "ringgate/tls/ktls.hpp"
#include "ringgate/tls/session.hpp"

namespace ringgate::gateway {

enum class ListenerKind : std::uint8_t { plain, tls, redirect, api };

using Hub = pubsub::Hub;  // the workers' shared mailboxes (pub/sub's)
using pubsub::kMaxWorkers;
struct PubsubRoute;  // pubsub_route.hpp: the /ws route's glue and the Exchange
struct ControlSink;  // src/gateway/control_sink.hpp
class RouteHandler;  // src/gateway/route.hpp
class Transport;     // src/gateway/transport/transport.hpp
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
    alignas(8) std::uint8_t cmsg[24];  // a kTLS record type (close_notify under kTLS)
    std::uint16_t next_free;
  };
  struct PendingLog {
    std::uint64_t ud;        // the descriptor install's user_data (0 until submitted)
    std::uint32_t index;     // the connection, held open (kLogPending) until the line is done
    std::string head, rest;  // the log line before and after "peer=..."
    std::string forwarded;   // client= and forwarded_for=, logged only when the peer is a trusted proxy
  };
  struct Listener {
    ListenerSpec spec;
    std::shared_ptr<tls::ServerContext> ctx;  // this worker's reference to the current context
    std::uint64_t generation = 0;
  };
  class Port;          // this worker's ConnIo for one connection (worker_port.hpp)
  struct FrameSink;    // parser events -> whole messages for the route (messages.cpp)
  friend struct ControlSink;
  friend struct PubSink;
  friend struct PubsubRoute;

  // worker.cpp: the loop and the ring plumbing
  bool setup() noexcept;
  void loop() noexcept;
  void arm_accept(std::size_t listener) noexcept;
  void dispatch(const net::Completion& c) noexcept;
  void on_accept(std::size_t listener, const net::Completion& c) noexcept;
  void on_recv(std::uint32_t index, Connection& conn, const net::Completion& c) noexcept;
  void on_send(std::uint32_t index, Connection& conn, const net::Completion& c) noexcept;
  const std::shared_ptr<tls::ServerContext>* tls_context(std::size_t listener) noexcept;
  void arm_recv(std::uint32_t index, Connection& conn) noexcept;
  void mark_dirty(std::uint32_t index, Connection& conn) noexcept;
  void flush() noexcept;
  void start_send(std::uint32_t index, Connection& conn, OutQueue& q) noexcept;
  void teardown(std::uint32_t index, Connection& conn) noexcept;
  void submit_close(std::uint32_t index, Connection& conn) noexcept;
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

  // upgrade.cpp, messages.cpp, refusal_log.cpp: bytes in, protocol out
  RouteHandler* route_handler(const Connection& conn) const noexcept {
    return conn.route != 0 ? routes_[conn.route - 1u].get() : nullptr;
  }
  void on_bytes(std::uint32_t index, Connection& conn, std::uint8_t* data, std::size_t len) noexcept;
  std::size_t on_head_bytes(std::uint32_t index, Connection& conn, std::uint8_t* data, std::size_t len) noexcept;
  void on_frames(std::uint32_t index, Connection& conn, std::uint8_t* data, std::size_t len) noexcept;
  void after_feed(std::uint32_t index, Connection& conn, std::uint32_t gen, const ws::FeedResult& r,
                  bool failed, std::uint16_t close_code, const char* close_reason) noexcept;
  void after_feed(std::uint32_t index, Connection& conn, std::uint32_t gen, const ws::FeedResult& r,
                  const ControlSink& sink) noexcept;
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
  void log_proxy_refusal(std::uint32_t index, Connection& conn, ProxyResult why, const sockaddr* peer) noexcept;
  void log_with_peer(std::uint32_t index, Connection& conn, PendingLog line, const sockaddr* known) noexcept;
  void finish_log(const PendingLog& line, const std::optional<net::SockAddr>& peer) noexcept;
  void close_if_deferred(std::uint32_t index, Connection& conn) noexcept;
  void release_in(Connection& conn) noexcept;
  void refuse_redirect(std::uint32_t index, Connection& conn, const http::Request& req) noexcept;

  // pubsub_conn.cpp: the /ws client protocol; pub/sub itself is the Exchange (pubsub module)
  bool setup_pubsub() noexcept;
  void on_ws_frames(std::uint32_t index, Connection& conn, std::uint8_t* data, std::size_t len) noexcept;
  void on_request(std::uint32_t index, Connection& conn, const std::uint8_t* data, std::size_t len) noexcept;
  void send_json(std::uint32_t index, Connection& conn, const char* json, std::size_t n) noexcept;
  void send_err(std::uint32_t index, Connection& conn, bool has_id, std::uint64_t id, pubsub::ErrorCode code,
                std::string_view message) noexcept;
  void slow_close(std::uint32_t index, Connection& conn) noexcept;
  void finish_slow_close(std::uint32_t index, Connection& conn) noexcept;
  std::uint64_t conn_token(std::uint32_t index) const noexcept {
    return std::uint64_t(conns_.generation(index)) << 32 | index;
  }
  Connection* conn_of(std::uint64_t token, std::uint32_t& index) noexcept;

  // api.cpp: the HTTP publish API (--api)
  void api_input(std::uint32_t index, Connection& conn, std::uint8_t* data, std::size_t len) noexcept;
  void api_step(std::uint32_t index, Connection& conn) noexcept;
  bool api_one(std::uint32_t index, Connection& conn) noexcept;
  std::size_t api_limit() const noexcept;  // bytes of requests a connection may have waiting
  void api_flow(std::uint32_t index, Connection& conn) noexcept;
  void api_respond(std::uint32_t index, Connection& conn, int status, std::string_view body, bool keep_alive,
                   std::string_view extra_headers = {}) noexcept;
  void api_done(const pubsub::Delivery::PubAnswer& a) noexcept;

  // queued_bytes() plus what the peer's publishes in flight hold (pubsub_conn.cpp): what a peer
  // makes us hold, compared with --max-outbound-bytes.
  std::uint64_t held_bytes(std::uint32_t index, const Connection& conn) const noexcept;
  void maybe_resume(std::uint32_t index, Connection& conn) noexcept;
  // Queued bytes plus a per-chunk overhead (OutQueue::footprint), plaintext and ciphertext.
  std::uint64_t queued_bytes(const Connection& conn) const noexcept;

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
  RateLimiter refusal_log_{10};
  Hub* hub_;
  bool api_stepping_ = false;
  std::unique_ptr<PubsubRoute> ps_;
  std::vector<PendingLog> pending_logs_;
  WorkerMetrics metrics_;
};

}  // namespace ringgate::gateway
