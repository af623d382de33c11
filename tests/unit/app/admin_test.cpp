// The admin endpoint against slow and hostile clients: tricklers, a reader that never reads, a
// full connection table, and stop() with all of them open. Servers listen on 127.0.0.1 port 0;
// every wait is bounded. The latency bounds (100 ms) are what a load balancer's probe tolerates;
// the old one-connection-at-a-time server missed each of them by seconds.
#include "ringgate/app/admin.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace ringgate::app {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t kBigBody = 16u << 20;  // well past the kernel's send + receive buffers
constexpr std::string_view kPartialHead = "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Pad: ";

long ms_since(Clock::time_point t0) {
  return long(std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count());
}

bool wait_until(const std::function<bool()>& done, int timeout_ms = 3000) {
  const auto t0 = Clock::now();
  while (!done()) {
    if (ms_since(t0) > timeout_ms) return false;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return true;
}

// A connected (blocking) client socket, or -1 after 2 s; rcvbuf > 0 shrinks its receive buffer (a
// reader that never reads then stalls the server's writes quickly). The connect is bounded: a
// server that does not accept fills its backlog, and the kernel's SYN retries take minutes.
int dial(const net::SockAddr& a, int rcvbuf = 0) {
  int fd = ::socket(a.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  int err = ::connect(fd, a.sa(), a.len) == 0 ? 0 : errno;
  if (err == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    socklen_t len = sizeof err;
    err = ::poll(&p, 1, 2000) == 1 ? 0 : ETIMEDOUT;
    if (err == 0) getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  }
  if (err != 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    s.remove_prefix(std::size_t(n));
  }
  return true;
}

struct ReadResult {
  std::string data;
  bool closed = false;  // EOF or reset seen before the timeout
};

ReadResult read_until_close(int fd, int timeout_ms) {
  ReadResult r;
  const auto t0 = Clock::now();
  char buf[65536];
  for (;;) {
    const int left = timeout_ms - int(ms_since(t0));
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, left) <= 0) return r;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      r.closed = true;
      return r;
    }
    r.data.append(buf, std::size_t(n));
  }
}

// The server has built the response and is sending it: the first bytes are in our buffer.
bool response_started(int fd) {
  return wait_until([fd] {
    int queued = 0;
    return ::ioctl(fd, FIONREAD, &queued) == 0 && queued > 0;
  });
}

int status_of(std::string_view resp) {
  if (resp.size() < 12 || resp.substr(0, 9) != "HTTP/1.1 ") return 0;
  return std::atoi(std::string(resp.substr(9, 3)).c_str());
}

std::string_view body_of(std::string_view resp) {
  const std::size_t at = resp.find("\r\n\r\n");
  return at == std::string_view::npos ? std::string_view() : resp.substr(at + 4);
}

class AdminTest : public testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(addr_ok()); }
  void TearDown() override { server_.stop(); }

  bool addr_ok() {
    auto a = net::parse_address("127.0.0.1:0");
    if (a) any_ = *a;
    return bool(a);
  }

  void start(const AdminLimits& limits = {}) {
    std::string why;
    auto ok = server_.start(
        any_,
        [this] {
          metrics_calls_.fetch_add(1);
          if (big_left_.load() > 0) {
            big_left_.fetch_sub(1);
            return std::string(kBigBody, 'x');
          }
          return std::string("ringgate_test_metric 1\n");
        },
        [this] { return healthy_.load(); }, why, limits);
    ASSERT_TRUE(ok) << why;
    addr_ = server_.address();
  }

  // One request on a fresh connection, read until the server closes it.
  std::string request(std::string_view text, int timeout_ms = 2000) {
    const int fd = dial(addr_);
    if (fd < 0) return {};
    std::string out;
    if (send_all(fd, text)) out = read_until_close(fd, timeout_ms).data;
    ::close(fd);
    return out;
  }

  std::string get(std::string_view path) {
    return request("GET " + std::string(path) + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  }

  // /healthz on a fresh connection; returns the milliseconds to a complete 200 "ok", or -1.
  long probe_ms(int timeout_ms = 1000) {
    const auto t0 = Clock::now();
    const std::string r = request("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", timeout_ms);
    if (status_of(r) != 200 || body_of(r) != "ok\n") return -1;
    return ms_since(t0);
  }

  double counter(std::string_view sample) {
    const std::string m = get("/metrics");
    const std::size_t at = m.find(std::string("\n") + std::string(sample) + " ");
    if (at == std::string::npos) return -1;
    return std::atof(m.c_str() + at + 1 + sample.size() + 1);
  }

  AdminServer server_;
  net::SockAddr any_, addr_;
  std::atomic<int> metrics_calls_{0};
  std::atomic<int> big_left_{0};  // this many next /metrics bodies are kBigBody bytes
  std::atomic<bool> healthy_{true};
};

