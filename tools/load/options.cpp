// Flag parsing for ringgate-load (see options.hpp).
#include "options.hpp"

#include <algorithm>
#include <cstdlib>
#include <string_view>

namespace ringgate::load {

const char* usage_text() noexcept {
  return "usage: ringgate-load echo --url ws[s]://HOST[:PORT]/PATH --connections N --size BYTES --inflight K\n"
         "                          --duration S [--warmup S] [--binary] [--json FILE] [--plot FILE.png]\n"
         "                          [--server-pid PID[,PID...]]\n"
         "       ringgate-load hold --url ws[s]://HOST[:PORT]/PATH --connections N --rate PER_SECOND --duration S\n"
         "                          [--json FILE] [--plot FILE.png] [--server-pid PID]\n"
         "       ringgate-load handshake --url wss://HOST[:PORT]/PATH --duration S [--connections C]\n"
         "                          [--resume none|tickets|ids] [--warmup S] [--json FILE] [--server-pid PID]\n"
         "         (C concurrent slots loop: connect, TLS handshake, close_notify, close; no WebSocket;\n"
         "          ids = TLS 1.2 session IDs with tickets off, implies --tls-version 1.2)\n"
         "       ringgate-load fanout --url ws[s]://HOST[:PORT]/ws --subscribers S --topics T --publishers P\n"
         "                          --rate MSGS_PER_SECOND --duration S [--size BYTES (64)] [--via ws|api]\n"
         "                          [--api http://HOST:PORT --api-token TOKEN] [--settle S (2)] [--burst N]\n"
         "                          [--warmup S] [--json FILE] [--server-pid PID]\n"
         "         (subscriber i subscribes to load.<i % T>; after all acks, P publishers send R msg/s in total\n"
         "          round-robin over the topics, via pub frames (server: --client-publish on) or POST /publish;\n"
         "          seqs verified per subscriber, latency = delivery - publish time; --burst N: one topic,\n"
         "          N messages at once, time to the last delivery; exit 1 on missing/out-of-order/failed pubs)\n"
         "common: [--threads N] [--max-pending N] [--connect-timeout S] [--close-timeout S]\n"
         "        [--sockbuf BYTES] [--src-spread N (1..253)] [--quiet]\n"
         "wss://: [--tls-version 1.2|1.3 (default: negotiate)] [--ciphers LIST] [--no-tickets]\n"
         "        [--sni NAME (default: the URL host when it is a name, none for an IP)]\n"
         "Targets must be loopback (127.0.0.0/8, ::1 or localhost). Default ports: ws 80, wss 443.\n";
}

namespace {
// "127.0.0.1:80" -> has a port; "127.0.0.1", "[::1]", "localhost" -> none.
bool has_port(std::string_view hp) noexcept {
  if (hp.empty() || hp.back() == ']') return false;
  return hp.find(':') != std::string_view::npos;
}
std::string_view host_of(std::string_view hp) noexcept {
  if (has_port(hp)) hp = hp.substr(0, hp.rfind(':'));
  if (hp.size() >= 2 && hp.front() == '[' && hp.back() == ']') hp = hp.substr(1, hp.size() - 2);
  return hp;
}
bool is_ip_literal(std::string_view host) noexcept {
  if (host.find(':') != std::string_view::npos) return true;  // IPv6
  for (char ch : host) {
    if ((ch < '0' || ch > '9') && ch != '.') return false;
  }
  return !host.empty();
}
}  // namespace

std::string parse_url(const std::string& url, Options& o) {
  std::string_view u(url);
  bool tls = false;
  if (u.substr(0, 5) == "ws://") {
    u.remove_prefix(5);
  } else if (u.substr(0, 6) == "wss://") {
    tls = true;
    u.remove_prefix(6);
  } else {
    return "--url must start with ws:// or wss://";
  }
  std::size_t slash = u.find('/');
  std::string_view hp = u.substr(0, slash);
  o.path = slash == std::string_view::npos ? "/" : std::string(u.substr(slash));
  std::string full(hp);
  if (!has_port(hp)) full += tls ? ":443" : ":80";
  auto addr = net::parse_address(full);
  if (!addr) return "--url: cannot parse host:port '" + std::string(hp) + "' (loopback address or localhost)";
  if (!addr->is_loopback()) {
    return "--url: " + std::string(hp) + " is not a loopback address; ringgate-load only targets 127.0.0.0/8 or ::1";
  }
  if (addr->port() == 0) return "--url: port 0 is not a target";
  o.target = addr.value();
  o.host_header = std::string(hp);
  o.url = url;
  o.tls = tls;
  std::string_view host = host_of(hp);
  o.sni = tls && !is_ip_literal(host) ? std::string(host) : std::string();
  return "";
}

// Cross-flag rules for TLS and the handshake mode; `sni` is the --sni value ("" = not given).
std::string check_tls_options(Options& o, bool tls_flags, const std::string& sni) {
  if (!o.tls) {
    if (o.mode == "handshake") return "handshake needs a wss:// URL";
    if (tls_flags) return "--tls-version, --ciphers, --no-tickets, --sni and --resume need a wss:// URL";
    return "";
  }
  if (!sni.empty()) o.sni = sni;
  if (o.resume != "none" && o.mode != "handshake") return "--resume applies to the handshake mode only";
  if (o.resume == "ids") {
    if (o.tls_version == tls::kTls13) {
      return "--resume ids needs TLS 1.2: TLS 1.3 has no session IDs (use --resume tickets)";
    }
    o.tls_version = tls::kTls12;
    if (!o.tickets) return "";
    o.tickets = false;  // a ticket would be preferred over the ID
  } else if (o.resume == "tickets" && !o.tickets) {
    return "--resume tickets contradicts --no-tickets";
  }
  return "";
}

std::string parse_options(int argc, char** argv, Options& o) {
  for (int i = 0; i < argc; ++i) {
    if (i) o.command_line += ' ';
    o.command_line += argv[i];
  }
  if (argc < 2) return "missing subcommand (echo, hold, handshake or fanout)";
  o.mode = argv[1];
  if (o.mode == "-h" || o.mode == "--help") return "help";
  if (o.mode != "echo" && o.mode != "hold" && o.mode != "handshake" && o.mode != "fanout") {
    return "unknown subcommand '" + o.mode + "' (echo, hold, handshake or fanout)";
  }
  const bool fanout = o.mode == "fanout";
  std::string url, sni;
  bool tls_flags = false, connections_set = false, size_set = false, rate_set = false, duration_set = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string& v) {
      if (i + 1 >= argc) return false;
      v = argv[++i];
      return true;
    };
    auto num = [&](double& d, double lo) -> std::string {
      std::string v;
      if (!value(v)) return "missing value for " + a;
      char* end = nullptr;
      d = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0' || d < lo) return "bad value for " + a + ": '" + v + "'";
      return "";
    };
    double d = 0;
    std::string err;
    if (a == "--url") {
      if (!value(url)) return "missing value for --url";
    } else if (a == "--binary") {
      o.binary = true;
    } else if (a == "--text") {
      o.binary = false;
    } else if (a == "--quiet") {
      o.quiet = true;
    } else if (a == "--json") {
      if (!value(o.json)) return "missing value for --json";
    } else if (a == "--plot") {
      if (!value(o.plot)) return "missing value for --plot";
    } else if (a == "--connections") {
      if (!(err = num(d, 1)).empty() || d > 50'000'000) return err.empty() ? "--connections too large" : err;
      o.connections = std::uint32_t(d);
      connections_set = true;
      if (fanout) return "--connections does not apply to fanout (--subscribers, --publishers)";
    } else if (a == "--size") {
      if (!(err = num(d, 0)).empty() || d > (16u << 20)) return err.empty() ? "--size above 16 MiB" : err;
      o.size = std::size_t(d);
      size_set = true;
    } else if (a == "--inflight") {
      if (!(err = num(d, 1)).empty() || d > 4096) return err.empty() ? "--inflight above 4096" : err;
      o.inflight = std::uint32_t(d);
    } else if (a == "--duration") {
      if (!(err = num(o.duration_s, 0)).empty()) return err;
      duration_set = true;
    } else if (a == "--warmup") {
      if (!(err = num(o.warmup_s, 0)).empty()) return err;
    } else if (a == "--rate") {
      if (!(err = num(fanout ? o.pub_rate : o.rate, 0)).empty()) return err;
      rate_set = true;
    } else if (fanout && (a == "--subscribers" || a == "--topics" || a == "--publishers" || a == "--burst")) {
      double lo = a == "--burst" ? 1 : a == "--publishers" ? 0 : 1;
      if (!(err = num(d, lo)).empty() || d > 50'000'000) return err.empty() ? a + " too large" : err;
      (a == "--subscribers" ? o.subscribers : a == "--topics" ? o.topics : a == "--publishers" ? o.publishers : o.burst) =
          std::uint32_t(d);
    } else if (fanout && a == "--settle") {
      if (!(err = num(o.settle_s, 0)).empty()) return err;
    } else if (fanout && a == "--via") {
      std::string v;
      if (!value(v) || (v != "ws" && v != "api")) return "bad value for --via: '" + v + "' (ws or api)";
      o.via_api = v == "api";
    } else if (fanout && a == "--api") {
      if (!value(o.api_url)) return "missing value for --api";
    } else if (fanout && a == "--api-token") {
      if (!value(o.api_token) || o.api_token.empty()) return "missing value for --api-token";
    } else if (a == "--connect-timeout") {
      if (!(err = num(o.connect_timeout_s, 0.1)).empty()) return err;
    } else if (a == "--close-timeout") {
      if (!(err = num(o.close_timeout_s, 0)).empty()) return err;
    } else if (a == "--threads") {
      if (!(err = num(d, 1)).empty() || d > 1024) return err.empty() ? "--threads above 1024" : err;
      o.threads = unsigned(d);
    } else if (a == "--max-pending") {
      if (!(err = num(d, 1)).empty()) return err;
      o.max_pending = unsigned(d);
    } else if (a == "--sockbuf") {
      if (!(err = num(d, 0)).empty()) return err;
      o.sockbuf = unsigned(d);
    } else if (a == "--src-spread") {
      if (!(err = num(d, 1)).empty() || d > 253) return err.empty() ? "--src-spread is 1..253" : err;
      o.src_spread = unsigned(d);
    } else if (a == "--server-pid") {
      std::string v;
      if (!value(v)) return "missing value for --server-pid";
      for (std::size_t at = 0; at <= v.size();) {
        std::size_t comma = std::min(v.find(',', at), v.size());
        long pid = std::strtol(v.substr(at, comma - at).c_str(), nullptr, 10);
        if (pid <= 0) return "bad value for --server-pid: '" + v + "'";
        o.server_pids.push_back(int(pid));
        at = comma + 1;
      }
      o.server_pid = o.server_pids.front();
    } else if (a == "--tls-version") {
      std::string v;
      if (!value(v)) return "missing value for --tls-version";
      if (v != "1.2" && v != "1.3") return "bad value for --tls-version: '" + v + "' (1.2 or 1.3)";
      o.tls_version = v == "1.2" ? tls::kTls12 : tls::kTls13;
      tls_flags = true;
    } else if (a == "--ciphers") {
      if (!value(o.ciphers) || o.ciphers.empty()) return "missing value for --ciphers";
      tls_flags = true;
    } else if (a == "--no-tickets") {
      o.tickets = false;
      tls_flags = true;
    } else if (a == "--sni") {
      if (!value(sni) || sni.empty()) return "missing value for --sni";
      tls_flags = true;
    } else if (a == "--resume") {
      if (!value(o.resume)) return "missing value for --resume";
      if (o.resume != "none" && o.resume != "tickets" && o.resume != "ids") {
        return "bad value for --resume: '" + o.resume + "' (none, tickets or ids)";
      }
      tls_flags = true;
    } else if (a == "-h" || a == "--help") {
      return "help";
    } else {
      return "unknown flag " + a;
    }
  }
  if (url.empty()) return "--url is required";
  if (o.mode == "handshake" && !connections_set) o.connections = 1;
  std::string err = parse_url(url, o);
  if (!err.empty()) return err;
  if (fanout && !(err = check_fanout_options(o, size_set, rate_set, duration_set)).empty()) return err;
  return check_tls_options(o, tls_flags, sni);
}

