#include "ringgate/gateway/server.hpp"

#include <unistd.h>

#include <chrono>
#include <cstring>

#include "ringgate/core/log.hpp"
#include "ringgate/net/listener.hpp"
#include "user_data.hpp"

namespace ringgate::gateway {

Server::~Server() {
  request_stop();
  wait();
  for (int fd : orphan_fds_) ::close(fd);
}

Result<void> Server::start(const Config& cfg, std::string& why) {
  cfg_ = cfg;
  const unsigned n = cfg.workers == 0 ? 1 : cfg.workers;
  std::vector<std::vector<int>> per_worker(n);
  for (const net::SockAddr& want : cfg.listen) {
    net::SockAddr addr = want;
    for (unsigned w = 0; w < n; ++w) {
      auto fd = net::open_listener(addr, net::ListenOptions{});
      if (!fd) {
        for (auto& fds : per_worker) orphan_fds_.insert(orphan_fds_.end(), fds.begin(), fds.end());
        why = "cannot listen on " + addr.to_string() + ": " +
              (fd.error() == Errc::address_in_use ? "address already in use" : std::string(errc_name(fd.error())));
        return fd.error();
      }
      per_worker[w].push_back(*fd);
      if (w == 0 && addr.port() == 0) {
        auto local = net::local_address(*fd);
        if (local) addr.set_port(local->port());
      }
    }
    bound_.push_back(addr);
  }
  std::string control_why;
  net::RingConfig rc;
  rc.sq_entries = 64;
  rc.cq_entries = 128;
  rc.direct_descriptors = false;
  control_ok_ = bool(control_.init(rc, control_why));

  ready_ = std::make_unique<std::atomic<int>[]>(n);
  for (unsigned w = 0; w < n; ++w) {
    ready_[w].store(0);
    workers_.push_back(std::make_unique<Worker>(w, cfg, per_worker[w]));
  }
  for (unsigned w = 0; w < n; ++w) {
    threads_.emplace_back([this, w] {
      workers_[w]->run(ready_[w]);
      finished_.fetch_add(1);
    });
  }
  for (unsigned w = 0; w < n; ++w) {
    while (ready_[w].load(std::memory_order_acquire) == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (ready_[w].load() < 0) {
      why = "worker " + std::to_string(w) + ": " + workers_[w]->error();
      request_stop();
      wait();
      return Errc::not_supported;
    }
  }
  return {};
}

std::string Server::features() const { return workers_.empty() ? std::string() : workers_[0]->features(); }

void Server::request_stop() noexcept {
  stopping_.store(true);
  for (auto& w : workers_) w->request_stop();
  if (!control_ok_) return;  // workers also poll the flag every 100 ms
  for (auto& w : workers_) {
    int fd = w->ring_fd();
    if (fd >= 0) (void)control_.msg_ring(fd, 0, make_ud(kWake, 0, kNoSlot));
  }
  (void)control_.submit();
}

void Server::wait() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

bool Server::running() const noexcept { return finished_.load() == 0; }

bool Server::healthy() const noexcept { return running() && !stopping_.load(); }

void Server::render_metrics(PromWriter& out) const {
  std::vector<const WorkerMetrics*> all;
  for (const auto& w : workers_) all.push_back(&w->metrics());
  gateway::render_metrics(all, out);
}

}  // namespace ringgate::gateway
