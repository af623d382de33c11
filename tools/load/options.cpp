// Flag parsing for ringgate-load (see options.hpp).
#include "options.hpp"

#include <algorithm>
#include <cstdlib>
#include <string_view>

namespace ringgate::load {

const char* usage_text() noexcept {
  return "usage: ringgate-load echo --url ws://HOST:PORT/PATH --connections N --size BYTES --inflight K\n"
         "                          --duration S [--warmup S] [--binary] [--json FILE] [--plot FILE.png]\n"
         "                          [--server-pid PID[,PID...]]\n"
         "       ringgate-load hold --url ws://HOST:PORT/PATH --connections N --rate PER_SECOND --duration S\n"
         "                          [--json FILE] [--plot FILE.png] [--server-pid PID]\n"
         "common: [--threads N] [--max-pending N] [--connect-timeout S] [--close-timeout S]\n"
         "        [--sockbuf BYTES] [--src-spread N (1..253)] [--quiet]\n"
         "Targets must be loopback (127.0.0.0/8 or ::1).\n";
}

std::string parse_url(const std::string& url, Options& o) {
  std::string_view u(url);
  if (u.substr(0, 5) != "ws://") return "--url must start with ws:// (wss is not supported)";
  u.remove_prefix(5);
  std::size_t slash = u.find('/');
  std::string_view hp = u.substr(0, slash);
  o.path = slash == std::string_view::npos ? "/" : std::string(u.substr(slash));
  auto addr = net::parse_address(hp);
  if (!addr) return "--url: cannot parse host:port '" + std::string(hp) + "' (numeric loopback address and port)";
  if (!addr->is_loopback()) {
    return "--url: " + std::string(hp) + " is not a loopback address; ringgate-load only targets 127.0.0.0/8 or ::1";
  }
  if (addr->port() == 0) return "--url: port 0 is not a target";
  o.target = addr.value();
  o.host_header = std::string(hp);
  o.url = url;
  return "";
}

std::string parse_options(int argc, char** argv, Options& o) {
  for (int i = 0; i < argc; ++i) o.command_line += (i ? " " : "") + std::string(argv[i]);
  if (argc < 2) return "missing subcommand (echo or hold)";
  o.mode = argv[1];
  if (o.mode != "echo" && o.mode != "hold") return "unknown subcommand '" + o.mode + "' (echo or hold)";
  std::string url;
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
    } else if (a == "--size") {
      if (!(err = num(d, 0)).empty() || d > (16u << 20)) return err.empty() ? "--size above 16 MiB" : err;
      o.size = std::size_t(d);
    } else if (a == "--inflight") {
      if (!(err = num(d, 1)).empty() || d > 4096) return err.empty() ? "--inflight above 4096" : err;
      o.inflight = std::uint32_t(d);
    } else if (a == "--duration") {
      if (!(err = num(o.duration_s, 0)).empty()) return err;
    } else if (a == "--warmup") {
      if (!(err = num(o.warmup_s, 0)).empty()) return err;
    } else if (a == "--rate") {
      if (!(err = num(o.rate, 0)).empty()) return err;
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
    } else if (a == "-h" || a == "--help") {
      return "help";
    } else {
      return "unknown flag " + a;
    }
  }
  if (url.empty()) return "--url is required";
  return parse_url(url, o);
}

}  // namespace ringgate::load
