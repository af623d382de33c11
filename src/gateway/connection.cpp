// Protocol handling of one connection: the HTTP upgrade (accept or refuse with a reason), then
// WebSocket frames for the /echo route. Everything here runs on the worker thread between ring
// operations; nothing blocks and nothing is allocated per message.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include "ringgate/gateway/worker.hpp"
#include "ringgate/http/forwarded.hpp"
#include "ringgate/http/upgrade.hpp"
#include "ringgate/net/listener.hpp"
#include "ringgate/ws/accept.hpp"
#include "ringgate/ws/frame.hpp"
#include "control_sink.hpp"
#include "user_data.hpp"

namespace ringgate::gateway {
namespace {
constexpr std::size_t kHeadroom = ws::kMaxHeaderBytes;  // room for a frame header before a message
constexpr std::string_view kPubsubProtocol = "ringgate.v1";

std::uint8_t route_of(std::string_view path) noexcept {
  return path == "/echo" ? kRouteEcho : path == "/ws" ? kRouteWs : kRouteNone;
}

bool match_route(void*, std::string_view path) noexcept { return route_of(path) != kRouteNone; }

// Printable rendering of request bytes for a log line: no control characters reach the log.
net::SockAddr copy_address(const sockaddr* a) {
  net::SockAddr out;
  out.len = a->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  std::memcpy(&out.storage, a, out.len);
  return out;
}

void append_escaped(std::string& out, std::string_view s, std::size_t max) {
  for (std::size_t i = 0; i < s.size() && out.size() < max; ++i) {
    unsigned char ch = static_cast<unsigned char>(s[i]);
    if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
      out.push_back(char(ch));
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", ch);
      out.append(buf);
    }
  }
}
}  // namespace

// Receives the parser's events for the /echo route.
struct EchoSink : ControlSink {
  static constexpr std::uint64_t kCopyMessageBytes = 4096;  // assembled messages up to this are copied

  void on_data(ws::Opcode op, std::span<std::uint8_t> chunk, bool message_end) noexcept {
    if (conn.phase != Phase::open || failed) return;  // after our close: data is ignored
    if (conn.in == nullptr && message_end) {
      // The whole message is in this receive buffer: one copy, straight into the output.
      std::uint8_t* p = conn.out.reserve(w.chunks_, kHeadroom + chunk.size());
      if (p == nullptr) return fail();
      std::size_t h = ws::write_header(p, op, true, chunk.size());
      std::memcpy(p + h, chunk.data(), chunk.size());
      conn.out.commit(h + chunk.size());
      count_echo();
      return;
    }
    // A message spanning buffers (or frames) is assembled in a chunk with room for its header in
    // front, and that chunk itself is queued when the message ends, unless the message is small:
    // then it is copied into the queue's tail, so a flood of small fragmented messages shares
    // chunks like any small writes instead of pinning a chunk per message.
    if (conn.in == nullptr) {
      conn.in = w.chunks_.get(kHeadroom + chunk.size());
      if (conn.in == nullptr) return fail();
      conn.in->begin = conn.in->end = kHeadroom;
    }
    Chunk* c = w.chunks_.grow(conn.in, std::size_t(conn.in->end) + chunk.size());
    if (c == nullptr) return fail();
    conn.in = c;
    std::memcpy(c->data + c->end, chunk.data(), chunk.size());
    c->end += std::uint32_t(chunk.size());
    if (!message_end) return;
    const std::uint64_t len = c->end - kHeadroom;
    conn.in = nullptr;
    if (len <= kCopyMessageBytes) {
      std::uint8_t* p = conn.out.reserve(w.chunks_, kHeadroom + len);
      if (p == nullptr) {
        w.chunks_.put(c);
        return fail();
      }
      const std::size_t h = ws::write_header(p, op, true, len);
      std::memcpy(p + h, c->data + kHeadroom, len);
      conn.out.commit(h + len);
      w.chunks_.put(c);
    } else {
      std::uint8_t header[ws::kMaxHeaderBytes];
      const std::size_t h = ws::write_header(header, op, true, len);
      c->begin = std::uint32_t(kHeadroom - h);
      std::memcpy(c->data + c->begin, header, h);
      conn.out.append(c);
    }
    count_echo();
  }

  void count_echo() noexcept {
    conn.last_message_ms = w.now32();  // idle timeout: a message went each way
    w.metrics_.messages_received.add();
    w.metrics_.messages_sent.add();
    w.mark_dirty(index, conn);
  }
};

