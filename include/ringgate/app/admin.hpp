// The admin endpoint: GET /metrics (Prometheus text) and GET /healthz, on its own listener and its
// own thread, away from the workers' rings. It is a handful of requests a minute, so it uses
// ordinary blocking sockets with short timeouts; it reads the workers' counters, never their state.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "ringgate/core/result.hpp"
#include "ringgate/net/listener.hpp"

namespace ringgate::app {

class AdminServer {
 public:
  using MetricsFn = std::function<std::string()>;
  using HealthFn = std::function<bool()>;

  ~AdminServer();
  Result<void> start(const net::SockAddr& addr, MetricsFn metrics, HealthFn health, std::string& why);
  net::SockAddr address() const { return bound_; }
  void stop();

 private:
  void serve() noexcept;
  void handle(int fd) noexcept;

  int fd_ = -1;
  net::SockAddr bound_;
  MetricsFn metrics_;
  HealthFn health_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace ringgate::app
