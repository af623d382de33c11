#include "ringgate/net/listener.hpp"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace ringgate::net {

std::uint16_t SockAddr::port() const noexcept {
  if (storage.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  if (storage.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  return 0;
}

void SockAddr::set_port(std::uint16_t port) noexcept {
  if (storage.ss_family == AF_INET) reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
  if (storage.ss_family == AF_INET6) reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
}

bool SockAddr::is_loopback() const noexcept {
  if (storage.ss_family == AF_INET) {
    return (ntohl(reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr.s_addr) >> 24) == 127;
  }
  if (storage.ss_family == AF_INET6) {
    return IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr);
  }
  return false;
}

std::string SockAddr::to_string() const {
  char host[INET6_ADDRSTRLEN] = "?";
  if (storage.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(port());
  }
  if (storage.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(port());
  }
  return "unknown";
}

Result<SockAddr> parse_address(std::string_view text) noexcept {
  SockAddr out;
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == text.size()) return Errc::invalid_argument;
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535) {
    return Errc::invalid_argument;
  }
  char buf[INET6_ADDRSTRLEN + 1];
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (host.size() >= sizeof buf) return Errc::invalid_argument;
    std::memcpy(buf, host.data(), host.size());
    buf[host.size()] = 0;
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
    if (inet_pton(AF_INET6, buf, &a6->sin6_addr) != 1) return Errc::invalid_argument;
    a6->sin6_family = AF_INET6;
    out.len = sizeof(sockaddr_in6);
  } else {
    if (host == "localhost") host = "127.0.0.1";
    if (host.empty() || host.size() >= sizeof buf) return Errc::invalid_argument;
    std::memcpy(buf, host.data(), host.size());
    buf[host.size()] = 0;
    auto* a4 = reinterpret_cast<sockaddr_in*>(&out.storage);
    if (inet_pton(AF_INET, buf, &a4->sin_addr) != 1) return Errc::invalid_argument;
    a4->sin_family = AF_INET;
    out.len = sizeof(sockaddr_in);
  }
  out.set_port(std::uint16_t(port));
  return out;
}

namespace {
// socket + SO_REUSEADDR (+ SO_REUSEPORT) + TCP_NODELAY + bind. The listener and the probe both come
// from here so the probe meets exactly the bind conflicts the listener would: same family, same
// IPV6_V6ONLY default (dual-stack or not, as net.ipv6.bindv6only says), same SO_REUSEADDR.
Result<int> bound_socket(const SockAddr& addr, bool reuse_port) noexcept {
  int fd = ::socket(addr.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errc_from_errno(errno);
  int one = 1;
  // Our own earlier connections in TIME_WAIT must not block a restart.
  (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
    int err = errno;
    ::close(fd);
    return errc_from_errno(err);
  }
  // Inherited by every accepted socket: small WebSocket frames must not wait for Nagle.
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::bind(fd, addr.sa(), addr.len) < 0) {
    int err = errno;
    ::close(fd);
    return errc_from_errno(err);
  }
  return fd;
}
}  // namespace

Result<int> open_listener(const SockAddr& addr, const ListenOptions& opts) noexcept {
  auto fd = bound_socket(addr, opts.reuse_port);
  if (!fd) return fd.error();
  if (::listen(*fd, opts.backlog) < 0) {
    int err = errno;
    ::close(*fd);
    return errc_from_errno(err);
  }
  return *fd;
}

Result<void> probe_exclusive(const SockAddr& addr) noexcept {
  if (addr.port() == 0) return {};  // the kernel picks a port no listener holds
  // Without SO_REUSEPORT, bind() fails with EADDRINUSE only if a socket listens on an overlapping
  // address (or holds it without SO_REUSEADDR); TIME_WAIT and connected sockets that came from a
  // listener with SO_REUSEADDR (a draining predecessor's) do not count.
  auto fd = bound_socket(addr, false);
  if (!fd) return fd.error();
  ::close(*fd);  // never listened nor connected: the port is released at once, before ours bind
  return {};
}

namespace {
Result<SockAddr> socket_name(int fd, int (*get)(int, sockaddr*, socklen_t*)) noexcept {
  SockAddr out;
  out.len = sizeof out.storage;
  if (get(fd, reinterpret_cast<sockaddr*>(&out.storage), &out.len) < 0) return errc_from_errno(errno);
  return out;
}
}  // namespace

Result<SockAddr> local_address(int fd) noexcept { return socket_name(fd, ::getsockname); }
Result<SockAddr> peer_address(int fd) noexcept { return socket_name(fd, ::getpeername); }

}  // namespace ringgate::net
