// ringgate: parse flags, start the workers and the admin endpoint, wait for SIGTERM/SIGINT, drain.
#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <string>
#include <vector>

#include "ringgate/app/admin.hpp"
#include "ringgate/app/cli.hpp"
#include "ringgate/core/log.hpp"
#include "ringgate/gateway/server.hpp"
#include "ringgate/ws/mask.hpp"

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

  // Direct descriptors do not count against RLIMIT_NOFILE, but each ring's fixed-file table is
  // capped by it, so take the hard limit.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  // Signals are taken synchronously by this thread; workers never see them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  gateway::Server server;
  std::string why;
  if (!server.start(cli.options.gateway, why)) {
    RG_LOG_ERROR("%s", why.c_str());
    return 2;
  }
  app::AdminServer admin;
  if (cli.options.admin) {
    auto ok = admin.start(
        *cli.options.admin,
        [&server] {
          PromWriter w;
          server.render_metrics(w);
          return w.text();
        },
        [&server] { return server.healthy(); }, why);
    if (!ok) {
      RG_LOG_ERROR("%s", why.c_str());
      server.request_stop();
      server.wait();
      return 2;
    }
  }
  RG_LOG_INFO("ringgate %s: %u workers, %s, unmask %s, %s", app::kVersion, cli.options.gateway.workers,
              server.features().c_str(), ws::unmask_isa(), allocator_name());
  for (const auto& l : server.listeners()) {
    const std::string a = l.address.to_string();
    switch (l.kind) {
      case gateway::ListenerKind::plain:
        RG_LOG_INFO("listening on ws://%s (routes /echo, /ws)", a.c_str());
        break;
      case gateway::ListenerKind::tls:
        RG_LOG_INFO("listening on wss://%s (routes /echo, /ws, kTLS %s)", a.c_str(),
                    cli.options.gateway.ktls == gateway::KtlsMode::off ? "off"
                    : server.ktls_available()                           ? "available"
                                                                        : "unavailable: user-space TLS");
        break;
      case gateway::ListenerKind::redirect:
        RG_LOG_INFO("redirecting http://%s to https", a.c_str());
        break;
      case gateway::ListenerKind::api:
        RG_LOG_INFO("api on http://%s (POST /publish)", a.c_str());
        break;
    }
  }
  {
    const gateway::BrokerConfig& b = cli.options.gateway.broker;
    if (b.kind == gateway::BrokerKind::embedded) {
      RG_LOG_INFO("broker: embedded");
    } else {
      RG_LOG_INFO("broker: %s at %s%s (connections per worker; publishes fail while it is down)", b.url.c_str(),
                  b.address.to_string().c_str(), b.sharded ? ", sharded pub/sub" : "");
    }
  }
  if (cli.options.admin) RG_LOG_INFO("admin on http://%s (/metrics, /healthz)", admin.address().to_string().c_str());

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
