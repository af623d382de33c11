#include "ringgate/app/admin.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>

#include "ringgate/core/log.hpp"
#include "ringgate/http/request.hpp"
#include "ringgate/http/upgrade.hpp"

namespace ringgate::app {

AdminServer::~AdminServer() { stop(); }

Result<void> AdminServer::start(const net::SockAddr& addr, MetricsFn metrics, HealthFn health, std::string& why) {
  net::ListenOptions opts;
  opts.reuse_port = false;
  opts.backlog = 64;
  auto fd = net::open_listener(addr, opts);
  if (!fd) {
    why = "cannot listen on " + addr.to_string() + " (admin): " +
          (fd.error() == Errc::address_in_use ? "address already in use" : std::string(errc_name(fd.error())));
    return fd.error();
  }
  fd_ = *fd;
  auto local = net::local_address(fd_);
  bound_ = local ? *local : addr;
  metrics_ = std::move(metrics);
  health_ = std::move(health);
  thread_ = std::thread([this] { serve(); });
  return {};
}

void AdminServer::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

void AdminServer::serve() noexcept {
  while (!stop_.load()) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    timeval tv{2, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    handle(c);
    ::close(c);
  }
}

void AdminServer::handle(int fd) noexcept {
  char buf[8192];
  std::size_t have = 0;
  http::Request req;
  http::ParseResult r{http::ParseStatus::need_more, 0, http::Reject::none};
  while (r.status == http::ParseStatus::need_more && have < sizeof buf) {
    ssize_t n = ::recv(fd, buf + have, sizeof buf - have, 0);
    if (n <= 0) return;
    have += std::size_t(n);
    r = http::parse_request_head(std::string_view(buf, have), req, sizeof buf);
  }
  std::string body;
  int status = 200;
  std::string_view type = "text/plain; charset=utf-8";
  if (r.status != http::ParseStatus::done) {
    status = 400;
    body = "malformed request\n";
  } else if (req.method != "GET" && req.method != "HEAD") {
    status = 405;
    body = "admin endpoints answer GET\n";
  } else if (req.target == "/metrics") {
    body = metrics_();
    type = "text/plain; version=0.0.4; charset=utf-8";
  } else if (req.target == "/healthz") {
    bool ok = health_();
    status = ok ? 200 : 503;
    body = ok ? "ok\n" : "draining\n";
  } else {
    status = 404;
    body = "not found: try /metrics or /healthz\n";
  }
  std::string out(body.size() + 512, '\0');
  std::size_t n = http::write_response(status, type, body, out.data(), out.size());
  if (req.method == "HEAD") n -= body.size();
  std::size_t off = 0;
  while (off < n) {
    ssize_t w = ::send(fd, out.data() + off, n - off, MSG_NOSIGNAL);
    if (w <= 0) return;
    off += std::size_t(w);
  }
}

}  // namespace ringgate::app
