// The HTTP side of a WebSocket listener: the request head is read (across receive buffers if
// need be), matched against the route table (routes/table.cpp), checked by the upgrade policy
// (upgrade_policy.hpp: one entry per check, each with its refusal reason) and answered: 101 and
// the route's on_open, a page route's response, a redirect, or a refusal with a status, a
// reason, a counter and a logged request (refusal_log.cpp).
#include <cstring>
#include <string>

#include "ringgate/gateway/worker.hpp"
#include "ringgate/http/upgrade.hpp"
#include "ringgate/ws/accept.hpp"
#include "refusal_log.hpp"
#include "route.hpp"
#include "upgrade_policy.hpp"
#include "worker_port.hpp"

namespace ringgate::gateway {
namespace {
bool match_websocket_route(void*, std::string_view path) noexcept {
  return find_route(path, RouteKind::websocket) >= 0;
}

// The 301 a redirect listener answers with: the request's Host without its port, and its path, over
// https on `port`. 0 when the request names no usable host (a missing, repeated (RFC 9112 3.2) or
// odd Host) or path: a 400 then.
std::size_t write_redirect(const http::Request& req, std::uint16_t port, char* out, std::size_t cap) noexcept {
  std::string_view host = req.header_count_of("host") == 1 ? req.header("host") : std::string_view();
  if (!host.empty() && host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  bool ok = !host.empty() && host.size() < 256 && !req.target.empty() && req.target.front() == '/';
  for (char ch : host) ok = ok && ch > 0x20 && ch < 0x7f && ch != '/' && ch != '@';
  for (char ch : req.target) ok = ok && ch > 0x20 && ch < 0x7f;
  if (!ok) return 0;
  std::string location = "Location: https://";
  location.append(host);
  if (port != 443) location += ":" + std::to_string(port);
  location.append(req.target.substr(0, 4096));
  location += "\r\n";
  return http::write_response_head(http::ResponseHead{301, {}, 0, false, location}, out, cap);
}
}  // namespace

void Worker::on_bytes(std::uint32_t index, Connection& conn, std::uint8_t* data, std::size_t len) noexcept {
  if (conn.phase == Phase::handshake) {
    if (RouteHandler* stream = route_handler(conn)) {  // (before an upgrade, only a stream route is set)
      Port port(*this, index, conn);
      stream->on_bytes(port, std::span<std::uint8_t>(data, len));
      return;
    }
    const std::size_t used = on_head_bytes(index, conn, data, len);
    if (conn.phase != Phase::open || used == len) return;
    data += used;
    len -= used;
  }
  if (conn.phase == Phase::open || conn.phase == Phase::close_sent) on_frames(index, conn, data, len);
}

std::size_t Worker::on_head_bytes(std::uint32_t index, Connection& conn, std::uint8_t* data,
                                  std::size_t len) noexcept {
  std::string_view head(reinterpret_cast<const char*>(data), len);
  if (conn.in != nullptr) {
    // Earlier bytes of the head are waiting: append (the chunk has room for one more buffer).
    Chunk* c = conn.in;
    std::size_t n = std::min<std::size_t>(len, c->room());
    std::memcpy(c->data + c->end, data, n);
    c->end += std::uint32_t(n);
    head = std::string_view(reinterpret_cast<const char*>(c->data), c->end);
  }
  http::Request req;
  const http::ParseResult r = http::parse_request_head(head, req, cfg_.max_head_bytes);
  if (r.status == http::ParseStatus::need_more) {
    if (conn.in == nullptr) {
      conn.in = chunks_.get(std::size_t(cfg_.max_head_bytes) + cfg_.recv_buffer_bytes);
      if (conn.in == nullptr) {
        teardown(index, conn);
        return len;
      }
      std::memcpy(conn.in->data, data, len);
      conn.in->end = std::uint32_t(len);
    }
    return len;
  }
  if (r.status == http::ParseStatus::error) {
    refuse(index, conn, r.reject, nullptr, head);
    return len;
  }
  if (listeners_[conn.listener].spec.kind == ListenerKind::redirect) {
    // 301 to the same host and path over https (the ELB set-up: port 80 only redirects).
    char response[4608];
    const std::size_t n = write_redirect(req, listeners_[conn.listener].spec.redirect_port, response, sizeof response);
    if (n == 0) {
      refuse(index, conn, http::Reject::malformed, &req, {});
    } else if (!conn.out.write(chunks_, response, n)) {
      teardown(index, conn);
    } else {
      metrics_.redirects.add();
      conn.phase = Phase::linger;
      wheel_.arm(conn.timer, now_ms_ + cfg_.close_timeout_ms);
      mark_dirty(index, conn);
      release_in(chunks_, conn);
    }
    return len;
  }
  if (req.method == "GET" && req.header_count_of("upgrade") == 0) {
    if (const int row = find_route(req.target, RouteKind::page); row >= 0) {
      Port port(*this, index, conn);
      routes_[std::size_t(row)]->on_request(port, req);
      release_in(chunks_, conn);
      return len;
    }
  }
  http::Upgrade up;
  http::Reject why = http::validate_upgrade(req, up, match_websocket_route, nullptr);
  const int row = why == http::Reject::none ? find_route(up.path, RouteKind::websocket) : -1;
  if (why == http::Reject::none) why = check_upgrade(policy_, UpgradeRequest{req, up, route_table()[std::size_t(row)]});
  if (why != http::Reject::none) {
    refuse(index, conn, why, &req, head.substr(0, r.head_bytes));
    return len;
  }
  accept_upgrade(index, conn, req, up, std::size_t(row));
  // Bytes after the head (a client may send its first frames at once) belong to the WebSocket.
  const std::size_t extra = head.size() - r.head_bytes;
  release_in(chunks_, conn);
  return len - std::min(extra, len);
}

void Worker::accept_upgrade(std::uint32_t index, Connection& conn, const http::Request& req, const http::Upgrade& up,
                            std::size_t row) noexcept {
  conn.route = std::uint8_t(row + 1);
  // Subprotocol: the first in the client's list (every Sec-WebSocket-Protocol line counts, RFC
  // 9110 5.3) that the route speaks; none is also a valid answer (the client decides whether it
  // can live without one).
  const std::span<const std::string_view> supported = routes_[row]->subprotocols();
  std::string_view protocol;
  if (!up.protocols.empty() && !supported.empty()) {
    protocol = http::select_subprotocol(req, supported.data(), supported.size());
  }
  // Extensions are parsed for the log and for permessage-deflate later; none is negotiated yet.
  if (!up.extensions.empty() &&
      !http::parse_extensions(req, [](void*, const http::ExtensionOffer&) noexcept {}, nullptr)) {
    RG_LOG_DEBUG("ignoring malformed Sec-WebSocket-Extensions: %.*s", int(up.extensions.size()),
                 up.extensions.data());
  }
  const std::array<char, 28> accept = ws::accept_key(up.key);
  char response[512];
  std::size_t n = http::write_switching_protocols(std::string_view(accept.data(), accept.size()), protocol,
                                                  response, sizeof response);
  if (n == 0 || !conn.out.write(chunks_, response, n)) {
    teardown(index, conn);
    return;
  }
  conn.phase = Phase::open;
  conn.since_ms = conn.last_message_ms = now32();
  arm_open_timer(index, conn);  // handshake deadline off; ping, idle and lifetime deadlines on
  metrics_.handshakes_completed.add();
  mark_dirty(index, conn);
  Port port(*this, index, conn);
  routes_[conn.route - 1u]->on_open(port);
  // Upgraded while draining: the client learns at once to reconnect (to the process taking over).
  if (draining_) send_close(index, conn, ws::close_code::going_away, "server shutting down", Phase::close_sent);
}

void Worker::refuse(std::uint32_t index, Connection& conn, http::Reject why, const http::Request* req,
                    std::string_view raw_head) noexcept {
  metrics_.handshakes_rejected[std::size_t(why)].add();
  char response[1024];
  std::size_t n = http::write_reject(why, response, sizeof response);
  if (n == 0 || !conn.out.write(chunks_, response, n)) {
    teardown(index, conn);
    return;
  }
  conn.phase = Phase::linger;
  // An HTTP/2 client reads HTTP_1_1_REQUIRED and then closes to retry over HTTP/1.1 (curl does);
  // a FIN right behind the answer makes it give up with "Empty reply" instead, so for that one
  // the peer closes first (or the close timeout does).
  if (why == http::Reject::http2_preface) conn.ending |= kNoFin;
  wheel_.arm(conn.timer, now_ms_ + cfg_.close_timeout_ms);
  mark_dirty(index, conn);
  refusals_->refusal(index, conn, why, req, raw_head);
  release_in(chunks_, conn);  // only now: the request's views may point into it
}

}  // namespace ringgate::gateway
