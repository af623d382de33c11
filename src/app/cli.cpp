#include "ringgate/app/cli.hpp"

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace ringgate::app {
namespace {
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
}  // namespace

std::string usage() {
  return "usage: ringgate [options]\n"
         "  --listen HOST:PORT        WebSocket listener (repeatable; default 127.0.0.1:8080; port 0 = any)\n"
         "  --admin HOST:PORT         admin listener: GET /metrics, GET /healthz (default: off)\n"
         "  --workers N               worker threads, one io_uring each (default: online CPUs)\n"
         "  --drain-timeout SECONDS   on SIGTERM, wait this long for close handshakes (default 5)\n"
         "  --handshake-timeout SECONDS  accept -> completed upgrade (default 10)\n"
         "  --close-timeout SECONDS   wait for the peer after we close or refuse (default 5)\n"
         "  --max-message-bytes N     larger messages are closed with 1009 (default 16777216)\n"
         "  --max-head-bytes N        larger request heads get 431 (default 8192)\n"
         "  --max-outbound-bytes N    queued output that pauses reading from a peer (default 1048576)\n"
         "  --recv-buffers N          provided receive buffers per worker, a power of two (default 512)\n"
         "  --recv-buffer-bytes N     size of each receive buffer (default 4096)\n"
         "  --subprotocol NAME        a Sec-WebSocket-Protocol /echo accepts (repeatable, in preference order)\n"
         "  --no-direct-descriptors   use ordinary fds instead of io_uring direct descriptors\n"
         "  --log-level LEVEL         debug, info, warn or error (default info)\n"
         "  --help, --version\n"
         "Routes: /echo echoes every message with its opcode.\n";
}

CliResult parse_cli(const std::vector<std::string>& args) {
  CliResult r;
  Options& o = r.options;
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
    } else if (a == "--admin") {
      if (!value(v)) return fail("--admin needs HOST:PORT");
      auto addr = net::parse_address(v);
      if (!addr) return fail("--admin: not a numeric HOST:PORT: " + v);
      o.admin = *addr;
    } else if (a == "--workers") {
      if (!value(v) || !parse_u64(v, n) || n == 0 || n > 1024) return fail("--workers needs a number 1..1024");
      o.gateway.workers = unsigned(n);
    } else if (a == "--drain-timeout" || a == "--handshake-timeout" || a == "--close-timeout") {
      if (!value(v) || !parse_seconds_ms(v, n)) return fail(a + " needs seconds (e.g. 5 or 0.5)");
      (a == "--drain-timeout"       ? o.gateway.drain_timeout_ms
       : a == "--handshake-timeout" ? o.gateway.handshake_timeout_ms
                                    : o.gateway.close_timeout_ms) = n;
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
  if (o.gateway.listen.empty()) o.gateway.listen.push_back(*net::parse_address("127.0.0.1:8080"));
  if (o.gateway.workers == 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    o.gateway.workers = cpus > 0 ? unsigned(cpus) : 1;
  }
  return r;
}

}  // namespace ringgate::app
