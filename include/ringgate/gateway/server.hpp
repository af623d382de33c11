// Server: opens the listeners, starts one Worker thread per core and stops them gracefully.
// Listeners are opened here, before any thread starts, so "address in use" is reported at start-up;
// every worker gets its own SO_REUSEPORT socket on each address (port 0 resolves once, then all
// workers bind the port the first one got). Because of SO_REUSEPORT, an address another process
// already listens on is refused unless Config::handover says the sharing is a deliberate restart.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ringgate/core/metrics.hpp"
#include "ringgate/core/result.hpp"
#include "ringgate/gateway/config.hpp"
#include "ringgate/gateway/worker.hpp"
#include "ringgate/net/ring.hpp"
#include "ringgate/tls/context.hpp"
#include "ringgate/tls/keys.hpp"

namespace ringgate::gateway {

class Server {
 public:
  Server() = default;
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  struct Bound {
    net::SockAddr address;  // port resolved
    ListenerKind kind;
  };

  // Opens listeners and starts the workers; returns once every worker is running (or one failed).
  Result<void> start(const Config& cfg, std::string& why);
  // The listeners actually bound: --listen, --listen-tls, --redirect-http, then --api, each in order.
  const std::vector<Bound>& listeners() const noexcept { return bound_; }
  // SIGHUP: reloads certificates (new contexts for new connections) and the ticket-key file.
  // On an error the old state stays and `why` says what failed.
  bool reload_tls(std::string& why);
  // Main thread, every few hundred ms: rotates the ticket keys when due.
  void tick();
  bool ktls_available() const noexcept { return ktls_available_; }
  std::string features() const;
  // The implementation WebSocket unmasking dispatches to on this CPU ("avx512", "avx2" or "scalar"),
  // for the start-up line: app reports it through gateway, which owns the ws dependency.
  static const char* unmask_isa() noexcept;
  // Graceful drain: every worker stops accepting and closes its WebSockets with 1001.
  void request_stop() noexcept;
  // Joins the workers (returns once all have drained).
  void wait();
  // Every worker is still running (none has stopped, for whatever reason).
  bool running() const noexcept;
  // Running and not draining: what /healthz reports.
  bool healthy() const noexcept;
  void render_metrics(PromWriter& out) const;

 private:
  struct Want {  // one listening address from the configuration
    net::SockAddr address;
    ListenerKind kind;
    tls::ContextSlot* slot;
  };
  static Result<void> check_exclusive(const std::vector<Want>& wants, bool handover, std::string& why);
  Result<void> open_listeners(const std::vector<Want>& wants, std::vector<std::vector<ListenerSpec>>& per_worker,
                              std::string& why);
  bool build_contexts(std::vector<std::shared_ptr<tls::ServerContext>>& out, std::string& why);

  Config cfg_;
  std::vector<Bound> bound_;
  // Process-wide TLS state shared by every worker.
  tls::TicketKeyRing tickets_;
  std::unique_ptr<tls::SessionCache> session_cache_;
  std::vector<std::unique_ptr<tls::ContextSlot>> tls_slots_;  // one per --listen-tls
  std::uint64_t next_rotation_ms_ = 0;
  bool ktls_available_ = false;
  std::vector<int> orphan_fds_;  // listeners opened before a later one failed (workers own the rest)
  std::unique_ptr<Hub> hub_;  // pub/sub mailboxes between the workers
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::unique_ptr<std::atomic<int>[]> ready_;
  net::Ring control_;  // the main thread's own ring: wakes workers with IORING_OP_MSG_RING
  bool control_ok_ = false;
  std::atomic<unsigned> finished_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace ringgate::gateway
