#include "ringgate/app/admin.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

#include "ringgate/core/clock.hpp"
#include "ringgate/core/log.hpp"
#include "ringgate/core/metrics.hpp"
#include "ringgate/http/request.hpp"
#include "ringgate/http/upgrade.hpp"

namespace ringgate::app {

namespace {

constexpr std::uint32_t kNone = UINT32_MAX;
// One byte past the parser's limit, so a head that does not fit reads as head_too_large (431).
constexpr std::size_t kHeadCap = http::kDefaultHeadLimit + 1;
// epoll tags: a connection is (generation << 32 | slot); slots stay below max_connections, so
// these two never collide with one, and a stale event for a reused slot fails the generation check.
constexpr std::uint64_t kListenerTag = UINT64_MAX;
constexpr std::uint64_t kWakeTag = UINT64_MAX - 1;
constexpr int kEventBatch = 64;
// Accepts per wakeup: enough to empty a burst, few enough that readers are not starved by it.
constexpr int kAcceptBatch = 128;
// After EMFILE/ENFILE the listener stays readable; stop watching it this long instead of spinning.
constexpr std::uint64_t kAcceptPauseMs = 100;

enum class Phase : std::uint8_t { free, head, response };

struct Conn {
  int fd = -1;
  std::uint32_t gen = 0;
  Phase phase = Phase::free;
  std::uint32_t prev = kNone, next = kNone;  // links in the phase's FIFO
  std::uint64_t deadline_ms = 0;
  std::size_t have = 0;  // head bytes read
  std::size_t sent = 0;  // response bytes sent
  std::unique_ptr<char[]> head;  // kHeadCap bytes, allocated on the slot's first use and kept
  std::string out;
};

// Connections in one phase, oldest first. Every connection in a phase got the same timeout when it
// entered it, so this order is also deadline order: expiry looks only at the front, O(1) per close.
struct Fifo {
  std::uint32_t first = kNone, last = kNone;
};

// Why a connection was closed without an answer; indexes Loop::dropped.
enum Drop : std::size_t { head_timeout, response_timeout, evicted, refused, kDropCount };
constexpr const char* kDropLabel[kDropCount] = {R"(reason="head_timeout")", R"(reason="response_timeout")",
                                                R"(reason="evicted")", R"(reason="refused")"};

}  // namespace

struct AdminServer::Loop {
  AdminLimits limits;
  MetricsFn metrics;
  HealthFn health;
  int listen_fd = -1, epoll_fd = -1, wake_fd = -1;
  std::atomic<bool> stop{false};
  std::vector<Conn> conns;
  std::vector<std::uint32_t> free_slots;
  Fifo reading, writing;
  std::uint64_t accept_paused_until_ms = 0;  // 0: the listener is watched
  // Touched only by the loop thread, which also renders /metrics: no atomics needed.
  std::uint64_t accepted = 0, answered = 0;
  std::uint64_t dropped[kDropCount] = {};

  Result<void> open(int listener, std::string& why);
  void run() noexcept;
  void close_all() noexcept;

 private:
  void dispatch(std::uint64_t tag, std::uint64_t now) noexcept;
  void accept_batch(std::uint64_t now) noexcept;
  bool make_room() noexcept;
  void admit(int fd, std::uint64_t now) noexcept;
  void on_readable(std::uint32_t i, std::uint64_t now) noexcept;
  void respond(std::uint32_t i, const http::Request& req, const http::ParseResult& r, std::uint64_t now) noexcept;
  std::string build_response(const http::Request& req, const http::ParseResult& r);
  std::string render_metrics();
  void flush(std::uint32_t i) noexcept;
  void close_conn(std::uint32_t i) noexcept;
  void expire(std::uint64_t now) noexcept;
  int wait_ms(std::uint64_t now) const noexcept;
  void watch_listener(bool on) noexcept;
  void push(Fifo& q, std::uint32_t i) noexcept;
  void unlink(Fifo& q, std::uint32_t i) noexcept;
  Fifo& fifo_of(const Conn& c) noexcept { return c.phase == Phase::head ? reading : writing; }
};

// -- the FIFOs --------------------------------------------------------------------------------

void AdminServer::Loop::push(Fifo& q, std::uint32_t i) noexcept {
  Conn& c = conns[i];
  c.prev = q.last;
  c.next = kNone;
  if (q.last != kNone) {
    conns[q.last].next = i;
  } else {
    q.first = i;
  }
  q.last = i;
}

void AdminServer::Loop::unlink(Fifo& q, std::uint32_t i) noexcept {
  Conn& c = conns[i];
  (c.prev != kNone ? conns[c.prev].next : q.first) = c.next;
  (c.next != kNone ? conns[c.next].prev : q.last) = c.prev;
  c.prev = c.next = kNone;
}

// -- set-up and tear-down ---------------------------------------------------------------------

Result<void> AdminServer::Loop::open(int listener, std::string& why) {
  listen_fd = listener;
  const int flags = fcntl(listen_fd, F_GETFL);
  epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) < 0 || epoll_fd < 0 || wake_fd < 0) {
    const int err = errno;
    why = std::string("admin endpoint: cannot set up its event loop: ") + std::strerror(err);
    return errc_from_errno(err);
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenerTag;
  const bool ok_listen = epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev) == 0;
  ev.data.u64 = kWakeTag;
  if (!ok_listen || epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &ev) != 0) {
    const int err = errno;
    why = std::string("admin endpoint: epoll_ctl: ") + std::strerror(err);
    return errc_from_errno(err);
  }
  const std::uint32_t n = limits.max_connections ? limits.max_connections : 1;
  conns.resize(n);
  free_slots.reserve(n);
  for (std::uint32_t i = n; i-- > 0;) free_slots.push_back(i);  // slot 0 is used first
  return {};
}

