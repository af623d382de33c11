// ringgate: parse flags, start the workers and the admin endpoint, wait for SIGTERM/SIGINT, drain.
#include <signal.h>
#include <sys/resource.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "ringgate/app/admin.hpp"
#include "ringgate/app/cli.hpp"
#include "ringgate/core/clock.hpp"
#include "ringgate/core/log.hpp"
#include "ringgate/gateway/server.hpp"

#ifdef RINGGATE_MIMALLOC
#include <mimalloc.h>
#endif

namespace {
const char* allocator_name() {
#ifdef RINGGATE_MIMALLOC
  static char buf[32];
  std::snprintf(buf, sizeof buf, "mimalloc %d", mi_version());
  return buf;
#else
  return "libc malloc";
#endif
}

ringgate::Result<void> start_admin(ringgate::app::AdminServer& admin, const ringgate::net::SockAddr& addr,
                                   ringgate::gateway::Server& server, std::string& why) {
  return admin.start(
      addr,
      [&server] {
        ringgate::PromWriter w;
        server.render_metrics(w);
        return w.text();
      },
      [&server] { return server.healthy(); }, why);
}

// The start-up lines the harness and operators read: one per listener, then the broker.
void log_listeners(const ringgate::gateway::Server& server, const ringgate::app::Options& options) {
  using ringgate::gateway::ListenerKind;
  for (const auto& l : server.listeners()) {
    const std::string a = l.address.to_string();
    switch (l.kind) {
      case ListenerKind::plain:
        RG_LOG_INFO("listening on ws://%s (routes /echo, /ws)", a.c_str());
        break;
      case ListenerKind::tls:
        RG_LOG_INFO("listening on wss://%s (routes /echo, /ws, kTLS %s)", a.c_str(),
                    options.gateway.ktls == ringgate::gateway::KtlsMode::off ? "off"
                    : server.ktls_available()                                  ? "available"
                                                                               : "unavailable: user-space TLS");
        break;
      case ListenerKind::redirect:
        RG_LOG_INFO("redirecting http://%s to https", a.c_str());
        break;
      case ListenerKind::api:
        RG_LOG_INFO("api on http://%s (POST /publish)", a.c_str());
        break;
    }
  }
  const ringgate::gateway::BrokerConfig& b = options.gateway.broker;
  if (b.kind == ringgate::gateway::BrokerKind::embedded) {
    RG_LOG_INFO("broker: embedded");
  } else {
    RG_LOG_INFO("broker: %s at %s%s (connections per worker; publishes fail while it is down)", b.url.c_str(),
                b.address.to_string().c_str(), b.sharded ? ", sharded pub/sub" : "");
  }
}

// Returns the signals main() waits for, blocked in every thread (workers never see them).
sigset_t prepare_process() {
  // Direct descriptors do not count against RLIMIT_NOFILE, but each ring's fixed-file table is
  // capped by it, so take the hard limit.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  // Signals are taken synchronously by the main thread, and blocked before any thread starts.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return set;
}

// --handover: the old process keeps its admin port (no SO_REUSEPORT there) until it has drained.
// The new one serves at once on the shared ports and takes the admin port as soon as it is free,
// retried every turn of the signal loop; until then /healthz and /metrics reach the old process.
struct PendingAdmin {
  bool pending = false;
  std::uint64_t remind_at_ms = 0;
};

void retry_admin(PendingAdmin& p, ringgate::app::AdminServer& admin, const ringgate::net::SockAddr& addr,
                 ringgate::gateway::Server& server) {
  std::string why;
  if (start_admin(admin, addr, server, why)) {
    p.pending = false;
    RG_LOG_INFO("admin on http://%s (/metrics, /healthz)", admin.address().to_string().c_str());
    return;
  }
  if (ringgate::monotonic_ms() < p.remind_at_ms) return;
  p.remind_at_ms = ringgate::monotonic_ms() + 30'000;
  RG_LOG_WARN("--handover: admin port %s is still held (%s); is the old process still running? "
              "Send it SIGTERM", addr.to_string().c_str(), why.c_str());
}
}  // namespace

int main(int argc, char** argv) {
  using namespace ringgate;
  std::vector<std::string> args(argv + 1, argv + argc);
  app::CliResult cli = app::parse_cli(args);
  if (!cli.error.empty()) {
    std::fprintf(stderr, "ringgate: %s\n%s", cli.error.c_str(), app::usage().c_str());
    return 2;
  }
  if (cli.options.help) {
    std::fputs(app::usage().c_str(), stdout);
    return 0;
  }
  if (cli.options.version) {
    std::printf("ringgate %s\n", app::kVersion);
    return 0;
  }
  set_log_level(cli.options.log_level);

  const sigset_t set = prepare_process();

  gateway::Server server;
  std::string why;
  if (!server.start(cli.options.gateway, why)) {
    RG_LOG_ERROR("%s", why.c_str());
    return 2;
  }
  app::AdminServer admin;
  PendingAdmin admin_wait;
  if (auto ok = cli.options.admin ? start_admin(admin, *cli.options.admin, server, why) : Result<void>{}; !ok) {
    if (!cli.options.gateway.handover || ok.error() != Errc::address_in_use) {
      RG_LOG_ERROR("%s", why.c_str());
      server.request_stop();
      server.wait();
      return 2;
    }
    RG_LOG_WARN("--handover: %s; taking it over once the old process releases it", why.c_str());
    admin_wait = PendingAdmin{true, monotonic_ms() + 30'000};
  }
  RG_LOG_INFO("ringgate %s: %u workers, %s, unmask %s, %s", app::kVersion, cli.options.gateway.workers,
              server.features().c_str(), gateway::Server::unmask_isa(), allocator_name());
  log_listeners(server, cli.options);
  if (cli.options.admin && !admin_wait.pending) {
    RG_LOG_INFO("admin on http://%s (/metrics, /healthz)", admin.address().to_string().c_str());
  }

  for (;;) {
    timespec ts{0, 200'000'000};
    int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM) {
      RG_LOG_INFO("signal %d: draining (up to %.1f s)", sig, double(cli.options.gateway.drain_timeout_ms) / 1000.0);
      break;
    }
    if (sig == SIGHUP) {
      if (server.reload_tls(why)) {
        RG_LOG_INFO("SIGHUP: certificates and ticket keys reloaded");
      } else {
        RG_LOG_ERROR("SIGHUP: reload failed, keeping the current ones: %s", why.c_str());
      }
    }
    server.tick();
    if (admin_wait.pending) retry_admin(admin_wait, admin, *cli.options.admin, server);
    if (!server.running()) {
      RG_LOG_ERROR("a worker stopped unexpectedly");
      admin.stop();
      return 1;
    }
  }
  server.request_stop();
  server.wait();
  admin.stop();
  RG_LOG_INFO("drained; exiting");
  return 0;
}
