// Socket addresses and listening sockets. Each worker opens its own SO_REUSEPORT listener on the
// same address so the kernel spreads connections over cores without a shared accept queue.
// TCP_NODELAY is set on the listener: accepted sockets inherit it, which is the only cheap way to get
// it onto direct descriptors (platform.md measured 47x on a multi-buffer echo without it).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "ringgate/core/result.hpp"

namespace ringgate::net {

struct SockAddr {
  sockaddr_storage storage{};
  socklen_t len = 0;
  std::uint16_t port() const noexcept;
  void set_port(std::uint16_t port) noexcept;
  bool is_loopback() const noexcept;
  std::string to_string() const;  // "127.0.0.1:8080" or "[::1]:8080"
  const sockaddr* sa() const noexcept { return reinterpret_cast<const sockaddr*>(&storage); }
};

// Parses "HOST:PORT" or "[V6]:PORT" with a numeric host ("localhost" is accepted as 127.0.0.1).
Result<SockAddr> parse_address(std::string_view text) noexcept;

struct ListenOptions {
  bool reuse_port = true;
  int backlog = 4096;
};

// socket + SO_REUSEADDR/SO_REUSEPORT + TCP_NODELAY + bind + listen. Returns the fd.
Result<int> open_listener(const SockAddr& addr, const ListenOptions& opts) noexcept;
// Whether another socket already listens on `addr` (ok, or Errc::address_in_use): binds a throwaway
// socket as open_listener would but without SO_REUSEPORT, then closes it. Our SO_REUSEPORT listeners
// would otherwise join another process's listener without a word and the kernel would split new
// connections between the two. Port 0 is always ok (nothing to probe). A check, not a lock: a
// listener bound between the probe and ours is not seen.
Result<void> probe_exclusive(const SockAddr& addr) noexcept;
// The bound address (to learn the port after binding port 0).
Result<SockAddr> local_address(int fd) noexcept;
Result<SockAddr> peer_address(int fd) noexcept;

}  // namespace ringgate::net