// Closes the client sockets it holds, whatever the test's outcome.
struct Sockets {
  std::vector<int> fds;
  ~Sockets() {
    for (int fd : fds) ::close(fd);
  }
};

// Sends one more header byte on every socket each round, never finishing the head.
class Trickler {
 public:
  Trickler(const std::vector<int>& fds, int period_ms)
      : thread_([this, &fds, period_ms] {
          while (!stop_.load()) {
            for (int fd : fds) ::send(fd, "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            rounds_.fetch_add(1);
            std::this_thread::sleep_for(milliseconds(period_ms));
          }
        }) {}
  ~Trickler() {
    stop_.store(true);
    thread_.join();
  }
  int rounds() const { return rounds_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> rounds_{0};
  std::thread thread_;
};

TEST_F(AdminTest, AnswersTheSameRoutesAsBefore) {
  start();
  std::string r = get("/healthz");
  EXPECT_EQ(status_of(r), 200);
  EXPECT_EQ(body_of(r), "ok\n");
  EXPECT_NE(r.find("Connection: close\r\n"), std::string::npos);
  healthy_ = false;
  r = get("/healthz");
  EXPECT_EQ(status_of(r), 503);
  EXPECT_EQ(body_of(r), "draining\n");

  r = get("/metrics");
  EXPECT_EQ(status_of(r), 200);
  EXPECT_NE(r.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos);
  EXPECT_EQ(body_of(r).substr(0, 23), "ringgate_test_metric 1\n");
  EXPECT_NE(r.find("\nringgate_admin_requests_total "), std::string::npos);

  r = request("HEAD /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(status_of(r), 200);
  EXPECT_NE(r.find("Content-Length: "), std::string::npos);
  EXPECT_EQ(body_of(r), "");

  r = request("POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(status_of(r), 405);
  EXPECT_EQ(body_of(r), "admin endpoints answer GET\n");
  r = get("/nope");
  EXPECT_EQ(status_of(r), 404);
  EXPECT_EQ(body_of(r), "not found: try /metrics or /healthz\n");
  r = request(std::string_view("\x16\x03\x01\x02\x00junk", 9));
  EXPECT_EQ(status_of(r), 400);
  EXPECT_EQ(body_of(r), "malformed request\n");
  // One byte past the 8 KiB head limit, with no end in sight: 431, as the WebSocket port answers.
  const std::string big_head = "GET /healthz HTTP/1.1\r\nX-Big: ";
  r = request(big_head + std::string(8193 - big_head.size(), 'a'));
  EXPECT_EQ(status_of(r), 431);
  EXPECT_EQ(body_of(r), "request head too large\n");
}

TEST_F(AdminTest, HalfClosedPeerIsStillAnsweredAndAnEmptyOneIsNot) {
  start();
  Sockets s;
  s.fds = {dial(addr_), dial(addr_)};
  ASSERT_TRUE(send_all(s.fds[0], "GET /healthz HTTP/1.1\r\n\r\n"));
  ::shutdown(s.fds[0], SHUT_WR);
  ReadResult r = read_until_close(s.fds[0], 2000);
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(status_of(r.data), 200);
  ASSERT_TRUE(send_all(s.fds[1], "GET /hea"));
  ::shutdown(s.fds[1], SHUT_WR);
  r = read_until_close(s.fds[1], 2000);
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.data, "");
}

TEST_F(AdminTest, FiftyTricklersDoNotDelayHealthz) {
  start();
  Sockets s;
  for (int k = 0; k < 50; ++k) {
    s.fds.push_back(dial(addr_));
    ASSERT_GE(s.fds.back(), 0);
    ASSERT_TRUE(send_all(s.fds.back(), kPartialHead));
  }
  Trickler t(s.fds, 20);
  for (int k = 0; k < 10; ++k) {
    const int seen = t.rounds();
    ASSERT_TRUE(wait_until([&] { return t.rounds() > seen; }));  // probe while they trickle
    const long ms = probe_ms();
    EXPECT_GE(ms, 0) << "probe " << k << " got no answer";
    EXPECT_LT(ms, 100) << "probe " << k;
  }
  // The tricklers were held open, not refused: they are still waiting for their deadline.
  for (int fd : s.fds) {
    pollfd p{fd, POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 0), 0);
  }
}

TEST_F(AdminTest, HeadDeadlineClosesATricklerWhateverItSends) {
  AdminLimits limits;
  limits.head_timeout_ms = 300;
  start(limits);
  Sockets s;
  s.fds.push_back(dial(addr_));
  ASSERT_TRUE(send_all(s.fds[0], kPartialHead));
  const auto t0 = Clock::now();
  bool closed = false;
  std::string got;
  while (!closed && ms_since(t0) < 3000) {
    ::send(s.fds[0], "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);  // a byte every 20 ms
    ReadResult r = read_until_close(s.fds[0], 20);
    got += r.data;
    closed = r.closed;
  }
  const long ms = ms_since(t0);
  EXPECT_TRUE(closed);
  EXPECT_EQ(got, "") << "a timed-out head gets no answer";
  EXPECT_GE(ms, 250);
  EXPECT_LT(ms, 1500);
  EXPECT_EQ(counter(R"(ringgate_admin_dropped_total{reason="head_timeout"})"), 1);
}

TEST_F(AdminTest, AReaderThatNeverReadsMetricsDoesNotBlockOthers) {
  AdminLimits limits;
  limits.response_timeout_ms = 500;
  start(limits);
  big_left_ = 1;
  Sockets s;
  s.fds.push_back(dial(addr_, 4096));
  ASSERT_TRUE(send_all(s.fds[0], "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(response_started(s.fds[0]));  // building 16 MiB is the loop's own time, not the attack's
  for (int k = 0; k < 5; ++k) {
    const long ms = probe_ms();
    EXPECT_GE(ms, 0) << "probe " << k << " got no answer";
    EXPECT_LT(ms, 100) << "probe " << k;
  }
  // At the deadline the stalled response is cut off (reset): the client gets a truncated body.
  EXPECT_TRUE(wait_until([&] { return counter(R"(ringgate_admin_dropped_total{reason="response_timeout"})") == 1; }));
  ReadResult r = read_until_close(s.fds[0], 5000);
  EXPECT_TRUE(r.closed);
  EXPECT_LT(r.data.size(), kBigBody);
}

TEST_F(AdminTest, TwoHundredConcurrentClientsAreAnsweredInAnyOrder) {
  start();
  Sockets s;
  for (int k = 0; k < 200; ++k) {
    s.fds.push_back(dial(addr_));
    ASSERT_GE(s.fds.back(), 0);
    ASSERT_TRUE(send_all(s.fds.back(), "GET /healthz HTTP/1.1\r\nHost: t\r\n"));  // all but the last line
  }
  // Finish the heads newest first: each answer needs every older connection to be held open, not
  // served in turn.
  for (int k = 199; k >= 100; --k) {
    ASSERT_TRUE(send_all(s.fds[k], "\r\n"));
    ReadResult r = read_until_close(s.fds[k], 1000);
    ASSERT_EQ(status_of(r.data), 200) << "client " << k;
  }
  // And the other half at once.
  for (int k = 99; k >= 0; --k) ASSERT_TRUE(send_all(s.fds[k], "\r\n"));
  for (int k = 0; k < 100; ++k) {
    ReadResult r = read_until_close(s.fds[k], 1000);
    EXPECT_TRUE(r.closed);
    EXPECT_EQ(status_of(r.data), 200) << "client " << k;
  }
}

TEST_F(AdminTest, AFullTableEvictsTheOldestIdleConnection) {
  AdminLimits limits;
  limits.max_connections = 8;
  start(limits);
  Sockets s;
  for (int k = 0; k < 8; ++k) {
    s.fds.push_back(dial(addr_));
    ASSERT_TRUE(send_all(s.fds.back(), kPartialHead));
  }
  const long ms = probe_ms();
  EXPECT_GE(ms, 0);
  EXPECT_LT(ms, 100);
  ReadResult r = read_until_close(s.fds[0], 1000);
  EXPECT_TRUE(r.closed) << "the oldest idle connection made room";
  EXPECT_EQ(r.data, "");
  for (int k = 1; k < 8; ++k) {  // only the oldest went; the probe's slot is free again
    pollfd p{s.fds[k], POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 0), 0) << "client " << k;
  }
  EXPECT_EQ(counter(R"(ringgate_admin_dropped_total{reason="evicted"})"), 1);
}

TEST_F(AdminTest, RefusesANewcomerWhenEverySlotIsWriting) {
  AdminLimits limits;
  limits.max_connections = 2;
  // Long enough that both writers are still writing when the newcomer comes: under ASan building
  // a 16 MiB body takes long enough for a 500 ms deadline to free the first slot first.
  limits.response_timeout_ms = 2000;
  start(limits);
  big_left_ = 2;
  Sockets s;
  for (int k = 0; k < 2; ++k) {
    s.fds.push_back(dial(addr_, 4096));
    ASSERT_TRUE(send_all(s.fds.back(), "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"));
  }
  for (int fd : s.fds) ASSERT_TRUE(response_started(fd));
  const auto t0 = Clock::now();
  const std::string r = request("GET /healthz HTTP/1.1\r\n\r\n", 1000);
  EXPECT_EQ(r, "") << "refused with an immediate close";
  EXPECT_LT(ms_since(t0), 100);
  // Once the stalled writers pass their deadline, the endpoint answers again.
  EXPECT_TRUE(wait_until([&] { return probe_ms(200) >= 0; }, 6000));
  // The writers' deadlines are a response-build apart: wait for the second one too.
  EXPECT_TRUE(wait_until([&] { return counter(R"(ringgate_admin_dropped_total{reason="response_timeout"})") == 2; },
                         6000));
  EXPECT_GE(counter(R"(ringgate_admin_dropped_total{reason="refused"})"), 1);  // the waits above add more
}

TEST_F(AdminTest, StopReturnsPromptlyWithConnectionsOpen) {
  start();
  big_left_ = 1;
  Sockets s;
  for (int k = 0; k < 20; ++k) {
    s.fds.push_back(dial(addr_));
    ASSERT_TRUE(send_all(s.fds.back(), kPartialHead));
  }
  s.fds.push_back(dial(addr_, 4096));
  ASSERT_TRUE(send_all(s.fds.back(), "GET /metrics HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(response_started(s.fds.back()));
  const auto t0 = Clock::now();
  server_.stop();
  EXPECT_LT(ms_since(t0), 200);
  for (int k = 0; k < 20; ++k) EXPECT_TRUE(read_until_close(s.fds[k], 1000).closed) << "client " << k;
  const int late = dial(addr_);  // the listener is closed too
  EXPECT_LT(late, 0);
  if (late >= 0) ::close(late);
}

}  // namespace
}  // namespace ringgate::app
