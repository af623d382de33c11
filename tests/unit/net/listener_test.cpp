// probe_exclusive(): whether another socket listens on an address our SO_REUSEPORT listeners would
// silently share. It must see every listener (with or without SO_REUSEPORT, IPv4 seen from a
// dual-stack IPv6 address), and nothing else: not TIME_WAIT, not the connections a draining
// predecessor still serves, not the probe itself once it returns.
#include "ringgate/net/listener.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace ringgate::net {
namespace {

// Closes the descriptor at scope exit, so a failed assertion leaks no listener into the next test.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

ListenOptions reuse(bool on) {
  ListenOptions o;
  o.reuse_port = on;
  return o;
}

// A listener on a kernel-picked loopback port; `at` gets the bound address.
int listen_any(const char* text, bool reuse_port, SockAddr& at) {
  auto addr = parse_address(text);
  EXPECT_TRUE(addr);
  auto fd = open_listener(*addr, reuse(reuse_port));
  EXPECT_TRUE(fd) << errc_name(fd.error());
  if (!fd) return -1;
  at = *local_address(*fd);
  return *fd;
}

int connect_to(const SockAddr& addr) {
  int fd = ::socket(addr.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::connect(fd, addr.sa(), addr.len), 0) << std::strerror(errno);
  timeval tv{5, 0};  // a hang becomes a failure
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

TEST(Probe, PortZeroHasNothingToProbe) {
  EXPECT_TRUE(probe_exclusive(*parse_address("127.0.0.1:0")));
}

TEST(Probe, SeesAnotherSoReusePortListenerThatBindWouldJoin) {
  SockAddr at;
  Fd other(listen_any("127.0.0.1:0", true, at));
  auto probe = probe_exclusive(at);
  ASSERT_FALSE(probe);
  EXPECT_EQ(probe.error(), Errc::address_in_use);
  // What the probe is for: our own SO_REUSEPORT listener would have joined it without a word.
  auto joined = open_listener(at, reuse(true));
  ASSERT_TRUE(joined);
  ::close(*joined);
}

TEST(Probe, SeesAListenerWithoutSoReusePort) {
  SockAddr at;
  Fd other(listen_any("127.0.0.1:0", false, at));
  auto probe = probe_exclusive(at);
  ASSERT_FALSE(probe);
  EXPECT_EQ(probe.error(), Errc::address_in_use);
}

TEST(Probe, FreePortIsOkAndTheProbeReleasesIt) {
  SockAddr at;
  { Fd gone(listen_any("127.0.0.1:0", true, at)); }
  ASSERT_TRUE(probe_exclusive(at));
  // The probe's own bind is gone: even a listener without SO_REUSEPORT gets the port.
  auto fd = open_listener(at, reuse(false));
  ASSERT_TRUE(fd) << errc_name(fd.error());
  ::close(*fd);
}

TEST(Probe, TimeWaitOfOurEarlierConnectionsDoesNotCount) {
  SockAddr at;
  int client = -1;
  {
    Fd listener(listen_any("127.0.0.1:0", true, at));
    client = connect_to(at);
    Fd served(::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC));
    ASSERT_GE(served.fd, 0);
  }  // the server side closes first (and the listener with it): its socket goes to TIME_WAIT
  char byte;
  EXPECT_EQ(::recv(client, &byte, 1, 0), 0);  // our FIN arrived
  ::close(client);                             // theirs completes the close: TIME_WAIT on our side
  EXPECT_TRUE(probe_exclusive(at));
  auto fd = open_listener(at, reuse(true));
  ASSERT_TRUE(fd) << errc_name(fd.error());
  ::close(*fd);
}

TEST(Probe, ConnectionsOfAClosedListenerDoNotCount) {
  // A draining predecessor: its listener is closed, its accepted connections still open.
  SockAddr at;
  int listener = listen_any("127.0.0.1:0", true, at);
  Fd client(connect_to(at));
  Fd served(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_GE(served.fd, 0);
  ::close(listener);
  EXPECT_TRUE(probe_exclusive(at));
  // While it still listened, the probe saw it.
  Fd again(listen_any("127.0.0.1:0", true, at));
  EXPECT_FALSE(probe_exclusive(at));
}

bool dual_stack() {
  int v = 1;
  std::ifstream("/proc/sys/net/ipv6/bindv6only") >> v;
  int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) ::close(fd);
  return fd >= 0 && v == 0;
}

TEST(Probe, DualStackIpv6AddressSeesTheIpv4Listener) {
  if (!dual_stack()) GTEST_SKIP() << "no IPv6, or net.ipv6.bindv6only=1";
  // A v4-mapped address on loopback stands for [::] without listening on every interface.
  SockAddr v4;
  Fd other(listen_any("127.0.0.1:0", true, v4));
  auto mapped = parse_address("[::ffff:127.0.0.1]:" + std::to_string(v4.port()));
  ASSERT_TRUE(mapped);
  auto probe = probe_exclusive(*mapped);
  ASSERT_FALSE(probe);
  EXPECT_EQ(probe.error(), Errc::address_in_use);
}

TEST(Probe, Ipv4AddressSeesTheDualStackIpv6Listener) {
  if (!dual_stack()) GTEST_SKIP() << "no IPv6, or net.ipv6.bindv6only=1";
  SockAddr v6;
  Fd other(listen_any("[::ffff:127.0.0.1]:0", true, v6));
  auto v4 = parse_address("127.0.0.1:" + std::to_string(v6.port()));
  ASSERT_TRUE(v4);
  auto probe = probe_exclusive(*v4);
  ASSERT_FALSE(probe);
  EXPECT_EQ(probe.error(), Errc::address_in_use);
}

TEST(Probe, Ipv6LoopbackListenerIsSeen) {
  int probe_fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe_fd < 0) GTEST_SKIP() << "no IPv6";
  ::close(probe_fd);
  auto addr = parse_address("[::1]:0");
  auto fd = open_listener(*addr, reuse(true));
  if (!fd) GTEST_SKIP() << "no ::1 here: " << errc_name(fd.error());
  Fd other(*fd);
  auto probe = probe_exclusive(*local_address(*fd));
  ASSERT_FALSE(probe);
  EXPECT_EQ(probe.error(), Errc::address_in_use);
}

}  // namespace
}  // namespace ringgate::net
