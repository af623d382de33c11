// The HTTP publish API (--api HOST:PORT): POST /publish with a bearer token, for backends that
// have no broker client. HTTP/1.1 with keep-alive, one request at a time per connection (bytes of
// a pipelined next request wait in the connection's input chunk while a publish is in flight).
// Also the demo page that the WebSocket listeners serve at GET /.
#include <cstring>
#include <string>

#include "pubsub_route.hpp"
#include "ringgate/core/clock.hpp"
#include "ringgate/gateway/worker.hpp"
#include "ringgate/http/request.hpp"
#include "ringgate/http/upgrade.hpp"
#include "user_data.hpp"

namespace ringgate::gateway {
namespace {

std::string_view status_text(int status) noexcept {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

// Constant time in the token's length: the comparison does not reveal where they differ.
bool token_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

bool parse_length(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty() || s.size() > 12) return false;
  out = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + std::uint64_t(c - '0');
  }
  return true;
}

std::string error_body(std::string_view code, std::string_view message = {}) {
  std::string b = "{\"error\":\"";
  b.append(code);
  b += '"';
  if (!message.empty()) {
    b += ",\"message\":\"";
    b.append(message);  // static texts without quotes or backslashes
    b += '"';
  }
  b += "}\n";
  return b;
}

}  // namespace

void Worker::api_input(std::uint32_t index, Connection& conn, std::uint8_t* data, std::size_t len) noexcept {
  if (conn.phase != Phase::handshake) return;  // a response is final: the rest is discarded
  // Bytes are collected in conn.in (requests + simdjson padding). A client that pipelines faster
  // than its publishes complete is paused (TCP pushes back) rather than buffered without bound.
  const std::size_t have = conn.in != nullptr ? conn.in->end : 0;
  Chunk* c = conn.in != nullptr ? chunks_.grow(conn.in, have + len + pubsub::kPadding)
                                : chunks_.get(len + pubsub::kPadding);
  if (c == nullptr) {
    teardown(index, conn);
    return;
  }
  conn.in = c;
  std::memcpy(c->data + c->end, data, len);
  c->end += std::uint32_t(len);
  if (!(conn.flags3 & kApiBusy)) api_step(index, conn);
  api_flow(index, conn);
}

// Reading pauses while more than api_limit() bytes of requests wait, and resumes below half.
void Worker::api_flow(std::uint32_t index, Connection& conn) noexcept {
  if (conn.phase != Phase::handshake) return;
  const std::size_t waiting = conn.in != nullptr ? conn.in->end : 0;
  if (!(conn.flags & kPaused) && waiting > api_limit()) {
    conn.flags |= kPaused;
    if (conn.flags & kRecvArmed) (void)ring_.cancel(ud(kRecv, index), ud(kCancel, index));
  } else if ((conn.flags & kPaused) && waiting <= api_limit() / 2) {
    conn.flags &= std::uint8_t(~kPaused);
    if (!(conn.flags & kRecvArmed)) arm_recv(index, conn);
  }
}

std::size_t Worker::api_limit() const noexcept {
  return std::size_t(cfg_.max_head_bytes) + cfg_.max_publish_bytes + 1024;
}

// Handles the requests waiting in conn.in, one at a time: a publish whose owner answers at once
// (this worker owns the topic) completes inside the loop, and the next request follows.
void Worker::api_step(std::uint32_t index, Connection& conn) noexcept {
  if (api_stepping_) return;  // api_done() inside api_one(): the loop below goes on
  api_stepping_ = true;
  const std::uint32_t gen = conns_.generation(index);
  while (conns_.generation(index) == gen && conn.phase == Phase::handshake && !(conn.flags3 & kApiBusy) &&
         api_one(index, conn)) {
  }
  api_stepping_ = false;
}