void Worker::release_in(Connection& conn) noexcept {
  if (conn.in != nullptr) {
    chunks_.put(conn.in);
    conn.in = nullptr;
  }
}

void Worker::on_bytes(std::uint32_t index, Connection& conn, std::uint8_t* data, std::size_t len) noexcept {
  if (listeners_[conn.listener].spec.kind == ListenerKind::api) {
    api_input(index, conn, data, len);
    return;
  }
  if (conn.phase == Phase::handshake) {
    std::size_t used = on_head_bytes(index, conn, data, len);
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
    refuse_redirect(index, conn, req);
    return len;
  }
  if ((req.target == "/" || req.target == "/index.html") && req.method == "GET" &&
      req.header_count_of("upgrade") == 0) {
    serve_demo_page(index, conn);
    return len;
  }
  http::Upgrade up;
  const http::Reject why = http::validate_upgrade(req, up, match_route, nullptr);
  if (why != http::Reject::none) {
    refuse(index, conn, why, &req, head.substr(0, r.head_bytes));
    return len;
  }
  conn.route = route_of(up.path);
  // Subprotocol hook: the first protocol in the client's list that the route supports; none is
  // also a valid answer (the client decides whether it can live without one).
  std::string_view protocol;
  // Every Sec-WebSocket-Protocol line counts: the lines form one list (RFC 9110 5.3).
  if (conn.route == kRouteWs) {
    if (!up.protocols.empty()) protocol = http::select_subprotocol(req, &kPubsubProtocol, 1);
  } else if (!up.protocols.empty() && !subprotocols_.empty()) {
    protocol = http::select_subprotocol(req, subprotocols_.data(), subprotocols_.size());
  }
  // Extensions are parsed for the log and for permessage-deflate later; none is negotiated yet.
  if (!up.extensions.empty() &&
      !http::parse_extensions(req, [](void*, const http::ExtensionOffer&) noexcept {}, nullptr)) {
    RG_LOG_DEBUG("ignoring malformed Sec-WebSocket-Extensions: %.*s", int(up.extensions.size()),
                 up.extensions.data());
  }
  accept_upgrade(index, conn, up.key, protocol);
  // Bytes after the head (a client may send its first frames at once) belong to the WebSocket.
  const std::size_t extra = head.size() - r.head_bytes;
  release_in(conn);
  return len - std::min(extra, len);
}

void Worker::accept_upgrade(std::uint32_t index, Connection& conn, std::string_view key,
                            std::string_view protocol) noexcept {
  const std::array<char, 28> accept = ws::accept_key(key);
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
  if (why == http::Reject::http2_preface) conn.flags3 |= kNoFin;
  wheel_.arm(conn.timer, now_ms_ + cfg_.close_timeout_ms);
  mark_dirty(index, conn);
  log_refusal(index, conn, why, req, raw_head);
  release_in(conn);  // only now: the request's views may point into it
}

void Worker::refuse_redirect(std::uint32_t index, Connection& conn, const http::Request& req) noexcept {
  // 301 to the same host and path over https (the ELB set-up: port 80 only redirects). The host is
  // the request's Host without its port; a missing, repeated (RFC 9112 3.2) or odd Host is a 400.
  std::string_view host = req.header_count_of("host") == 1 ? req.header("host") : std::string_view();
  if (!host.empty() && host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  bool ok = !host.empty() && host.size() < 256 && !req.target.empty() && req.target.front() == '/';
  for (char ch : host) ok = ok && ch > 0x20 && ch < 0x7f && ch != '/' && ch != '@';
  for (char ch : req.target) ok = ok && ch > 0x20 && ch < 0x7f;
  if (!ok) {
    refuse(index, conn, http::Reject::malformed, &req, {});
    return;
  }
  const std::uint16_t port = listeners_[conn.listener].spec.redirect_port;
  std::string response = "HTTP/1.1 301 Moved Permanently\r\nLocation: https://";
  response.append(host);
  if (port != 443) response += ":" + std::to_string(port);
  response.append(req.target.substr(0, 4096));
  response += "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  if (!conn.out.write(chunks_, response.data(), response.size())) {
    teardown(index, conn);
    return;
  }
  metrics_.redirects.add();
  conn.phase = Phase::linger;
  wheel_.arm(conn.timer, now_ms_ + cfg_.close_timeout_ms);
  mark_dirty(index, conn);
  release_in(conn);
}

