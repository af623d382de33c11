#include "ringgate/app/cli.hpp"

#include <netdb.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace ringgate::app {
namespace {
constexpr std::uint64_t kMaxDurationMs = 40ull * 24 * 3600 * 1000;  // connection times are 32-bit ms

std::uint64_t* duration_flag(gateway::Config& g, const std::string& a) {
  if (a == "--drain-timeout") return &g.drain_timeout_ms;
  if (a == "--drain-window") return &g.drain_window_ms;
  if (a == "--handshake-timeout") return &g.handshake_timeout_ms;
  if (a == "--close-timeout") return &g.close_timeout_ms;
  if (a == "--ping-interval") return &g.ping_interval_ms;
  if (a == "--pong-timeout") return &g.pong_timeout_ms;
  if (a == "--idle-timeout") return &g.idle_timeout_ms;
  if (a == "--max-lifetime") return &g.max_lifetime_ms;
  if (a == "--tls-ticket-rotate") return &g.tls_ticket_rotate_ms;
  if (a == "--proxy-timeout") return &g.proxy_timeout_ms;
  if (a == "--history-ttl") return &g.history_ttl_ms;
  if (a == "--broker-ping-interval") return &g.broker.ping_interval_ms;
  if (a == "--broker-linger") return &g.broker.linger_ms;
  return nullptr;
}

bool parse_u64(const std::string& s, std::uint64_t& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

bool parse_seconds_ms(const std::string& s, std::uint64_t& out_ms) {
  if (s.empty()) return false;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v) || v < 0 || v > 1e9) return false;
  out_ms = std::uint64_t(std::llround(v * 1000.0));
  return true;
}