bool Worker::api_one(std::uint32_t index, Connection& conn) noexcept {
  Chunk* c = conn.in;
  if (c == nullptr || c->end == 0) return false;
  std::string_view buf(reinterpret_cast<const char*>(c->data), c->end);
  http::Request req;
  const http::ParseResult r = http::parse_request_head(buf, req, cfg_.max_head_bytes);
  if (r.status == http::ParseStatus::need_more) return false;  // (the parser bounds the head itself)
  if (r.status == http::ParseStatus::error) {
    const int status = r.reject == http::Reject::head_too_large ? 431 : 400;
    api_respond(index, conn, status, error_body("bad_request", "malformed request"), false);
    return false;
  }
  // "close" may be one token of several, on any of several Connection lines.
  const bool keep = req.version_minor >= 1 && !http::has_token(req, "connection", "close");
  std::string_view path = req.target.substr(0, req.target.find('?'));
  if (path != "/publish") {
    api_respond(index, conn, 404, error_body("not_found"), false);
    return false;
  }
  if (req.method != "POST") {
    api_respond(index, conn, 405, error_body("method_not_allowed"), false, "Allow: POST\r\n");
    return false;
  }
  std::uint64_t length = 0;
  if (req.header_count_of("content-length") > 1) {
    // Two lengths are a smuggling attempt or a broken client, not a missing length (RFC 9112 6.3).
    api_respond(index, conn, 400, error_body("bad_request", "more than one Content-Length"), false);
    return false;
  }
  if (req.header_count_of("transfer-encoding") != 0 || req.header_count_of("content-length") != 1 ||
      !parse_length(req.header("content-length"), length)) {
    api_respond(index, conn, 411, error_body("bad_request", "Content-Length required"), false);
    return false;
  }
  // Exactly one Authorization line: with two, which one a proxy checked is anyone's guess.
  std::string_view auth = req.header_count_of("authorization") == 1 ? req.header("authorization") : std::string_view();
  if (!auth.starts_with("Bearer ") || !token_equal(auth.substr(7), cfg_.api_token)) {
    api_respond(index, conn, 401, error_body("unauthorized"), false, "WWW-Authenticate: Bearer\r\n");
    return false;
  }
  if (length > cfg_.max_publish_bytes + 1024u) {
    api_respond(index, conn, 413, error_body("too_large"), false);
    return false;
  }
  if (c->end < r.head_bytes + length) return false;  // the body is still coming (bounded by the 413 above)
  // The body ends where simdjson may read padding: save the bytes there (a pipelined request).
  std::uint8_t* body = c->data + r.head_bytes;
  const std::size_t used = r.head_bytes + std::size_t(length);
  std::uint8_t saved[pubsub::kPadding];
  const std::size_t after = c->end - used;
  std::memcpy(saved, body + length, std::min(after, sizeof saved));
  std::memset(body + length, ' ', pubsub::kPadding);  // cap has room: grow() reserved the padding
  pubsub::Request pr;
  pubsub::DecodeError err;
  const bool ok = ps_->decoder.decode_publish(body, std::size_t(length), pr, err);
  std::string topic, data;  // (they move into the exchange's request)
  if (ok && pr.data.size() <= cfg_.max_publish_bytes) {
    topic.assign(pr.topic);
    data.assign(pr.data);
  }
  std::memcpy(body + length, saved, std::min(after, sizeof saved));
  // The request is consumed: what follows it moves to the front.
  std::memmove(c->data, c->data + used, after);
  c->end = std::uint32_t(after);
  if (!ok || pr.data.size() > cfg_.max_publish_bytes) {
    const bool large = ok || err.code == pubsub::ErrorCode::too_large;
    api_respond(index, conn, large ? 413 : 400,
                error_body(large ? "too_large" : pubsub::error_name(err.code), large ? "" : err.message), keep);
    return keep;
  }
  conn.flags3 |= kApiBusy;
  if (!keep) conn.flags3 |= kOversize;  // reused here: close after this response
  if (!ps_->ex.publish(conn_token(index), std::move(topic), std::move(data), 0, true, monotonic_ns())) {
    conn.flags3 &= std::uint8_t(~(kApiBusy | kOversize));
    api_respond(index, conn, 503, error_body("unavailable", "out of memory"), false);
    return false;
  }
  metrics_.pubsub_published_api.add();
  return true;
}

void Worker::api_done(const pubsub::Delivery::PubAnswer& r) noexcept {
  std::uint32_t index;
  Connection* conn = conn_of(r.token, index);
  if (conn == nullptr || conn->phase != Phase::handshake) return;
  conn->flags3 &= std::uint8_t(~kApiBusy);
  const bool keep = !(conn->flags3 & kOversize);
  conn->flags3 &= std::uint8_t(~kOversize);
  if (r.result != pubsub::PublishResult::ok) {
    api_respond(index, *conn, 503, error_body("unavailable", "broker unavailable"), keep);
  } else {
    std::string body = "{\"delivered\":" + std::to_string(r.delivered) + ",\"seq\":" + std::to_string(r.seq) + "}\n";
    api_respond(index, *conn, 200, body, keep);
  }
  if (!keep || conn->phase != Phase::handshake) return;
  api_step(index, *conn);  // a pipelined request
  api_flow(index, *conn);
}

void Worker::api_respond(std::uint32_t index, Connection& conn, int status, std::string_view body, bool keep_alive,
                         std::string_view extra_headers) noexcept {
  keep_alive = keep_alive && !draining_;  // a draining gateway ends each connection after its answer
  std::string head = "HTTP/1.1 " + std::to_string(status) + " ";
  head.append(status_text(status));
  head += "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  head.append(extra_headers);
  head += keep_alive ? "\r\n" : "Connection: close\r\n\r\n";
  head.append(body);
  metrics_.count_api(status);
  if (!conn.out.write(chunks_, head.data(), head.size())) {
    teardown(index, conn);
    return;
  }
  mark_dirty(index, conn);
  if (keep_alive) {
    wheel_.arm(conn.timer, now_ms_ + cfg_.handshake_timeout_ms);  // the keep-alive idle deadline
    return;
  }
  release_in(conn);
  conn.phase = Phase::linger;
  wheel_.arm(conn.timer, now_ms_ + cfg_.close_timeout_ms);
}

}  // namespace ringgate::gateway
