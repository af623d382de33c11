#include "ringgate/gateway/server.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <chrono>
#include <cstring>

#include "ringgate/core/clock.hpp"
#include "ringgate/core/log.hpp"
#include "ringgate/net/listener.hpp"
#include "ringgate/tls/ktls.hpp"
#include "ringgate/ws/mask.hpp"
#include "user_data.hpp"

namespace ringgate::gateway {

Server::~Server() {
  request_stop();
  wait();
  for (int fd : orphan_fds_) ::close(fd);
}


bool Server::build_contexts(std::vector<std::shared_ptr<tls::ServerContext>>& out, std::string& why) {
  for (const TlsListen& l : cfg_.listen_tls) {
    tls::ServerOptions o;
    o.certs = l.certs;
    o.tickets = &tickets_;
    o.cache = session_cache_.get();
    o.session_lifetime_s = cfg_.tls_session_lifetime_s;
    auto ctx = tls::ServerContext::create(o, why);
    if (!ctx) {
      why = "TLS listener " + l.address.to_string() + ": " + why;
      return false;
    }
    out.push_back(std::move(ctx));
  }
  return true;
}

bool Server::reload_tls(std::string& why) {
  if (cfg_.listen_tls.empty()) return true;
  std::vector<std::shared_ptr<tls::ServerContext>> fresh;
  if (!build_contexts(fresh, why)) return false;
  if (!cfg_.tls_ticket_keys.empty() && !tickets_.load_file(cfg_.tls_ticket_keys, why)) {
    why = "--tls-ticket-keys: " + why;
    return false;
  }
  for (std::size_t i = 0; i < fresh.size(); ++i) tls_slots_[i]->set(std::move(fresh[i]));
  return true;
}

void Server::tick() {
  if (cfg_.listen_tls.empty() || cfg_.tls_ticket_rotate_ms == 0) return;
  const std::uint64_t now = monotonic_ms();
  if (now < next_rotation_ms_) return;
  next_rotation_ms_ = now + cfg_.tls_ticket_rotate_ms;
  if (cfg_.tls_ticket_keys.empty()) {
    tickets_.rotate();
  } else {
    // A fleet shares the file: whoever rotates writes it, every gateway re-reads it.
    std::string why;
    if (!tickets_.load_file(cfg_.tls_ticket_keys, why)) RG_LOG_WARN("--tls-ticket-keys: %s (keys kept)", why.c_str());
  }
}

namespace {
const char* flag_of(ListenerKind kind) noexcept {
  switch (kind) {
    case ListenerKind::plain: return "--listen";
    case ListenerKind::tls: return "--listen-tls";
    case ListenerKind::redirect: return "--redirect-http";
    case ListenerKind::api: return "--api";
  }
  return "?";
}
}  // namespace

// Our listeners set SO_REUSEPORT, so binding next to another process's listener succeeds and the
// kernel splits new connections between the two: refuse that unless --handover asks for it. The same
// address given twice would be split between our own listeners: refused too, --handover or not.
Result<void> Server::check_exclusive(const std::vector<Want>& wants, bool handover, std::string& why) {
  for (std::size_t i = 0; i < wants.size(); ++i) {
    const net::SockAddr& addr = wants[i].address;
    if (addr.port() == 0) continue;
    for (std::size_t j = 0; j < i; ++j) {
      if (wants[j].address.to_string() != addr.to_string()) continue;
      why = "cannot listen on " + addr.to_string() + ": given twice (" + flag_of(wants[j].kind) + " and " +
            flag_of(wants[i].kind) + ")";
      return Errc::invalid_argument;
    }
    // Other errors (say, an address not on this host) are left to the listener, which reports them.
    auto free = net::probe_exclusive(addr);
    if (free || free.error() != Errc::address_in_use) continue;
    if (handover) {
      RG_LOG_INFO("--handover: %s (%s) is shared with the process already listening on it until that "
                  "one stops; send it SIGTERM", addr.to_string().c_str(), flag_of(wants[i].kind));
      continue;
    }
    why = "cannot listen on " + addr.to_string() + " (" + flag_of(wants[i].kind) +
          "): another process is listening on it; sharing it (SO_REUSEPORT) would split new connections "
          "between the two. To restart without refused connections, start the new process with --handover, "
          "then stop the old one with SIGTERM";
    return Errc::address_in_use;
  }
  return {};
}

// One SO_REUSEPORT listener per worker on each address (port 0 resolves on the first, the others
// bind the port it got). On a failure, the ones already open go to orphan_fds_ (closed in ~Server).
Result<void> Server::open_listeners(const std::vector<Want>& wants, std::vector<std::vector<ListenerSpec>>& per_worker,
                                    std::string& why) {
  std::uint16_t https_port = 443;
  for (const Want& want : wants) {
    net::SockAddr addr = want.address;
    for (std::size_t w = 0; w < per_worker.size(); ++w) {
      auto fd = net::open_listener(addr, net::ListenOptions{});
      if (!fd) {
        for (auto& specs : per_worker) {
          for (const ListenerSpec& spec : specs) orphan_fds_.push_back(spec.fd);
        }
        why = "cannot listen on " + addr.to_string() + ": " +
              (fd.error() == Errc::address_in_use ? "address already in use" : std::string(errc_name(fd.error())));
        return fd.error();
      }
      per_worker[w].push_back(ListenerSpec{*fd, want.kind, want.slot, 443});
      if (w == 0 && addr.port() == 0) {
        auto local = net::local_address(*fd);
        if (local) addr.set_port(local->port());
      }
    }
    if (want.kind == ListenerKind::tls && https_port == 443 && bound_.size() == cfg_.listen.size()) {
      https_port = addr.port();  // redirects name the first TLS listener's port
    }
    bound_.push_back(Bound{addr, want.kind});
  }
  for (auto& specs : per_worker) {
    for (ListenerSpec& spec : specs) {
      if (spec.kind == ListenerKind::redirect) spec.redirect_port = https_port;
    }
  }
  return {};
}

Result<void> Server::start(const Config& cfg, std::string& why) {
  cfg_ = cfg;
  // The node's name in broker envelopes: random per process (a restarted node is a new node).
  while (cfg_.node_id == 0) {
    if (::getrandom(&cfg_.node_id, sizeof cfg_.node_id, 0) != sizeof cfg_.node_id) cfg_.node_id = monotonic_ns();
  }
  const unsigned n = cfg.workers == 0 ? 1 : cfg.workers;
  if (!cfg.listen_tls.empty()) {
    tls::global_init();
    if (!cfg.tls_ticket_keys.empty() && !tickets_.load_file(cfg.tls_ticket_keys, why)) {
      why = "--tls-ticket-keys: " + why;
      return Errc::invalid_argument;
    }
    next_rotation_ms_ = monotonic_ms() + cfg.tls_ticket_rotate_ms;
    session_cache_ = std::make_unique<tls::SessionCache>(cfg.tls_session_cache, cfg.tls_session_lifetime_s);
    std::vector<std::shared_ptr<tls::ServerContext>> contexts;
    if (!build_contexts(contexts, why)) return Errc::invalid_argument;
    for (auto& ctx : contexts) {
      tls_slots_.push_back(std::make_unique<tls::ContextSlot>());
      tls_slots_.back()->set(std::move(ctx));
    }
    ktls_available_ = tls::ktls_probe();
    if (cfg.ktls == KtlsMode::on && !ktls_available_) {
      why = "--ktls on: this kernel has no TLS upper-layer protocol (CONFIG_TLS / modprobe tls)";
      return Errc::not_supported;
    }
  }
  std::vector<Want> wants;
  for (const auto& a : cfg.listen) wants.push_back({a, ListenerKind::plain, nullptr});
  for (std::size_t i = 0; i < cfg.listen_tls.size(); ++i) {
    wants.push_back({cfg.listen_tls[i].address, ListenerKind::tls, tls_slots_[i].get()});
  }
  for (const auto& a : cfg.redirect_http) wants.push_back({a, ListenerKind::redirect, nullptr});
  for (const auto& a : cfg.api) wants.push_back({a, ListenerKind::api, nullptr});
  // Every address is checked before any listener binds: a refusal leaves nothing half-open.
  if (auto ok = check_exclusive(wants, cfg.handover, why); !ok) return ok.error();
  std::vector<std::vector<ListenerSpec>> per_worker(n);
  if (auto ok = open_listeners(wants, per_worker, why); !ok) return ok.error();
  std::string control_why;
  net::RingConfig rc;
  rc.sq_entries = 64;
  rc.cq_entries = 128;
  rc.direct_descriptors = false;
  control_ok_ = bool(control_.init(rc, control_why));

  hub_ = std::make_unique<Hub>(n);
  ready_ = std::make_unique<std::atomic<int>[]>(n);
  for (unsigned w = 0; w < n; ++w) {
    ready_[w].store(0);
    workers_.push_back(std::make_unique<Worker>(w, cfg_, per_worker[w], ktls_available_, hub_.get()));
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

const char* Server::unmask_isa() noexcept { return ws::unmask_isa(); }

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
  for (auto& w : workers_) w->discard_mail();
}

bool Server::running() const noexcept { return finished_.load() == 0; }

bool Server::healthy() const noexcept { return running() && !stopping_.load(); }

void Server::render_metrics(PromWriter& out) const {
  std::vector<const WorkerMetrics*> all;
  for (const auto& w : workers_) all.push_back(&w->metrics());
  gateway::render_metrics(all, out, hub_ ? hub_->depth() : 0);
  if (cfg_.listen_tls.empty()) return;
  out.family("ringgate_tls_ticket_keys_rotated_total", "counter",
             "Changes of the session-ticket encryption key (schedule, key file, SIGHUP).");
  out.sample("ringgate_tls_ticket_keys_rotated_total", "", tickets_.rotations());
  out.family("ringgate_tls_session_cache_total", "counter", "TLS 1.2 session-ID cache operations, by result.");
  out.sample("ringgate_tls_session_cache_total", "result=\"hit\"", session_cache_->hits());
  out.sample("ringgate_tls_session_cache_total", "result=\"miss\"", session_cache_->misses());
  out.sample("ringgate_tls_session_cache_total", "result=\"store\"", session_cache_->stores());
  out.sample("ringgate_tls_session_cache_total", "result=\"eviction\"", session_cache_->evictions());
  out.family("ringgate_tls_session_cache_entries", "gauge", "Sessions in the TLS 1.2 session-ID cache.");
  out.sample("ringgate_tls_session_cache_entries", "", std::uint64_t(session_cache_->size()));
  out.family("ringgate_tls_ktls_available", "gauge", "1 when the kernel offers kernel TLS (TLS ULP).");
  out.sample("ringgate_tls_ktls_available", "", std::uint64_t(ktls_available_ ? 1 : 0));
}

}  // namespace ringgate::gateway
