// Ring and BufferRing against real loopback sockets: multishot accept (direct and ordinary
// descriptors), multishot recv into provided buffers, send, cancel and close.
#include "ringgate/net/ring.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "ringgate/net/buffer_ring.hpp"
#include "ringgate/net/listener.hpp"

namespace ringgate::net {
namespace {

constexpr std::uint64_t kAcceptUd = 1, kRecvUd = 2, kSendUd = 3, kCloseUd = 4, kCancelUd = 5;

int connect_to(const SockAddr& addr) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::connect(fd, addr.sa(), addr.len), 0) << std::strerror(errno);
  timeval tv{5, 0};  // a hang becomes a failure
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// Waits for the next completion with the given user_data (others are returned in `other`).
Completion wait_for(Ring& ring, std::uint64_t ud) {
  for (int turn = 0; turn < 200; ++turn) {
    EXPECT_TRUE(ring.submit_and_wait(20'000'000));
    Completion c[16];
    std::size_t n = ring.reap(c, 16);
    for (std::size_t i = 0; i < n; ++i) {
      if (getenv("RING_TEST_TRACE")) fprintf(stderr, "cqe ud=%llu res=%d flags=%x\n", (unsigned long long)c[i].user_data, c[i].res, c[i].flags);
      if (c[i].user_data == ud) return c[i];
    }
  }
  ADD_FAILURE() << "no completion for user_data " << ud;
  return Completion{0, -ETIMEDOUT, 0};
}

class RingEcho : public ::testing::TestWithParam<bool> {};

TEST_P(RingEcho, AcceptRecvSendClose) {
  const bool direct = GetParam();
  Ring ring;
  std::string why;
  RingConfig cfg;
  cfg.direct_descriptors = direct;
  cfg.fixed_files = 64;
  ASSERT_TRUE(ring.init(cfg, why)) << why;
  EXPECT_EQ(ring.direct(), direct);
  BufferRing buffers;
  ASSERT_TRUE(buffers.init(ring, 0, 8, 1024, 64, why)) << why;

  auto addr = parse_address("127.0.0.1:0");
  ASSERT_TRUE(addr);
  auto lfd = open_listener(*addr, ListenOptions{});
  ASSERT_TRUE(lfd);
  auto bound = local_address(*lfd);
  ASSERT_TRUE(bound);
  ASSERT_NE(bound->port(), 0);

  ASSERT_TRUE(ring.accept_multishot(*lfd, kAcceptUd));
  int client = connect_to(*bound);
  Completion acc = wait_for(ring, kAcceptUd);
  ASSERT_GE(acc.res, 0);
  EXPECT_TRUE(acc.more()) << "multishot accept stays armed";
  const int conn = acc.res;
  if (direct) {
    EXPECT_LT(conn, 64) << "a direct descriptor is a table index";
  }

  ASSERT_TRUE(ring.recv_multishot(conn, buffers.group(), kRecvUd));
  ASSERT_EQ(::send(client, "hello", 5, 0), 5);
  Completion rc = wait_for(ring, kRecvUd);
  ASSERT_EQ(rc.res, 5);
  ASSERT_TRUE(rc.has_buffer());
  EXPECT_TRUE(rc.more());
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buffers.buffer(rc.buffer_id())), 5), "hello");
  buffers.recycle(rc.buffer_id());
  buffers.publish();

  ASSERT_TRUE(ring.send(conn, "world", 5, kSendUd));
  Completion sc = wait_for(ring, kSendUd);
  EXPECT_EQ(sc.res, 5);
  char buf[16];
  ASSERT_EQ(::recv(client, buf, sizeof buf, 0), 5);
  EXPECT_EQ(std::string(buf, 5), "world");

  // Never recycle again: each 1-byte message takes a whole buffer until the ring runs dry, and
  // ENOBUFS ends the multishot. (Wait for each completion: with DEFER_TASKRUN the kernel would
  // otherwise coalesce all bytes into one receive.)
  bool saw_enobufs = false;
  for (int i = 0; i < 12 && !saw_enobufs; ++i) {
    ASSERT_EQ(::send(client, "x", 1, 0), 1);
    Completion c = wait_for(ring, kRecvUd);
    if (c.res == -ENOBUFS) {
      saw_enobufs = true;
      EXPECT_FALSE(c.more()) << "ENOBUFS ends the multishot";
      EXPECT_EQ(i, 8) << "8 buffers, each consumed by one receive";
    } else {
      EXPECT_EQ(c.res, 1);
      EXPECT_TRUE(c.more());
    }
  }
  EXPECT_TRUE(saw_enobufs);

  // Cancel the accept, close the connection.
  ASSERT_TRUE(ring.cancel(kAcceptUd, kCancelUd));
  Completion ac = wait_for(ring, kAcceptUd);
  EXPECT_EQ(ac.res, -ECANCELED);
  ASSERT_TRUE(ring.close(conn, kCloseUd));
  EXPECT_EQ(wait_for(ring, kCloseUd).res, 0);
  ssize_t got = ::recv(client, buf, sizeof buf, 0);
  EXPECT_TRUE(got == 0 || (got < 0 && errno == ECONNRESET)) << "the peer sees the close: " << got << " " << std::strerror(errno);
  ::close(client);
  ::close(*lfd);
}

INSTANTIATE_TEST_SUITE_P(Descriptors, RingEcho, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "direct" : "ordinary"; });

TEST(Ring, MsgRingWakesAnotherRing) {
  Ring a, b;
  std::string why;
  RingConfig cfg;
  cfg.direct_descriptors = false;
  ASSERT_TRUE(a.init(cfg, why)) << why;
  ASSERT_TRUE(b.init(cfg, why)) << why;
  ASSERT_TRUE(a.msg_ring(b.ring_fd(), 42, 777));
  ASSERT_TRUE(a.submit());
  Completion c = wait_for(b, 777);
  EXPECT_EQ(c.res, 42);
}

TEST(Listener, ParsesAddresses) {
  EXPECT_EQ(parse_address("127.0.0.1:80")->to_string(), "127.0.0.1:80");
  EXPECT_EQ(parse_address("localhost:81")->to_string(), "127.0.0.1:81");
  EXPECT_EQ(parse_address("[::1]:82")->to_string(), "[::1]:82");
  EXPECT_TRUE(parse_address("127.0.0.9:1")->is_loopback());
  EXPECT_FALSE(parse_address("10.0.0.1:1")->is_loopback());
  EXPECT_FALSE(parse_address("127.0.0.1"));
  EXPECT_FALSE(parse_address("127.0.0.1:65536"));
  EXPECT_FALSE(parse_address("example.com:80"));
  EXPECT_FALSE(parse_address(":80"));
}

TEST(Listener, PortInUseIsReported) {
  auto addr = parse_address("127.0.0.1:0");
  ListenOptions no_reuse;
  no_reuse.reuse_port = false;
  auto a = open_listener(*addr, no_reuse);
  ASSERT_TRUE(a);
  auto bound = local_address(*a);
  auto b = open_listener(*bound, no_reuse);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error(), Errc::address_in_use);
  ::close(*a);
}

TEST(Listener, ListenerSetsNoDelay) {
  auto addr = parse_address("127.0.0.1:0");
  auto l = open_listener(*addr, ListenOptions{});
  ASSERT_TRUE(l);
  int v = 0;
  socklen_t len = sizeof v;
  ASSERT_EQ(getsockopt(*l, IPPROTO_TCP, 1 /* TCP_NODELAY */, &v, &len), 0);
  EXPECT_EQ(v, 1);
  ::close(*l);
}

}  // namespace
}  // namespace ringgate::net