void AdminServer::Loop::close_all() noexcept {
  for (std::uint32_t i = 0; i < conns.size(); ++i) {
    if (conns[i].phase != Phase::free) close_conn(i);
  }
  for (int* fd : {&listen_fd, &epoll_fd, &wake_fd}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

// -- the loop ---------------------------------------------------------------------------------

void AdminServer::Loop::run() noexcept {
  epoll_event events[kEventBatch];
  while (!stop.load(std::memory_order_acquire)) {
    const int n = epoll_wait(epoll_fd, events, kEventBatch, wait_ms(monotonic_ms()));
    if (n < 0 && errno != EINTR) {
      RG_LOG_ERROR("admin endpoint: epoll_wait: %s; it stops answering", std::strerror(errno));
      return;
    }
    const std::uint64_t now = monotonic_ms();
    for (int k = 0; k < n; ++k) dispatch(events[k].data.u64, now);
    expire(monotonic_ms());
  }
}

// Until the nearest deadline (or the end of an accept pause); forever when nothing is pending,
// since stop() writes the eventfd.
int AdminServer::Loop::wait_ms(std::uint64_t now) const noexcept {
  std::uint64_t next = UINT64_MAX;
  if (reading.first != kNone) next = std::min(next, conns[reading.first].deadline_ms);
  if (writing.first != kNone) next = std::min(next, conns[writing.first].deadline_ms);
  if (accept_paused_until_ms) next = std::min(next, accept_paused_until_ms);
  if (next == UINT64_MAX) return -1;
  return next <= now ? 0 : int(std::min<std::uint64_t>(next - now, 60'000));
}

void AdminServer::Loop::dispatch(std::uint64_t tag, std::uint64_t now) noexcept {
  if (tag == kListenerTag) return accept_batch(now);
  if (tag == kWakeTag) {
    std::uint64_t v;
    [[maybe_unused]] ssize_t r = ::read(wake_fd, &v, sizeof v);
    return;
  }
  const auto i = std::uint32_t(tag);
  if (i >= conns.size() || conns[i].gen != std::uint32_t(tag >> 32)) return;  // closed earlier this turn
  if (conns[i].phase == Phase::head) {
    on_readable(i, now);
  } else if (conns[i].phase == Phase::response) {
    flush(i);
  }
}

void AdminServer::Loop::expire(std::uint64_t now) noexcept {
  while (reading.first != kNone && conns[reading.first].deadline_ms <= now) {
    RG_LOG_DEBUG("admin endpoint: no complete request head within %u ms; closing", limits.head_timeout_ms);
    ++dropped[head_timeout];
    close_conn(reading.first);
  }
  while (writing.first != kNone && conns[writing.first].deadline_ms <= now) {
    RG_LOG_DEBUG("admin endpoint: response not taken within %u ms; closing", limits.response_timeout_ms);
    ++dropped[response_timeout];
    // Reset rather than close: a plain close would leave the unsent bytes to the kernel, which keeps
    // probing a zero window long after we gave up; the peer sees a truncated (Content-Length) body.
    const linger abort{1, 0};
    setsockopt(conns[writing.first].fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
    close_conn(writing.first);
  }
  if (accept_paused_until_ms && accept_paused_until_ms <= now) watch_listener(true);
}

// -- connections ------------------------------------------------------------------------------

void AdminServer::Loop::watch_listener(bool on) noexcept {
  epoll_event ev{};
  ev.events = on ? std::uint32_t(EPOLLIN) : 0u;
  ev.data.u64 = kListenerTag;
  epoll_ctl(epoll_fd, EPOLL_CTL_MOD, listen_fd, &ev);
  accept_paused_until_ms = on ? 0 : monotonic_ms() + kAcceptPauseMs;
}

void AdminServer::Loop::accept_batch(std::uint64_t now) noexcept {
  for (int k = 0; k < kAcceptBatch; ++k) {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      admit(fd, now);
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      RG_LOG_WARN("admin endpoint: accept: %s; pausing accepts for %llu ms", std::strerror(errno),
                  static_cast<unsigned long long>(kAcceptPauseMs));
      watch_listener(false);
    }
    return;  // EAGAIN: the backlog is empty
  }
}

// A full table gives up its oldest connection still waiting for a head: the one nearest its own
// deadline and the likeliest to be a trickler. Connections writing a response are finishing real
// work and are never evicted; if every slot is one, the newcomer is refused.
bool AdminServer::Loop::make_room() noexcept {
  if (!free_slots.empty()) return true;
  if (reading.first == kNone) return false;
  RG_LOG_DEBUG("admin endpoint: %zu connections open; closing the oldest idle one", conns.size());
  ++dropped[evicted];
  close_conn(reading.first);
  return true;
}

void AdminServer::Loop::admit(int fd, std::uint64_t now) noexcept {
  if (!make_room()) {
    RG_LOG_DEBUG("admin endpoint: %zu responses in flight; refusing a connection", conns.size());
    ++dropped[refused];
    ::close(fd);
    return;
  }
  const std::uint32_t i = free_slots.back();
  free_slots.pop_back();
  Conn& c = conns[i];
  if (!c.head) c.head = std::make_unique<char[]>(kHeadCap);
  c.fd = fd;
  c.phase = Phase::head;
  c.have = c.sent = 0;
  c.deadline_ms = now + limits.head_timeout_ms;
  push(reading, i);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.u64 = (std::uint64_t(c.gen) << 32) | i;
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) return close_conn(i);
  ++accepted;
}

void AdminServer::Loop::close_conn(std::uint32_t i) noexcept {
  Conn& c = conns[i];
  unlink(fifo_of(c), i);
  ::close(c.fd);  // also removes it from the epoll set
  c.fd = -1;
  c.phase = Phase::free;
  ++c.gen;
  std::string().swap(c.out);  // a /metrics body can be large: give it back now
  free_slots.push_back(i);
}

void AdminServer::Loop::on_readable(std::uint32_t i, std::uint64_t now) noexcept {
  Conn& c = conns[i];
  bool eof = false;
  while (c.have < kHeadCap) {
    const ssize_t n = ::recv(c.fd, c.head.get() + c.have, kHeadCap - c.have, 0);
    if (n > 0) {
      c.have += std::size_t(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      eof = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
      break;
    }
  }
  http::Request req;
  const auto r = http::parse_request_head(std::string_view(c.head.get(), c.have), req, http::kDefaultHeadLimit);
  if (r.status != http::ParseStatus::need_more) return respond(i, req, r, now);
  // A peer that half-closes after a whole head is still answered (above); before one, there is
  // nothing to answer. A full buffer is never need_more (the parser's contract); if it were, the
  // level-triggered readiness would spin, so close rather than trust it.
  if (eof || c.have == kHeadCap) close_conn(i);
}

void AdminServer::Loop::respond(std::uint32_t i, const http::Request& req, const http::ParseResult& r,
                                std::uint64_t now) noexcept {
  Conn& c = conns[i];
  unlink(reading, i);
  c.phase = Phase::response;
  c.deadline_ms = now + limits.response_timeout_ms;
  push(writing, i);
  c.out = build_response(req, r);
  ++answered;
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ev.data.u64 = (std::uint64_t(c.gen) << 32) | i;
  epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c.fd, &ev);
  flush(i);
}

// Sends what the socket takes now; the rest goes out on EPOLLOUT, within the response deadline.
void AdminServer::Loop::flush(std::uint32_t i) noexcept {
  Conn& c = conns[i];
  while (c.sent < c.out.size()) {
    const ssize_t w = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
    if (w > 0) {
      c.sent += std::size_t(w);
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;
    } else {
      return close_conn(i);  // the peer went away
    }
  }
  // Connection: close, as the response says. Closing with unread input makes the kernel send a
  // reset, which can destroy the response in the peer's buffer: send our FIN first and discard
  // what has already arrived (at most a head's worth; more is the peer's problem).
  ::shutdown(c.fd, SHUT_WR);
  [[maybe_unused]] ssize_t n = ::recv(c.fd, c.head.get(), kHeadCap, MSG_DONTWAIT);
  close_conn(i);
}

// -- answers ----------------------------------------------------------------------------------

std::string AdminServer::Loop::build_response(const http::Request& req, const http::ParseResult& r) {
  std::string body;
  int status = 200;
  std::string_view type = "text/plain; charset=utf-8";
  const bool valid = r.status == http::ParseStatus::done;
  if (!valid && r.reject == http::Reject::head_too_large) {
    status = 431;
    body = "request head too large\n";
  } else if (!valid) {
    status = 400;
    body = "malformed request\n";
  } else if (req.method != "GET" && req.method != "HEAD") {
    status = 405;
    body = "admin endpoints answer GET\n";
  } else if (req.target == "/metrics") {
    body = render_metrics();
    type = "text/plain; version=0.0.4; charset=utf-8";
  } else if (req.target == "/healthz") {
    const bool ok = health();
    status = ok ? 200 : 503;
    body = ok ? "ok\n" : "draining\n";
  } else {
    status = 404;
    body = "not found: try /metrics or /healthz\n";
  }
  std::string out(body.size() + 512, '\0');
  std::size_t n = http::write_response(status, type, body, out.data(), out.size());
  if (valid && req.method == "HEAD" && n >= body.size()) n -= body.size();
  out.resize(n);
  return out;
}

// The gateway's metrics, then the admin endpoint's own: what it refused or timed out is what an
// operator sizing its limits needs to see.
std::string AdminServer::Loop::render_metrics() {
  std::string body = metrics();
  PromWriter w;
  w.family("ringgate_admin_connections_active", "gauge", "Admin connections open, this one included.");
  w.sample("ringgate_admin_connections_active", "", std::uint64_t(conns.size() - free_slots.size()));
  w.family("ringgate_admin_connections_total", "counter", "Admin connections accepted.");
  w.sample("ringgate_admin_connections_total", "", accepted);
  w.family("ringgate_admin_requests_total", "counter", "Admin requests answered (any status).");
  w.sample("ringgate_admin_requests_total", "", answered);
  w.family("ringgate_admin_dropped_total", "counter",
           "Admin connections closed without an answer: head or response deadline passed, evicted "
           "from a full table, or refused when every slot was writing.");
  for (std::size_t k = 0; k < kDropCount; ++k) w.sample("ringgate_admin_dropped_total", kDropLabel[k], dropped[k]);
  body += w.text();
  return body;
}

// -- AdminServer ------------------------------------------------------------------------------

AdminServer::AdminServer() = default;

AdminServer::~AdminServer() { stop(); }

Result<void> AdminServer::start(const net::SockAddr& addr, MetricsFn metrics, HealthFn health, std::string& why,
                                const AdminLimits& limits) {
  net::ListenOptions opts;
  opts.reuse_port = false;
  opts.backlog = 512;  // a burst of probes waits in the kernel, not refused, while a turn runs
  auto fd = net::open_listener(addr, opts);
  if (!fd) {
    why = "cannot listen on " + addr.to_string() + " (admin): " +
          (fd.error() == Errc::address_in_use ? "address already in use" : std::string(errc_name(fd.error())));
    return fd.error();
  }
  auto loop = std::make_unique<Loop>();
  loop->limits = limits;
  loop->metrics = std::move(metrics);
  loop->health = std::move(health);
  if (auto ok = loop->open(*fd, why); !ok) {
    loop->close_all();
    return ok.error();
  }
  auto local = net::local_address(*fd);
  bound_ = local ? *local : addr;
  loop_ = std::move(loop);
  thread_ = std::thread([loop = loop_.get()] { loop->run(); });
  return {};
}

void AdminServer::stop() {
  if (!loop_) return;
  loop_->stop.store(true, std::memory_order_release);
  const std::uint64_t one = 1;
  [[maybe_unused]] ssize_t w = ::write(loop_->wake_fd, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  loop_->close_all();
  loop_.reset();
}

}  // namespace ringgate::app
