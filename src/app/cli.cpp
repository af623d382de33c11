// The command line over the option table (options.cpp): parse_cli() looks every argument up there,
// and usage() prints the table, so help and parsing cannot drift.
#include "ringgate/app/cli.hpp"

#include <unistd.h>

#include <algorithm>

#include "app/options.hpp"

namespace ringgate::app {
namespace {
constexpr std::size_t kHelpColumn = 28;  // where help text starts
constexpr std::size_t kHelpWidth = 110;  // help wraps before this column

// "  --flag SYNTAX" then the help, word-wrapped, continuation lines at kHelpColumn.
void append_row(std::string& out, const Option& o) {
  std::string line = "  ";
  if (!o.alias.empty()) line.append(o.alias).append(", ");
  line += o.name;
  if (o.takes_value()) line.append(" ").append(o.syntax);
  line.append(line.size() + 2 <= kHelpColumn ? kHelpColumn - line.size() : 2, ' ');
  std::string text(o.help);
  if (!o.fallback.empty()) text.append(" (default ").append(o.fallback).append(")");
  std::size_t pos = 0;
  bool first_word = true;
  while (pos < text.size()) {
    std::size_t end = text.find(' ', pos);
    if (end == std::string::npos) end = text.size();
    const std::string_view word(text.data() + pos, end - pos);
    if (!first_word && line.size() + 1 + word.size() > kHelpWidth) {
      out += line + "\n";
      line.assign(kHelpColumn, ' ');
      first_word = true;
    }
    if (!first_word) line += ' ';
    line += word;
    first_word = false;
    pos = end + 1;
  }
  out += line + "\n";
}
CliResult failed(std::string msg) {
  CliResult e;
  e.error = std::move(msg);
  return e;
}
}  // namespace

// Each profile pings at 45 % of the proxy's idle cut-off: even with +10 % jitter a ping and its pong
// cross the proxy before half the cut-off has passed, so one lost ping still leaves a second chance.
const HeartbeatProfile* heartbeat_profile(std::string_view name) {
  static constexpr HeartbeatProfile kProfiles[] = {
      {"cloudflare", 100'000, 45'000, 10'000},  // Cloudflare closes WebSockets idle for 100 s
      {"aws-alb", 60'000, 27'000, 10'000},      // ALB idle timeout, default 60 s
      {"aws-nlb", 350'000, 157'500, 20'000},    // NLB TCP idle timeout, 350 s
      {"nginx", 60'000, 27'000, 10'000},        // proxy_read_timeout / proxy_send_timeout, default 60 s
  };
  for (const HeartbeatProfile& p : kProfiles) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::string usage() {
  std::string out = "usage: ringgate [options]\n";
  for (const Option& o : option_table()) append_row(out, o);
  out +=
      "Durations are in seconds, fractions allowed (0.5).\n"
      "Routes: /echo echoes every message with its opcode; /ws is pub/sub (docs/protocol.md);\n"
      "GET / serves the pub/sub demo page.\n";
  return out;
}

// Declared in options.hpp: a config file ends the same way.
CliResult finish(OptionState&& s) {
  gateway::Config& g = s.options.gateway;
  if (s.profile != nullptr) {
    auto unset = [&](std::string_view flag) {
      return std::find(s.explicit_flags.begin(), s.explicit_flags.end(), flag) == s.explicit_flags.end();
    };
    if (unset("--ping-interval")) g.ping_interval_ms = s.profile->ping_interval_ms;
    if (unset("--pong-timeout")) g.pong_timeout_ms = s.profile->pong_timeout_ms;
  }
  if (!s.pending_cert.empty() || !s.pending_key.empty()) return failed("--tls-cert and --tls-key come in pairs");
  for (auto& l : g.listen_tls) {
    if (l.certs.empty()) l.certs = s.default_certs;
    if (l.certs.empty()) return failed("--listen-tls " + l.address.to_string() + " has no --tls-cert/--tls-key");
  }
  if (g.listen_tls.empty() && !s.default_certs.empty()) return failed("--tls-cert without --listen-tls");
  if (g.proxy_protocol != decltype(g.proxy_protocol)::off && g.trusted_proxies.empty()) {
    return failed("--proxy-protocol needs --trusted-proxies (headers are accepted only from them)");
  }
  if (g.proxy_timeout_ms == 0) return failed("--proxy-timeout must be above 0");
  if (!g.api.empty() && g.api_token.empty()) {
    return failed("--api needs --api-token or --api-token-file (the API never runs without a token)");
  }
  if (g.listen.empty() && g.listen_tls.empty() && g.redirect_http.empty()) {
    g.listen.push_back(*net::parse_address("127.0.0.1:8080"));
  }
  if (g.workers == 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    g.workers = cpus > 0 ? unsigned(std::min(cpus, 64L)) : 1;
  }
  CliResult r;
  r.options = std::move(s.options);
  return r;
}

CliResult parse_cli(const std::vector<std::string>& args) {
  static const std::string kNoValue;
  OptionState s;
  std::string err;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const Option* o = find_option(args[i]);
    if (o == nullptr) return failed("unknown option: " + args[i]);
    if (o->takes_value() && i + 1 >= args.size()) return failed(std::string(o->name) + std::string(o->needs));
    const std::string& value = o->takes_value() ? args[++i] : kNoValue;
    if (!apply(*o, value, s, err)) return failed(err);
  }
  return finish(std::move(s));
}

}  // namespace ringgate::app
