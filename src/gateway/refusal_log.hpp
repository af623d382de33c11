// Worker::RefusalLog: the lines that say why a connection was refused, rate-limited (10 a second,
// the rest counted and summed up in the next line):
//   handshake refused: reason=.. status=.. peer=.. [client=.. forwarded_for=..] method=.. target=.. headers=..
//   proxy header refused: reason=.. peer=..
// Control characters are escaped. The peer goes in last: a direct descriptor has no getpeername(),
// so an ordinary descriptor is made for it on the ring first, and until it is back the connection
// neither sends its answer nor closes (kLogPending), so a proxy waiting for our answer is still
// connected to be named.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ringgate/core/log.hpp"
#include "ringgate/gateway/worker.hpp"

namespace ringgate::gateway {

class Worker::RefusalLog {
 public:
  explicit RefusalLog(Worker& w) noexcept : w_(w) {}
  void refusal(std::uint32_t index, Connection& conn, http::Reject why, const http::Request* req,
               std::string_view raw_head) noexcept;
  void proxy_refusal(std::uint32_t index, Connection& conn, ProxyResult why, const sockaddr* peer) noexcept;
  // The descriptor made for a line's peer is back (kFdInstall).
  void on_fd_installed(std::uint64_t ud, std::int32_t res) noexcept;

 private:
  struct Pending {
    std::uint64_t ud;        // the descriptor install's user_data (0 until submitted)
    std::uint32_t index;     // the connection, held open (kLogPending) until the line is done
    std::string head, rest;  // the log line before and after "peer=..."
    std::string forwarded;   // client= and forwarded_for=, logged only when the peer is a trusted proxy
  };
  void with_peer(std::uint32_t index, Connection& conn, Pending line, const sockaddr* known) noexcept;
  void finish(const Pending& line, const std::optional<net::SockAddr>& peer) noexcept;

  Worker& w_;
  RateLimiter limit_{10};
  std::vector<Pending> pending_;
};

}  // namespace ringgate::gateway