void Worker::log_refusal(std::uint32_t index, Connection& conn, http::Reject why, const http::Request* req,
                         std::string_view raw_head) noexcept {
  if (!refusal_log_.allow(now_ms_ / 1000)) return;
  // "handshake refused: reason=.. status=.. peer=.. [client=.. forwarded_for=..] method=.. target=..
  // headers=..": the peer goes in last because a direct descriptor needs a ring round trip for it.
  std::string head = "handshake refused: reason=";
  head += http::reject_name(why);
  head += " status=" + std::to_string(http::reject_status(why));
  std::string rest = " method=";
  if (req != nullptr) {
    append_escaped(rest, req->method, 2048);
    rest += " target=";
    append_escaped(rest, req->target, 2048);
    rest += " headers=\"";
    for (std::size_t i = 0; i < req->header_count; ++i) {
      if (i != 0) rest += " | ";
      append_escaped(rest, req->headers[i].name, 3500);
      rest += ": ";
      append_escaped(rest, req->headers[i].value, 3500);
    }
    rest += "\"";
  } else {
    rest += "? target=? raw=\"";
    append_escaped(rest, raw_head.substr(0, 512), 3500);
    rest += "\"";
  }
  // X-Forwarded-For, every line of it: the client is read from the right end (a client's own
  // value stays on the left), and both are logged only if the peer turns out to be a trusted proxy.
  std::string forwarded;
  if (req != nullptr) {
    std::string chain;
    if (http::append_field_lines(*req, "x-forwarded-for", chain) != 0) {
      const std::string_view client = http::forwarded_client(*req, cfg_.trusted_proxies);
      if (!client.empty()) {
        forwarded = " client=";
        append_escaped(forwarded, client, 64);
      }
      forwarded += " forwarded_for=\"";
      append_escaped(forwarded, chain, 1024);
      forwarded += "\"";
    }
  }
  log_with_peer(index, conn, PendingLog{0, index, std::move(head), std::move(rest), std::move(forwarded)}, nullptr);
}

void Worker::log_proxy_refusal(std::uint32_t index, Connection& conn, ProxyResult why, const sockaddr* peer) noexcept {
  if (!refusal_log_.allow(now_ms_ / 1000)) return;
  std::string head = "proxy header refused: reason=";
  head += proxy_result_name(why);
  log_with_peer(index, conn, PendingLog{0, index, std::move(head), {}, {}}, peer);
}

// Finishes a refusal line with "peer=<TCP peer>". A direct descriptor has no getpeername(): an
// ordinary descriptor is made for it on the ring, and until it is back the connection neither
// sends its answer nor closes, so the peer (a proxy waiting for our answer) is still connected to
// be named. (Looking it up after the answer lost the race to proxies that close at once.)
void Worker::log_with_peer(std::uint32_t index, Connection& conn, PendingLog line, const sockaddr* known) noexcept {
  if (std::uint64_t s = refusal_log_.take_suppressed(); s != 0) {
    metrics_.refusal_logs_suppressed.add(s);
    line.rest += " (" + std::to_string(s) + " earlier refusals not logged)";
  }
  if (conn.ext != nullptr && conn.ext->client.ss_family != 0) {
    // The client address a trusted proxy reported (PROXY protocol) is the peer that matters.
    const net::SockAddr client = copy_address(reinterpret_cast<const sockaddr*>(&conn.ext->client));
    RG_LOG_WARN("%s peer=%s via=proxy%s%s%s", line.head.c_str(), client.to_string().c_str(),
                conn.ext->proxy_tlvs.c_str(), line.forwarded.c_str(), line.rest.c_str());
    return;
  }
  if (known != nullptr) return finish_log(line, copy_address(known));
  if (!ring_.direct()) {
    auto a = net::peer_address(conn.fd);
    return finish_log(line, a ? std::optional<net::SockAddr>(*a) : std::nullopt);
  }
  line.ud = ud(kFdInstall, index);
  if (!ring_.fd_install(conn.fd, line.ud)) return finish_log(line, std::nullopt);
  conn.flags3 |= kLogPending;
  pending_logs_.push_back(std::move(line));
}

void Worker::finish_log(const PendingLog& line, const std::optional<net::SockAddr>& peer) noexcept {
  // X-Forwarded-For names the client only when the peer is a proxy we trust.
  const bool trusted = peer && cfg_.trusted_proxies.contains(peer->sa());
  RG_LOG_WARN("%s peer=%s%s%s", line.head.c_str(), peer ? peer->to_string().c_str() : "unknown",
              trusted ? line.forwarded.c_str() : "", line.rest.c_str());
}

