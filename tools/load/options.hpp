// Command line of ringgate-load (the interface scripts depend on; see issues 3 and 5):
//   ringgate-load echo --url ws[s]://HOST[:PORT]/PATH --connections N --size BYTES --inflight K --duration S
//                      [--warmup S] [--binary] [--json FILE] [--plot FILE.png] [--server-pid PID]
//   ringgate-load hold --url ... --connections N --rate PER_SECOND --duration S [--json FILE] ...
//   ringgate-load handshake --url wss://HOST[:PORT]/PATH --duration S [--connections C]
//                      [--resume none|tickets|ids] [--warmup S] [--json FILE] [--server-pid PID]
// TLS (wss:// only): [--tls-version 1.2|1.3] (default: negotiate, i.e. 1.3) [--ciphers LIST]
//                    [--no-tickets] [--sni NAME] (default: the URL host when it is a name).
// handshake: C slots each loop connect -> TLS handshake (resuming the slot's last session when
// --resume is tickets, or ids = TLS 1.2 session IDs with tickets off; ids implies --tls-version 1.2
// and is refused with 1.3) -> close_notify -> close. No WebSocket upgrade.
// fanout (issue 6 pub/sub): S subscriber WebSockets (subscriber i on topic load.<i % T>); once
// every sub is acked, P publishers send R messages/s in total (paced by time, round-robin over the
// topics) for D s, via `pub` frames on P extra WebSockets (--via ws; the server needs
// --client-publish on) or via POST /publish on P keep-alive HTTP connections (--via api). Every
// msg's latency is now - t (t = publish time in the payload); seqs are verified per subscriber
// (+1 unless a gap came between) and against the acked seqs (missing ones are errors unless a gap
// covers them). --burst N: T = 1, publish N messages at once, report the time to the last delivery.
//   ringgate-load fanout --url ws[s]://HOST:PORT/ws --subscribers S --topics T --publishers P --rate R
//                      --duration D [--size BYTES (data object, 64)] [--via ws|api]
//                      [--api http://HOST:PORT --api-token TOKEN] [--settle S (2)] [--burst N]
//                      [--warmup S] [--json FILE] [--server-pid PID]
//   Exit 1 when anything is missing or out of order, a publish failed or nothing was acked.
// Targets are loopback only (127.0.0.0/8, ::1, localhost): anything else is refused with a message.
// Default ports: ws 80, wss 443.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ringgate/net/listener.hpp"
#include "ringgate/tls/context.hpp"

namespace ringgate::load {

struct Options {
  std::string mode;  // "echo" | "hold" | "handshake" | "fanout"
  std::string url, host_header, path;
  // TLS (wss://). tls_version 0 = negotiate (1.2..1.3); resume: "none" | "tickets" | "ids".
  bool tls = false;
  std::string sni;  // empty = no SNI (numeric host)
  std::uint16_t tls_version = 0;
  std::string ciphers, resume = "none";
  bool tickets = true;
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
  // fanout: `connections` = subscribers (+ publishers with --via ws); `rate` stays the connect rate
  // (0 = as fast as possible) and pub_rate is the publish rate.
  std::uint32_t subscribers = 0, topics = 1, publishers = 1, burst = 0;
  double pub_rate = 0, settle_s = 2;
  bool via_api = false;
  std::string api_url, api_host_header, api_token;
  net::SockAddr api_target;
  std::string json, plot;
  bool quiet = false;
  std::string command_line;
};

// Returns "" on success, else the message to print (exit code 2).
std::string parse_options(int argc, char** argv, Options& o);
// "ws://127.0.0.1:8080/echo" or "wss://localhost/echo" -> tls, target, Host header, path, SNI.
// Refuses non-loopback hosts.
std::string parse_url(const std::string& url, Options& o);
// Cross-flag TLS rules (called by parse_options after parse_url); "" when consistent.
std::string check_tls_options(Options& o, bool tls_flags, const std::string& sni);
// Cross-flag rules of the fanout mode (called by parse_options); fills connections.
std::string check_fanout_options(Options& o, bool size_set, bool rate_set, bool duration_set);
const char* usage_text() noexcept;

}  // namespace ringgate::load
