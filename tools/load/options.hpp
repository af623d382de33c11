// Command line of ringgate-load (the interface scripts depend on; see issue 3):
//   ringgate-load echo --url ws://HOST:PORT/PATH --connections N --size BYTES --inflight K --duration S
//                      [--warmup S] [--binary] [--json FILE] [--plot FILE.png] [--server-pid PID]
//   ringgate-load hold --url ... --connections N --rate PER_SECOND --duration S [--json FILE] ...
// Targets are loopback only (127.0.0.0/8, ::1): anything else is refused with a message.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ringgate/net/listener.hpp"

namespace ringgate::load {

struct Options {
  std::string mode;  // "echo" | "hold"
  std::string url, host_header, path;
  net::SockAddr target;
  std::uint32_t connections = 100;
  std::size_t size = 16;
  std::uint32_t inflight = 1;
  bool binary = false;
  double duration_s = 5, warmup_s = 1;
  double rate = 0;  // connections per second, 0 = as fast as possible
  double connect_timeout_s = 30, close_timeout_s = 10;
  unsigned threads = 0;             // 0 = enough rings for the connections, at least one per CPU
  unsigned max_pending = 512;       // connects + handshakes in progress per worker
  unsigned sockbuf = 0;             // SO_RCVBUF/SO_SNDBUF, 0 = kernel default
  unsigned src_spread = 253;        // source addresses 127.0.0.2 .. 127.0.0.(1+src_spread)
  int server_pid = 0;                 // first of server_pids (0 = none)
  std::vector<int> server_pids;       // --server-pid PID[,PID...]: figures summed over processes
  std::string json, plot;
  bool quiet = false;
  std::string command_line;
};

// Returns "" on success, else the message to print (exit code 2).
std::string parse_options(int argc, char** argv, Options& o);
// "ws://127.0.0.1:8080/echo" -> target, Host header, path. Refuses non-loopback hosts.
std::string parse_url(const std::string& url, Options& o);
const char* usage_text() noexcept;

}  // namespace ringgate::load