std::string check_fanout_options(Options& o, bool size_set, bool rate_set, bool duration_set) {
  if (o.subscribers == 0) return "fanout needs --subscribers S";
  if (!size_set) o.size = 64;
  if (o.size > (1u << 20)) return "--size above 1 MiB for fanout";
  if (o.burst > 0) {
    if (o.topics != 1) return "--burst uses one topic (load.0): drop --topics or give --topics 1";
    if (o.burst > 100000) return "--burst above 100000";
    if (o.publishers == 0) o.publishers = 1;
    o.warmup_s = 0;
  } else {
    if (!rate_set || o.pub_rate <= 0) return "fanout needs --rate R (messages per second over all publishers)";
    if (!duration_set || o.duration_s <= 0) return "fanout needs --duration D";
    if (o.publishers == 0) return "fanout needs --publishers P >= 1";
  }
  if (o.topics > o.subscribers) return "--topics above --subscribers leaves topics without subscribers";
  if (o.publishers > 10000) return "--publishers above 10000";
  if (o.via_api) {
    if (o.api_url.empty() || o.api_token.empty()) return "--via api needs --api http://HOST:PORT and --api-token TOKEN";
    std::string_view u(o.api_url);
    if (u.substr(0, 7) != "http://") return "--api must start with http://";
    u.remove_prefix(7);
    while (!u.empty() && u.back() == '/') u.remove_suffix(1);
    if (!has_port(u)) return "--api needs HOST:PORT";
    auto addr = net::parse_address(std::string(u));
    if (!addr) return "--api: cannot parse host:port '" + std::string(u) + "'";
    if (!addr->is_loopback()) return "--api: " + std::string(u) + " is not a loopback address";
    o.api_target = addr.value();
    o.api_host_header = std::string(u);
    o.connections = o.subscribers;
  } else {
    if (!o.api_url.empty() || !o.api_token.empty()) return "--api and --api-token need --via api";
    o.connections = o.subscribers + o.publishers;
  }
  if (o.connections > 50'000'000) return "too many connections";
  return "";
}

}  // namespace ringgate::load
