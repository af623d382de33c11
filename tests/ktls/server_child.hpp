// A gateway::Server in a forked child process, so each test case gets a fresh server (fresh
// metrics, its own RSS) and the test process itself never has a thread (fork stays safe).
// The parent talks to the child over two pipes: the child first reports "ok <port>" or
// "error <why>"; then each 'm' byte asks for render_metrics() text, and 'q' (or the pipe's EOF,
// e.g. when the parent dies) stops the server gracefully and ends the child.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

#include "ringgate/gateway/config.hpp"

namespace ringgate::ktls_test {

using Metrics = std::map<std::string, double>;  // "name{labels}" -> value

class ServerChild {
 public:
  ServerChild() = default;
  ~ServerChild();
  ServerChild(const ServerChild&) = delete;
  ServerChild& operator=(const ServerChild&) = delete;

  // Forks; the child starts a Server with `cfg`. False with `why` if it could not start.
  bool start(const gateway::Config& cfg, std::string& why);
  std::uint16_t port() const noexcept { return port_; }
  pid_t pid() const noexcept { return pid_; }
  bool metrics(Metrics& out, std::string& why);
  // Graceful stop; SIGKILL after a grace period. True if the child exited with status 0.
  bool stop();

 private:
  pid_t pid_ = -1;
  int cmd_ = -1;   // parent -> child
  int resp_ = -1;  // child -> parent
  std::uint16_t port_ = 0;
};

// Polls metrics until pred(m) holds or timeout_ms passes; `m` holds the last sample either way.
template <class Pred>
bool wait_metrics(ServerChild& s, Metrics& m, long long timeout_ms, Pred pred, std::string& why);

double metric(const Metrics& m, const std::string& key);  // 0 when absent
// VmRSS of a process in bytes (0 if unreadable), and the system's Slab bytes (/proc/meminfo).
long long rss_bytes(pid_t pid);
long long slab_bytes();

}  // namespace ringgate::ktls_test

#include "server_child_impl.hpp"