void Worker::on_fd_installed(std::uint64_t token, std::int32_t res) noexcept {
  for (std::size_t i = 0; i < pending_logs_.size(); ++i) {
    if (pending_logs_[i].ud != token) continue;
    std::optional<net::SockAddr> peer;
    if (res >= 0) {
      if (auto a = net::peer_address(res)) peer = *a;
      ::close(res);
    }
    finish_log(pending_logs_[i], peer);
    const std::uint32_t index = pending_logs_[i].index;
    pending_logs_[i] = std::move(pending_logs_.back());
    pending_logs_.pop_back();
    if (Connection* conn = conns_.get_masked(index, gen_of(token), kGenMask)) {
      conn->flags3 &= std::uint8_t(~kLogPending);
      if (conn->phase == Phase::teardown) {
        close_if_deferred(index, *conn);
      } else {
        mark_dirty(index, *conn);  // the answer waited for the line
      }
    }
    return;
  }
  if (res >= 0) ::close(res);
}

void Worker::on_frames(std::uint32_t index, Connection& conn, std::uint8_t* data, std::size_t len) noexcept {
  if (conn.route == kRouteWs) {
    on_ws_frames(index, conn, data, len);
    return;
  }
  EchoSink sink{{*this, index, conn}};
  ws::Limits limits;
  limits.max_message_bytes = cfg_.max_message_bytes;
  const std::uint32_t gen = conns_.generation(index);
  const ws::FeedResult r = conn.parser.feed(data, len, sink, limits);
  after_feed(index, conn, gen, r, sink);
}

// What every route does after its sink has seen a batch of frames: close on a failure (ours, the
// route's refusal, or the peer's protocol error) and pause reading a peer that does not read.
void Worker::after_feed(std::uint32_t index, Connection& conn, std::uint32_t gen, const ws::FeedResult& r,
                        const ControlSink& sink) noexcept {
  if (conns_.generation(index) != gen || conn.phase == Phase::teardown) return;  // a handler tore it down
  if (sink.failed) {
    release_in(conn);
    send_close(index, conn, ws::close_code::internal_error, "out of memory", Phase::linger);
    return;
  }
  if (sink.close_code != 0 && conn.phase == Phase::open) {
    release_in(conn);
    send_close(index, conn, sink.close_code, sink.close_reason, Phase::linger);
    return;
  }
  if (r.close_code != 0 && conn.phase != Phase::finish) {
    // The peer broke the protocol: say why in a close frame, then shut down and drain.
    release_in(conn);
    send_close(index, conn, r.close_code, r.reason, Phase::linger);
    return;
  }
  if (held_bytes(index, conn) > cfg_.max_outbound_bytes && !(conn.flags & kPaused) && conn.phase == Phase::open) {
    // The peer sends (requests) faster than it reads, or than its publishes are answered: stop
    // reading until its queue drains (maybe_resume).
    metrics_.backpressure_pauses.add();
    conn.flags |= kPaused;
    if (conn.flags & kRecvArmed) (void)ring_.cancel(ud(kRecv, index), ud(kCancel, index));
  }
}

void Worker::send_close(std::uint32_t index, Connection& conn, std::uint16_t code, std::string_view reason,
                        Phase next) noexcept {
  std::uint8_t payload[ws::kMaxControlPayload];
  std::size_t n = code == ws::close_code::no_status ? 0 : ws::write_close_payload(payload, code, reason);
  std::uint8_t* p = conn.out.reserve(chunks_, kHeadroom + n);
  if (p == nullptr) {
    teardown(index, conn);
    return;
  }
  std::size_t h = ws::write_header(p, ws::Opcode::close, true, n);
  std::memcpy(p + h, payload, n);
  conn.out.commit(h + n);
  conn.close_code = code;
  conn.phase = next;
  // From now on the only deadline is the close: a heartbeat armed earlier must not cut a
  // connection that is finishing its close handshake.
  wheel_.arm(conn.timer, now_ms_ + cfg_.close_timeout_ms);
  mark_dirty(index, conn);
}

void Worker::on_peer_gone(std::uint32_t index, Connection& conn) noexcept {
  if (conn.phase == Phase::open) conn.close_code = ws::close_code::abnormal;
  teardown(index, conn);
}

}  // namespace ringgate::gateway
