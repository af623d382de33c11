// Ring::register_file and Ring::connect (the load generator's client path): an ordinary socket is
// parked in a fixed slot, its fd closed, and the connection is made and used through the slot only.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "ringgate/net/listener.hpp"
#include "ringgate/net/ring.hpp"

namespace ringgate::net {
namespace {

Completion wait_ud(Ring& ring, std::uint64_t ud) {
  for (int turn = 0; turn < 250; ++turn) {
    EXPECT_TRUE(ring.submit_and_wait(20'000'000));
    Completion c[16];
    std::size_t n = ring.reap(c, 16);
    for (std::size_t i = 0; i < n; ++i) {
      if (c[i].user_data == ud) return c[i];
    }
  }
  ADD_FAILURE() << "no completion for user_data " << ud;
  return Completion{0, -ETIMEDOUT, 0};
}

struct Listening {
  int fd = -1;
  SockAddr addr;
  Listening() {
    auto a = parse_address("127.0.0.1:0");
    EXPECT_TRUE(a);
    ListenOptions opts;
    auto l = open_listener(a.value(), opts);
    EXPECT_TRUE(l);
    fd = l.value();
    addr = local_address(fd).value();
  }
  ~Listening() { ::close(fd); }
};

TEST(RingConnect, FixedSlotConnectSendAfterFdClosed) {
  Ring ring;
  std::string why;
  RingConfig cfg;
  cfg.fixed_files = 8;
  ASSERT_TRUE(ring.init(cfg, why)) << why;
  ASSERT_TRUE(ring.direct());
  Listening srv;

  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(ring.register_file(3, fd));
  ::close(fd);  // the slot keeps the socket alive

  ASSERT_TRUE(ring.connect(3, srv.addr.sa(), srv.addr.len, 7));
  EXPECT_EQ(wait_ud(ring, 7).res, 0);
  int peer = ::accept(srv.fd, nullptr, nullptr);
  ASSERT_GE(peer, 0);

  const char msg[] = "hello";
  ASSERT_TRUE(ring.send(3, msg, 5, 8));
  EXPECT_EQ(wait_ud(ring, 8).res, 5);
  char buf[16] = {};
  EXPECT_EQ(::recv(peer, buf, sizeof buf, 0), 5);
  EXPECT_EQ(std::string(buf, 5), "hello");

  ASSERT_TRUE(ring.close(3, 9));
  EXPECT_EQ(wait_ud(ring, 9).res, 0);
  EXPECT_EQ(::recv(peer, buf, sizeof buf, 0), 0);  // the close reached the peer: EOF
  ::close(peer);
}

TEST(RingConnect, RefusedConnectReportsError) {
  Ring ring;
  std::string why;
  RingConfig cfg;
  cfg.fixed_files = 4;
  ASSERT_TRUE(ring.init(cfg, why)) << why;
  SockAddr addr;
  {
    Listening srv;  // grab a free port, then close it so nothing listens there
    addr = srv.addr;
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_TRUE(ring.register_file(0, fd));
  ::close(fd);
  ASSERT_TRUE(ring.connect(0, addr.sa(), addr.len, 1));
  EXPECT_EQ(wait_ud(ring, 1).res, -ECONNREFUSED);
}

TEST(RingConnect, RegisterFileRejectsBadSlotAndOrdinaryRing) {
  Ring ring;
  std::string why;
  RingConfig cfg;
  cfg.fixed_files = 4;
  ASSERT_TRUE(ring.init(cfg, why)) << why;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_EQ(ring.register_file(4, fd).error(), Errc::invalid_argument);
  EXPECT_FALSE(ring.register_file(1, 1000000));  // not an open fd
  Ring plain;
  RingConfig pc;
  pc.direct_descriptors = false;
  ASSERT_TRUE(plain.init(pc, why)) << why;
  EXPECT_EQ(plain.register_file(0, fd).error(), Errc::invalid_argument);
  ::close(fd);
}

// The broker connections' path: an ordinary fd on a ring whose connections use direct
// descriptors. connect_plain/send_plain/recv_plain must not treat the fd as a fixed index (fd 5
// would otherwise name fixed slot 5, which is empty here: -EBADF).
TEST(RingConnect, PlainOpsUseTheOrdinaryFdOnADirectRing) {
  Ring ring;
  std::string why;
  RingConfig cfg;
  cfg.fixed_files = 64;
  ASSERT_TRUE(ring.init(cfg, why)) << why;
  ASSERT_TRUE(ring.direct());
  Listening srv;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(ring.connect_plain(fd, srv.addr.sa(), srv.addr.len, 21));
  EXPECT_EQ(wait_ud(ring, 21).res, 0);
  int peer = ::accept(srv.fd, nullptr, nullptr);
  ASSERT_GE(peer, 0);

  ASSERT_TRUE(ring.send_plain(fd, "PING\r\n", 6, 22));
  EXPECT_EQ(wait_ud(ring, 22).res, 6);
  char buf[16] = {};
  EXPECT_EQ(::recv(peer, buf, sizeof buf, 0), 6);
  EXPECT_EQ(std::string(buf, 6), "PING\r\n");

  char in[16] = {};
  ASSERT_TRUE(ring.recv_plain(fd, in, sizeof in, 23));  // armed before the data arrives
  ASSERT_EQ(::send(peer, "+PONG\r\n", 7, 0), 7);
  EXPECT_EQ(wait_ud(ring, 23).res, 7);
  EXPECT_EQ(std::string(in, 7), "+PONG\r\n");

  ::close(peer);
  ASSERT_TRUE(ring.recv_plain(fd, in, sizeof in, 24));
  EXPECT_EQ(wait_ud(ring, 24).res, 0) << "EOF once the peer closed";
  ::close(fd);
}

}  // namespace
}  // namespace ringgate::net
