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

namespace {

// One command line's flags, read in order. Each group returns true when the flag is one of its
// own; `err` then says whether its value was bad. The *_set flags feed the cross-flag checks.
struct FlagReader {
  int argc;
  char** argv;
  Options& o;
  bool fanout;
  int i = 2;
  std::string a, url, sni;  // a: the flag being read
  bool tls_flags = false, connections_set = false, size_set = false, rate_set = false, duration_set = false;

  bool value(std::string& v) {
    if (i + 1 >= argc) return false;
    v = argv[++i];
    return true;
  }
  std::string num(double& d, double lo) {
    std::string v;
    if (!value(v)) return "missing value for " + a;
    char* end = nullptr;
    d = std::strtod(v.c_str(), &end);
    if (end == v.c_str() || *end != '\0' || d < lo) return "bad value for " + a + ": '" + v + "'";
    return "";
  }
  // A count in [lo, hi]; `over` is the error above hi.
  std::string count(double& d, double lo, double hi, const std::string& over) {
    std::string err = num(d, lo);
    if (err.empty() && d > hi) return over;
    return err;
  }
  bool traffic(std::string& err);
  bool fanout_flag(std::string& err);
  bool client(std::string& err);
  bool tls(std::string& err);
};

bool FlagReader::traffic(std::string& err) {
  double d = 0;
  if (a == "--url") {
    if (!value(url)) err = "missing value for --url";
  } else if (a == "--binary" || a == "--text") {
    o.binary = a == "--binary";
  } else if (a == "--quiet") {
    o.quiet = true;
  } else if (a == "--json" || a == "--plot") {
    if (!value(a == "--json" ? o.json : o.plot)) err = "missing value for " + a;
  } else if (a == "--connections") {
    if (!(err = count(d, 1, 50'000'000, "--connections too large")).empty()) return true;
    o.connections = std::uint32_t(d);
    connections_set = true;
    if (fanout) err = "--connections does not apply to fanout (--subscribers, --publishers)";
  } else if (a == "--size") {
    if (!(err = count(d, 0, 16u << 20, "--size above 16 MiB")).empty()) return true;
    o.size = std::size_t(d);
    size_set = true;
  } else if (a == "--inflight") {
    if ((err = count(d, 1, 4096, "--inflight above 4096")).empty()) o.inflight = std::uint32_t(d);
  } else if (a == "--duration") {
    duration_set = (err = num(o.duration_s, 0)).empty();
  } else if (a == "--warmup") {
    err = num(o.warmup_s, 0);
  } else if (a == "--rate") {
    rate_set = (err = num(fanout ? o.pub_rate : o.rate, 0)).empty();
  } else {
    return false;
  }
  return true;
}

bool FlagReader::fanout_flag(std::string& err) {
  if (!fanout) return false;
  if (a == "--subscribers" || a == "--topics" || a == "--publishers" || a == "--burst") {
    double d = 0;
    if (!(err = count(d, a == "--publishers" ? 0 : 1, 50'000'000, a + " too large")).empty()) return true;
    (a == "--subscribers" ? o.subscribers : a == "--topics" ? o.topics : a == "--publishers" ? o.publishers : o.burst) =
        std::uint32_t(d);
  } else if (a == "--settle") {
    err = num(o.settle_s, 0);
  } else if (a == "--via") {
    std::string v;
    if (!value(v) || (v != "ws" && v != "api")) err = "bad value for --via: '" + v + "' (ws or api)";
    o.via_api = v == "api";
  } else if (a == "--api") {
    if (!value(o.api_url)) err = "missing value for --api";
  } else if (a == "--api-token") {
    if (!value(o.api_token) || o.api_token.empty()) err = "missing value for --api-token";
  } else {
    return false;
  }
  return true;
}

bool FlagReader::client(std::string& err) {
  double d = 0;
  if (a == "--connect-timeout") {
    err = num(o.connect_timeout_s, 0.1);
  } else if (a == "--close-timeout") {
    err = num(o.close_timeout_s, 0);
  } else if (a == "--threads") {
    if ((err = count(d, 1, 1024, "--threads above 1024")).empty()) o.threads = unsigned(d);
  } else if (a == "--max-pending" || a == "--sockbuf") {
    if ((err = num(d, a == "--sockbuf" ? 0 : 1)).empty()) (a == "--sockbuf" ? o.sockbuf : o.max_pending) = unsigned(d);
  } else if (a == "--src-spread") {
    if ((err = count(d, 1, 253, "--src-spread is 1..253")).empty()) o.src_spread = unsigned(d);
  } else if (a == "--server-pid") {
    std::string v;
    if (!value(v)) {
      err = "missing value for --server-pid";
      return true;
    }
    for (std::size_t at = 0; at <= v.size();) {
      std::size_t comma = std::min(v.find(',', at), v.size());
      long pid = std::strtol(v.substr(at, comma - at).c_str(), nullptr, 10);
      if (pid <= 0) {
        err = "bad value for --server-pid: '" + v + "'";
        return true;
      }
      o.server_pids.push_back(int(pid));
      at = comma + 1;
    }
    o.server_pid = o.server_pids.front();
  } else {
    return false;
  }
  return true;
}

bool FlagReader::tls(std::string& err) {
  std::string v;
  if (a == "--tls-version") {
    if (!value(v)) {
      err = "missing value for --tls-version";
    } else if (v != "1.2" && v != "1.3") {
      err = "bad value for --tls-version: '" + v + "' (1.2 or 1.3)";
    } else {
      o.tls_version = v == "1.2" ? tls::kTls12 : tls::kTls13;
    }
  } else if (a == "--ciphers") {
    if (!value(o.ciphers) || o.ciphers.empty()) err = "missing value for --ciphers";
  } else if (a == "--no-tickets") {
    o.tickets = false;
  } else if (a == "--sni") {
    if (!value(sni) || sni.empty()) err = "missing value for --sni";
  } else if (a == "--resume") {
    if (!value(o.resume)) {
      err = "missing value for --resume";
    } else if (o.resume != "none" && o.resume != "tickets" && o.resume != "ids") {
      err = "bad value for --resume: '" + o.resume + "' (none, tickets or ids)";
    }
  } else {
    return false;
  }
  tls_flags = true;
  return true;
}

}  // namespace

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
  FlagReader r{argc, argv, o, o.mode == "fanout"};
  for (; r.i < argc; ++r.i) {
    r.a = argv[r.i];
    std::string err;
    if (r.traffic(err) || r.fanout_flag(err) || r.client(err) || r.tls(err)) {
      if (!err.empty()) return err;
      continue;
    }
    if (r.a == "-h" || r.a == "--help") return "help";
    return "unknown flag " + r.a;
  }
  if (r.url.empty()) return "--url is required";
  if (o.mode == "handshake" && !r.connections_set) o.connections = 1;
  std::string err = parse_url(r.url, o);
  if (!err.empty()) return err;
  if (r.fanout && !(err = check_fanout_options(o, r.size_set, r.rate_set, r.duration_set)).empty()) return err;
  return check_tls_options(o, r.tls_flags, r.sni);
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
