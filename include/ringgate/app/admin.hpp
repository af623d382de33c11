// The admin endpoint: GET /metrics (Prometheus text) and GET /healthz, on its own listener and its
// own thread, away from the workers' rings. It reads the workers' counters, never their state.
//
// One thread runs an epoll loop over non-blocking sockets (plain syscalls: liburing is net's), so
// a slow or hostile client costs one slot and never the health check behind it:
// - At most max_connections at once. When full, a new connection evicts the oldest one still
//   waiting for its request head (a trickler is the likeliest occupant, and an honest probe sends
//   its head at once, so it is never the oldest); when every slot is writing a response, the new
//   connection is closed at once. Accepting is never paused by a full table.
// - Deadlines, not per-read timeouts: the whole head must arrive within head_timeout_ms of the
//   accept (else closed silently, as nginx does), and the whole response must be taken within
//   response_timeout_ms of being ready (else reset, so the kernel drops the unsent rest too);
//   whatever the peer sends or reads in between does not extend them.
// - Bounded memory: a head buffer of http::kDefaultHeadLimit (+1 to tell "too large": 431) per slot,
//   and one response per connection. One request per connection (Connection: close, as before), so
//   there is no pipelined input to bound.
// Refusals and timeouts are counted and appended to /metrics as ringgate_admin_* families.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "ringgate/core/result.hpp"
#include "ringgate/gateway/config.hpp"  // net::SockAddr (app reaches net only through gateway)

namespace ringgate::app {

struct AdminLimits {
  std::uint32_t max_connections = 256;
  std::uint32_t head_timeout_ms = 5000;
  std::uint32_t response_timeout_ms = 10000;
};

class AdminServer {
 public:
  using MetricsFn = std::function<std::string()>;
  using HealthFn = std::function<bool()>;

  AdminServer();
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  Result<void> start(const net::SockAddr& addr, MetricsFn metrics, HealthFn health, std::string& why,
                     const AdminLimits& limits = {});
  net::SockAddr address() const { return bound_; }
  // Wakes the loop, joins it and closes every connection; returns within a loop turn.
  void stop();

  struct Loop;  // the epoll loop's state, private to admin.cpp

 private:
  std::unique_ptr<Loop> loop_;
  net::SockAddr bound_;
  std::thread thread_;
};

}  // namespace ringgate::app
