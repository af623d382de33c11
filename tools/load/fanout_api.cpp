// HTTP publishers of the fanout mode (see fanout_api.hpp).
#include "fanout_api.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "fanout_proto.hpp"
#include "fanout_scenario.hpp"

namespace ringgate::load {

namespace {
constexpr std::uint64_t kMaxPerTurn = 4096;
}

void ApiPublisher::start() {
  thread_ = std::thread([this] { run(); });
}

void ApiPublisher::join() {
  if (thread_.joinable()) thread_.join();
}

void ApiPublisher::note_error(std::string why) {
  if (first_error_.empty()) first_error_ = std::move(why);
}

bool ApiPublisher::connect_all() {
  conns_.resize(o_.publishers);
  for (std::uint32_t p = 0; p < o_.publishers; ++p) {
    Conn& c = conns_[p];
    c.p = p;
    c.fd = ::socket(o_.api_target.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c.fd < 0 || ::connect(c.fd, o_.api_target.sa(), o_.api_target.len) != 0) {
      note_error("api connect to " + o_.api_host_header + ": " + std::strerror(errno));
      if (c.fd >= 0) ::close(c.fd);
      c.fd = -1;
      return false;
    }
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    connected.fetch_add(1, std::memory_order_relaxed);
  }
  return true;
}

void ApiPublisher::append_request(Conn& c) {
  PubFields f;
  f.publisher = c.p;
  f.n = c.sent;
  f.id = c.sent + 1;
  f.topic = std::uint32_t((c.sent * o_.publishers + c.p) % o_.topics);
  f.t_ns = now_ns();
  f.size = o_.size;
  char body_buf[kPubOverhead + 4096];
  std::string big;
  std::size_t n = pub_size(f, false);
  char* body = body_buf;
  if (n > sizeof body_buf) {
    big.resize(n);
    body = big.data();
  }
  write_pub(body, f, false);
  c.out += "POST /publish HTTP/1.1\r\nHost: " + o_.api_host_header + "\r\nAuthorization: Bearer " + o_.api_token +
           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(n) + "\r\n\r\n";
  c.out.append(body, n);
  c.topics.push_back({f.topic, f.t_ns});
  ++c.sent;
  published.fetch_add(1, std::memory_order_relaxed);
}

void ApiPublisher::send_due(std::uint64_t now) {
  Phase phase = shared_.phase.load(std::memory_order_acquire);
  if (phase != Phase::warmup && phase != Phase::measure) return;
  if (o_.burst > 0) {
    if (phase != Phase::measure || burst_done_ || conns_.empty() || conns_[0].fd < 0) return;
    burst_done_ = true;
    for (std::uint32_t i = 0; i < o_.burst; ++i) append_request(conns_[0]);
    return;
  }
  std::uint64_t start = shared_.publish_ns.load(std::memory_order_relaxed);
  if (start == 0 || now < start) return;
  auto due = std::uint64_t(double(now - start) / 1e9 * (o_.pub_rate / double(o_.publishers)));
  for (Conn& c : conns_) {
    std::uint64_t budget = kMaxPerTurn;
    while (c.fd >= 0 && c.sent < due && budget-- > 0) append_request(c);
  }
}

void ApiPublisher::lost(Conn& c, const char* why) {
  if (!c.topics.empty()) {
    errors.fetch_add(c.topics.size(), std::memory_order_relaxed);
    note_error(std::string("api connection ") + why + " with " + std::to_string(c.topics.size()) +
               " request(s) unanswered");
  }
  c.topics.clear();
  ::close(c.fd);
  c.fd = -1;
}

void ApiPublisher::on_readable(Conn& c) {
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n > 0) {
      c.in.append(buf, std::size_t(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    lost(c, n == 0 ? "closed" : "failed");
    return;
  }
  bool ok = parse_responses(c.in, [&](int status, std::string_view body) {
    if (c.topics.empty()) {
      errors.fetch_add(1, std::memory_order_relaxed);
      note_error("api: a response nobody asked for");
      return;
    }
    const Conn::Sent sent = c.topics.front();
    const std::uint32_t topic = sent.topic;
    c.topics.pop_front();
    std::string_view v;
    std::uint64_t seq = 0;
    if (status == 200 && json_field(body, "seq", v) && json_u64(v, seq)) {
      if (seq != 0) {
        acked_[topic].push_back(seq);
      } else {
        unnumbered_[topic].push_back(sent.t_ns);  // acked, number unknown: judged by count
      }
      acked.fetch_add(1, std::memory_order_relaxed);
      expected.fetch_add(FanoutScenario::subscribers_of(topic, o_.subscribers, o_.topics), std::memory_order_relaxed);
      return;
    }
    errors.fetch_add(1, std::memory_order_relaxed);
    note_error("api: HTTP " + std::to_string(status) + " " + std::string(body.substr(0, 200)));
  });
  if (!ok) lost(c, "sent a malformed response");
}

void ApiPublisher::run() {
  acked_.assign(o_.topics, {});
  unnumbered_.assign(o_.topics, {});
  if (!connect_all()) {
    for (Conn& c : conns_) {
      if (c.fd >= 0) ::close(c.fd);
      c.fd = -1;
    }
    errors.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::vector<pollfd> fds(conns_.size());
  while (!shared_.stop.load(std::memory_order_relaxed) &&
         shared_.phase.load(std::memory_order_acquire) < Phase::closing) {
    send_due(now_ns());
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      Conn& c = conns_[i];
      while (c.fd >= 0 && !c.out.empty()) {  // write what the socket takes now
        ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
        if (n > 0) {
          c.out.erase(0, std::size_t(n));
        } else {
          if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) lost(c, "failed on send");
          break;
        }
      }
      fds[i].fd = c.fd;
      fds[i].events = short(POLLIN | (c.out.empty() ? 0 : POLLOUT));
      fds[i].revents = 0;
    }
    ::poll(fds.data(), fds.size(), 1);
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      if (conns_[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR))) on_readable(conns_[i]);
    }
  }
  for (Conn& c : conns_) {
    if (c.fd < 0) continue;
    if (!c.topics.empty()) {
      errors.fetch_add(c.topics.size(), std::memory_order_relaxed);
      note_error("api: " + std::to_string(c.topics.size()) + " request(s) unanswered at the end");
    }
    ::close(c.fd);
    c.fd = -1;
  }
}

}  // namespace ringgate::load