// --broker embedded | redis://HOST[:PORT][/?sharded=1] | nats://HOST[:PORT]. A host name is
// resolved once, here (the gateway reconnects to that address).
bool parse_broker(const std::string& v, gateway::BrokerConfig& b, std::string& err) {
  b.kind = gateway::BrokerKind::embedded;  // (the timing fields keep what other flags set)
  b.address = net::SockAddr{};
  b.sharded = false;
  b.url = v;
  if (v == "embedded") return true;
  std::string_view rest = v;
  std::uint16_t default_port = 0;
  if (rest.substr(0, 8) == "redis://") {
    b.kind = gateway::BrokerKind::redis;
    default_port = 6379;
    rest.remove_prefix(8);
  } else if (rest.substr(0, 7) == "nats://") {
    b.kind = gateway::BrokerKind::nats;
    default_port = 4222;
    rest.remove_prefix(7);
  } else {
    err = "--broker: embedded, redis://HOST:PORT[/?sharded=1] or nats://HOST:PORT, not " + v;
    return false;
  }
  std::string_view query;
  if (const std::size_t slash = rest.find('/'); slash != std::string_view::npos) {
    query = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  if (!query.empty()) {
    if (b.kind == gateway::BrokerKind::redis && (query == "?sharded=1" || query == "?sharded=true")) {
      b.sharded = true;
    } else if (!(b.kind == gateway::BrokerKind::redis && (query == "?sharded=0" || query == "?sharded=false"))) {
      err = "--broker: unknown option /" + std::string(query) + " in " + v;
      return false;
    }
  }
  if (rest.empty()) {
    err = "--broker: " + v + " names no host";
    return false;
  }
  std::string host(rest), port = std::to_string(default_port);
  if (host.front() == '[') {  // [v6]:port
    const std::size_t close = host.find(']');
    if (close == std::string::npos) return err = "--broker: bad address in " + v, false;
    if (close + 1 < host.size()) {
      if (host[close + 1] != ':') return err = "--broker: bad address in " + v, false;
      port = host.substr(close + 2);
    }
    host = host.substr(1, close - 1);
  } else if (const std::size_t colon = host.rfind(':'); colon != std::string::npos) {
    port = host.substr(colon + 1);
    host.resize(colon);
  }
  std::uint64_t p = 0;
  if (host.empty() || !parse_u64(port, p) || p == 0 || p > 65535) {
    err = "--broker: bad host or port in " + v;
    return false;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0 || res == nullptr) {
    err = "--broker: cannot resolve " + host + ": " + ::gai_strerror(rc);
    return false;
  }
  std::memcpy(&b.address.storage, res->ai_addr, res->ai_addrlen);
  b.address.len = socklen_t(res->ai_addrlen);
  ::freeaddrinfo(res);
  return true;
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
  return "usage: ringgate [options]\n"
         "  --listen HOST:PORT        WebSocket listener (repeatable; default 127.0.0.1:8080; port 0 = any)\n"
         "  --admin HOST:PORT         admin listener: GET /metrics, GET /healthz (default: off)\n"
         "  --workers N               worker threads, one io_uring each (default: online CPUs)\n"
         "  --drain-timeout SECONDS   on SIGTERM, wait this long for close handshakes (default 5)\n"
         "  --drain-window SECONDS    spread the 1001 closes of a drain over this window (default 0)\n"
         "  --handshake-timeout SECONDS  accept -> completed upgrade (default 10)\n"
         "  --ping-interval SECONDS   ping a peer silent this long, jittered +-10 % (default 25; 0 = off)\n"
         "  --pong-timeout SECONDS    close 1011 when a ping stays unanswered this long (default 10)\n"
         "  --idle-timeout SECONDS    close 1000 after no message either way this long (default 0 = off)\n"
         "  --max-lifetime SECONDS    close 1001 WebSockets older than this (default 0 = off)\n"
         "  --heartbeat-profile NAME  cloudflare, aws-alb, aws-nlb or nginx: ping interval and pong\n"
         "                            timeout for that proxy's idle cut-off (explicit flags win)\n"
         "  --close-timeout SECONDS   wait for the peer after we close or refuse (default 5)\n"
         "  --max-message-bytes N     larger messages are closed with 1009 (default 16777216)\n"
         "  --max-head-bytes N        larger request heads get 431 (default 8192)\n"
         "  --max-outbound-bytes N    queued output that pauses reading from a peer, and a subscriber's\n"
         "                            queue limit (default 1048576)\n"
         "  --recv-buffers N          provided receive buffers per worker, a power of two (default 512)\n"
         "  --recv-buffer-bytes N     size of each receive buffer (default 4096)\n"
         "  --subprotocol NAME        a Sec-WebSocket-Protocol /echo accepts (repeatable, in preference order)\n"
         "  --no-direct-descriptors   use ordinary fds instead of io_uring direct descriptors\n"
         "  --handover                start even if another process listens on the same ports (SO_REUSEPORT):\n"
         "                            for a restart without refused connections; the old process is then\n"
         "                            stopped with SIGTERM\n"
         "  --listen-tls HOST:PORT    WebSocket-over-TLS listener (repeatable); the --tls-cert/--tls-key pairs\n"
         "                            after it are its certificates (first = default, others by SNI)\n"
         "  --tls-cert FILE           PEM certificate chain; --tls-key FILE its private key. Pairs given\n"
         "  --tls-key FILE            before any --listen-tls serve every TLS listener without its own\n"
         "  --tls-ticket-keys FILE    session-ticket keys shared by a fleet (base64 48/80-byte keys, one\n"
         "                            per line, first encrypts); re-read on rotation and SIGHUP\n"
         "  --tls-ticket-rotate SECONDS  new ticket key (or re-read of the file) this often (default 3600)\n"
         "  --tls-session-cache ENTRIES  TLS 1.2 session-ID cache size (default 20480; 0 = off)\n"
         "  --ktls on|off|auto        kernel TLS after the handshake (default auto: when the kernel can)\n"
         "  --proxy-protocol off|optional|required  PROXY v1/v2 header before any byte (every listener)\n"
         "  --trusted-proxies CIDR[,CIDR...]  peers allowed to send PROXY headers and X-Forwarded-For\n"
         "  --proxy-timeout SECONDS   the PROXY header must arrive within this (default 5)\n"
         "  --redirect-http HOST:PORT plain HTTP listener answering 301 to https://same-host/same-path\n"
         "  --client-publish on|off   /ws clients may publish (default off: err forbidden)\n"
         "  --slow-consumer [PREFIX=]disconnect|drop|conflate  what a subscriber over --max-outbound-bytes\n"
         "                            gets: close 4100, dropped messages + gap, or newest per topic\n"
         "                            (repeatable; the longest matching topic prefix wins; default disconnect)\n"
         "  --history N               messages kept per topic for recovery with \"since\" (default 100)\n"
         "  --history-ttl SECONDS     topic state kept after its last subscriber and message (default 300)\n"
         "  --history-max-bytes N     memory for all topics' history together; over it the oldest messages\n"
         "                            are forgotten first (default 67108864)\n"
         "  --max-publish-bytes N     largest published data (default 65536)\n"
         "  --max-subscriptions N     per connection (default 1024)\n"
         "  --api HOST:PORT           HTTP publish API: POST /publish with a bearer token (repeatable)\n"
         "  --api-token TOKEN         the API's bearer token; or --api-token-file FILE (first line)\n"
         "  --broker URL              embedded (default), redis://HOST[:PORT][/?sharded=1] (port 6379) or\n"
         "                            nats://HOST[:PORT] (port 4222): gateways sharing one Redis or NATS\n"
         "                            deliver each other's publishes\n"
         "  --broker-ping-interval S  a PING on each broker connection this often; two unanswered -> reconnect\n"
         "                            (default 5)\n"
         "  --broker-linger S         keep a topic's broker subscription this long after its last\n"
         "                            subscriber leaves (default 5; 0 = unsubscribe at once)\n"
         "  --log-level LEVEL         debug, info, warn or error (default info)\n"
         "  --help, --version\n"
         "Routes: /echo echoes every message with its opcode; /ws is pub/sub (docs/protocol.md);\n"
         "GET / serves the pub/sub demo page.\n";
}

CliResult parse_cli(const std::vector<std::string>& args) {
  CliResult r;
  Options& o = r.options;
  const HeartbeatProfile* profile = nullptr;
  std::vector<std::string> explicit_flags;  // flags a profile must not override
  // Certificate pairs: before any --listen-tls they are defaults; after one they belong to it.
  std::vector<tls::CertFiles> default_certs;
  std::string pending_cert, pending_key;
  auto pair_target = [&]() -> std::vector<tls::CertFiles>& {
    return o.gateway.listen_tls.empty() ? default_certs : o.gateway.listen_tls.back().certs;
  };
  auto complete_pair = [&] {
    if (!pending_cert.empty() && !pending_key.empty()) {
      pair_target().push_back(tls::CertFiles{pending_cert, pending_key});
      pending_cert.clear();
      pending_key.clear();
    }
  };
  auto fail = [](std::string msg) {
    CliResult e;
    e.error = std::move(msg);
    return e;
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= args.size()) return false;
      out = args[++i];
      return true;
    };
    std::string v;
    std::uint64_t n = 0;
    if (a == "--help" || a == "-h") {
      o.help = true;
    } else if (a == "--version") {
      o.version = true;
    } else if (a == "--listen") {
      if (!value(v)) return fail("--listen needs HOST:PORT");
      auto addr = net::parse_address(v);
      if (!addr) return fail("--listen: not a numeric HOST:PORT: " + v);
      o.gateway.listen.push_back(*addr);
    } else if (a == "--listen-tls" || a == "--redirect-http") {
      if (!value(v)) return fail(a + " needs HOST:PORT");
      auto addr = net::parse_address(v);
      if (!addr) return fail(a + ": not a numeric HOST:PORT: " + v);
      if (a == "--redirect-http") {
        o.gateway.redirect_http.push_back(*addr);
      } else {
        if (!pending_cert.empty() || !pending_key.empty()) return fail("--tls-cert and --tls-key come in pairs");
        o.gateway.listen_tls.push_back(gateway::TlsListen{*addr, {}});
      }
    } else if (a == "--tls-cert" || a == "--tls-key") {
      if (!value(v) || v.empty()) return fail(a + " needs a file");
      std::string& slot = a == "--tls-cert" ? pending_cert : pending_key;
      if (!slot.empty()) return fail("--tls-cert and --tls-key come in pairs");
      slot = v;
      complete_pair();
    } else if (a == "--tls-ticket-keys") {
      if (!value(v) || v.empty()) return fail("--tls-ticket-keys needs a file");
      o.gateway.tls_ticket_keys = v;
    } else if (a == "--tls-session-cache") {
      if (!value(v) || !parse_u64(v, n) || n > 10'000'000) return fail("--tls-session-cache needs 0..10000000 entries");
      o.gateway.tls_session_cache = std::uint32_t(n);
    } else if (a == "--ktls") {
      if (!value(v)) return fail("--ktls needs on, off or auto");
      if (v == "on") o.gateway.ktls = gateway::KtlsMode::on;
      else if (v == "off") o.gateway.ktls = gateway::KtlsMode::off;
      else if (v == "auto") o.gateway.ktls = gateway::KtlsMode::automatic;
      else return fail("--ktls: on, off or auto");
    } else if (a == "--proxy-protocol") {
      if (!value(v)) return fail("--proxy-protocol needs off, optional or required");
      if (v == "off") o.gateway.proxy_protocol = gateway::ProxyMode::off;
      else if (v == "optional") o.gateway.proxy_protocol = gateway::ProxyMode::optional;
      else if (v == "required") o.gateway.proxy_protocol = gateway::ProxyMode::required;
      else return fail("--proxy-protocol: off, optional or required");
    } else if (a == "--trusted-proxies") {
      std::string_view bad;
      if (!value(v) || !o.gateway.trusted_proxies.parse(v, bad)) {
        return fail("--trusted-proxies: not a CIDR list (bad entry: " + std::string(bad) + ")");
      }
    } else if (a == "--admin") {
      if (!value(v)) return fail("--admin needs HOST:PORT");
      auto addr = net::parse_address(v);
      if (!addr) return fail("--admin: not a numeric HOST:PORT: " + v);
      o.admin = *addr;
    } else if (a == "--workers") {
      if (!value(v) || !parse_u64(v, n) || n == 0 || n > 64) return fail("--workers needs a number 1..64");
      o.gateway.workers = unsigned(n);
    } else if (std::uint64_t* field = duration_flag(o.gateway, a)) {
      if (!value(v) || !parse_seconds_ms(v, n)) return fail(a + " needs seconds (e.g. 5 or 0.5)");
      if (n > kMaxDurationMs) return fail(a + ": at most 40 days");
      if (a == "--pong-timeout" && n == 0) return fail("--pong-timeout must be above 0");
      if (a == "--broker-ping-interval" && n < 100) return fail("--broker-ping-interval: at least 0.1 s");
      *field = n;
      explicit_flags.push_back(a);
    } else if (a == "--heartbeat-profile") {
      if (!value(v) || heartbeat_profile(v) == nullptr) {
        return fail("--heartbeat-profile: one of cloudflare, aws-alb, aws-nlb, nginx");
      }
      profile = heartbeat_profile(v);
    } else if (a == "--max-message-bytes") {
      if (!value(v) || !parse_u64(v, n) || n == 0 || n > (1ull << 31)) return fail("--max-message-bytes needs 1..2^31");
      o.gateway.max_message_bytes = n;
    } else if (a == "--max-head-bytes") {
      if (!value(v) || !parse_u64(v, n) || n < 256 || n > (1u << 20)) return fail("--max-head-bytes needs 256..1048576");
      o.gateway.max_head_bytes = std::uint32_t(n);
    } else if (a == "--max-outbound-bytes") {
      if (!value(v) || !parse_u64(v, n) || n < 4096 || n > (1ull << 31)) return fail("--max-outbound-bytes needs 4096..2^31");
      o.gateway.max_outbound_bytes = std::uint32_t(n);
    } else if (a == "--recv-buffers") {
      if (!value(v) || !parse_u64(v, n) || n == 0 || n > 32768 || (n & (n - 1)) != 0) {
        return fail("--recv-buffers needs a power of two up to 32768");
      }
      o.gateway.recv_buffers = std::uint32_t(n);
    } else if (a == "--recv-buffer-bytes") {
      if (!value(v) || !parse_u64(v, n) || n < 512 || n > (1u << 20)) return fail("--recv-buffer-bytes needs 512..1048576");
      o.gateway.recv_buffer_bytes = std::uint32_t(n);
    } else if (a == "--subprotocol") {
      if (!value(v) || v.empty()) return fail("--subprotocol needs a name");
      o.gateway.subprotocols.push_back(v);
    } else if (a == "--no-direct-descriptors") {
      o.gateway.direct_descriptors = false;
    } else if (a == "--handover") {
      o.gateway.handover = true;
    } else if (a == "--client-publish") {
      if (!value(v) || (v != "on" && v != "off")) return fail("--client-publish needs on or off");
      o.gateway.client_publish = v == "on";
    } else if (a == "--slow-consumer") {
      if (!value(v) || !o.gateway.slow_consumer.add(v)) {
        return fail("--slow-consumer needs [PREFIX=]disconnect|drop|conflate");
      }
    } else if (a == "--history") {
      if (!value(v) || !parse_u64(v, n) || n > 100000) return fail("--history needs 0..100000 messages");
      o.gateway.history = std::uint32_t(n);
    } else if (a == "--history-max-bytes") {
      if (!value(v) || !parse_u64(v, n) || n < 65536 || n > (1ull << 40)) return fail("--history-max-bytes needs 65536..2^40");
      o.gateway.history_max_bytes = n;
    } else if (a == "--max-publish-bytes") {
      if (!value(v) || !parse_u64(v, n) || n < 16 || n > (16u << 20)) return fail("--max-publish-bytes needs 16..16777216");
      o.gateway.max_publish_bytes = std::uint32_t(n);
    } else if (a == "--max-subscriptions") {
      if (!value(v) || !parse_u64(v, n) || n == 0 || n > 1000000) return fail("--max-subscriptions needs 1..1000000");
      o.gateway.max_subscriptions = std::uint32_t(n);
    } else if (a == "--api") {
      if (!value(v)) return fail("--api needs HOST:PORT");
      auto addr = net::parse_address(v);
      if (!addr) return fail("--api: not a numeric HOST:PORT: " + v);
      o.gateway.api.push_back(*addr);
    } else if (a == "--api-token") {
      if (!value(v) || v.empty()) return fail("--api-token needs a token");
      o.gateway.api_token = v;
    } else if (a == "--api-token-file") {
      if (!value(v) || v.empty()) return fail("--api-token-file needs a file");
      std::ifstream in(v);
      std::string line;
      if (!in || !std::getline(in, line)) return fail("--api-token-file: cannot read " + v);
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
      if (line.empty()) return fail("--api-token-file: " + v + " has an empty first line");
      o.gateway.api_token = line;
    } else if (a == "--broker") {
      if (!value(v)) return fail("--broker needs embedded, redis://HOST:PORT or nats://HOST:PORT");
      std::string err;
      if (!parse_broker(v, o.gateway.broker, err)) return fail(err);
    } else if (a == "--log-level") {
      if (!value(v)) return fail("--log-level needs a level");
      if (v == "debug") o.log_level = LogLevel::debug;
      else if (v == "info") o.log_level = LogLevel::info;
      else if (v == "warn") o.log_level = LogLevel::warn;
      else if (v == "error") o.log_level = LogLevel::error;
      else return fail("--log-level: debug, info, warn or error");
    } else {
      return fail("unknown option: " + a);
    }
  }
  if (profile != nullptr) {
    auto unset = [&](const char* flag) {
      return std::find(explicit_flags.begin(), explicit_flags.end(), flag) == explicit_flags.end();
    };
    if (unset("--ping-interval")) o.gateway.ping_interval_ms = profile->ping_interval_ms;
    if (unset("--pong-timeout")) o.gateway.pong_timeout_ms = profile->pong_timeout_ms;
  }
  if (!pending_cert.empty() || !pending_key.empty()) return fail("--tls-cert and --tls-key come in pairs");
  for (gateway::TlsListen& l : o.gateway.listen_tls) {
    if (l.certs.empty()) l.certs = default_certs;
    if (l.certs.empty()) return fail("--listen-tls " + l.address.to_string() + " has no --tls-cert/--tls-key");
  }
  if (o.gateway.listen_tls.empty() && !default_certs.empty()) return fail("--tls-cert without --listen-tls");
  if (o.gateway.proxy_protocol != gateway::ProxyMode::off && o.gateway.trusted_proxies.empty()) {
    return fail("--proxy-protocol needs --trusted-proxies (headers are accepted only from them)");
  }
  if (o.gateway.proxy_timeout_ms == 0) return fail("--proxy-timeout must be above 0");
  if (!o.gateway.api.empty() && o.gateway.api_token.empty()) {
    return fail("--api needs --api-token or --api-token-file (the API never runs without a token)");
  }
  if (o.gateway.listen.empty() && o.gateway.listen_tls.empty() && o.gateway.redirect_http.empty()) {
    o.gateway.listen.push_back(*net::parse_address("127.0.0.1:8080"));
  }
  if (o.gateway.workers == 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    o.gateway.workers = cpus > 0 ? unsigned(std::min(cpus, 64L)) : 1;
  }
  return r;
}

}  // namespace ringgate::app
