// The HTTP publish API (--api HOST:PORT): POST /publish with a bearer token, for backends that
// have no broker client. A stream route: it takes every byte of an --api listener. HTTP/1.1 with
// keep-alive, one request at a time per connection: bytes of a pipelined next request wait in the
// connection's stash while a publish is in flight, and reading pauses while more than limit() bytes
// wait (TCP pushes back on a client that pipelines faster than its publishes complete).
#include <cstring>
#include <string>

#include "../route.hpp"
#include "ringgate/core/clock.hpp"
#include "ringgate/http/upgrade.hpp"
#include "ringgate/pubsub/codec.hpp"

namespace ringgate::gateway {
namespace {

constexpr std::uint8_t kBusy = 1u << 0;        // a publish is in flight; later requests wait
constexpr std::uint8_t kCloseAfter = 1u << 1;  // the request in flight asked for Connection: close

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

// A refusal of the request head: its status, body and extra header (status 0: the head is fine).
struct HeadCheck {
  int status = 0;
  std::string body;
  std::string_view extra;
};

class ApiRoute final : public RouteHandler, public PubsubAnswers {
 public:
  explicit ApiRoute(const RouteContext& ctx)
      : cfg_(ctx.cfg), metrics_(ctx.metrics), ex_(*ctx.exchange), decoder_(cfg_.max_publish_bytes + 1024) {}
  bool ready() const noexcept { return decoder_.ok(); }

  void on_bytes(ConnIo& io, std::span<std::uint8_t> bytes) noexcept override {
    if (io.ended()) return;  // a response is final: the rest is discarded
    if (!io.stash(bytes, SIZE_MAX, pubsub::kPadding)) return io.abort();
    if (!(io.route_state() & kBusy)) step(io);
    flow(io);
  }
  bool idle_for_drain(ConnIo& io) noexcept override {
    return io.stashed().empty() && !(io.route_state() & kBusy);  // an idle keep-alive just closes
  }
  PubsubAnswers* answers() noexcept override { return this; }
  void published(ConnIo& io, const pubsub::Delivery::PubAnswer& a) noexcept override;

 private:
  std::size_t limit() const noexcept { return std::size_t(cfg_.max_head_bytes) + cfg_.max_publish_bytes + 1024; }
  void flow(ConnIo& io) noexcept;
  void step(ConnIo& io) noexcept;
  bool one(ConnIo& io) noexcept;
  HeadCheck check_head(const http::Request& req, std::uint64_t& length) const noexcept;
  bool publish(ConnIo& io, std::span<std::uint8_t> request, std::size_t head_bytes, std::size_t length, bool keep) noexcept;
  void respond(ConnIo& io, int status, std::string_view body, bool keep_alive, std::string_view extra = {}) noexcept;

  const Config& cfg_;
  WorkerMetrics& metrics_;
  pubsub::Exchange& ex_;
  pubsub::Decoder decoder_;
  bool stepping_ = false;
};

// Reading pauses while more than limit() bytes of requests wait, and resumes below half.
void ApiRoute::flow(ConnIo& io) noexcept {
  if (io.ended()) return;
  const std::size_t waiting = io.stashed().size();
  if (waiting > limit()) {
    io.pause_reading();
  } else if (waiting <= limit() / 2) {
    io.resume_reading();
  }
}

// Handles the requests waiting in the stash, one at a time: a publish whose owner answers at once
// (this worker owns the topic) completes inside the loop, and the next request follows.
void ApiRoute::step(ConnIo& io) noexcept {
  if (stepping_) return;  // published() inside one(): the loop below goes on
  stepping_ = true;
  while (!io.ended() && !(io.route_state() & kBusy) && one(io)) {
  }
  stepping_ = false;
}

bool ApiRoute::one(ConnIo& io) noexcept {
  const std::span<std::uint8_t> buf = io.stashed();
  if (buf.empty()) return false;
  http::Request req;
  const http::ParseResult r =
      http::parse_request_head(std::string_view(reinterpret_cast<const char*>(buf.data()), buf.size()), req,
                               cfg_.max_head_bytes);
  if (r.status == http::ParseStatus::need_more) return false;  // (the parser bounds the head itself)
  if (r.status == http::ParseStatus::error) {
    const int status = r.reject == http::Reject::head_too_large ? 431 : 400;
    respond(io, status, error_body("bad_request", "malformed request"), false);
    return false;
  }
  // "close" may be one token of several, on any of several Connection lines.
  const bool keep = req.version_minor >= 1 && !http::has_token(req, "connection", "close");
  std::uint64_t length = 0;
  if (const HeadCheck bad = check_head(req, length); bad.status != 0) {
    respond(io, bad.status, bad.body, false, bad.extra);
    return false;
  }
  if (buf.size() < r.head_bytes + length) return false;  // the body is still coming (bounded by the 413)
  return publish(io, buf, r.head_bytes, std::size_t(length), keep);
}

HeadCheck ApiRoute::check_head(const http::Request& req, std::uint64_t& length) const noexcept {
  if (req.target.substr(0, req.target.find('?')) != "/publish") return {404, error_body("not_found")};
  if (req.method != "POST") return {405, error_body("method_not_allowed"), "Allow: POST\r\n"};
  if (req.header_count_of("content-length") > 1) {
    // Two lengths are a smuggling attempt or a broken client, not a missing length (RFC 9112 6.3).
    return {400, error_body("bad_request", "more than one Content-Length")};
  }
  if (req.header_count_of("transfer-encoding") != 0 || req.header_count_of("content-length") != 1 ||
      !parse_length(req.header("content-length"), length)) {
    return {411, error_body("bad_request", "Content-Length required")};
  }
  // Exactly one Authorization line: with two, which one a proxy checked is anyone's guess.
  std::string_view auth = req.header_count_of("authorization") == 1 ? req.header("authorization") : std::string_view();
  if (!auth.starts_with("Bearer ") || !token_equal(auth.substr(7), cfg_.api_token)) {
    return {401, error_body("unauthorized"), "WWW-Authenticate: Bearer\r\n"};
  }
  if (length > cfg_.max_publish_bytes + 1024u) return {413, error_body("too_large")};
  return {};
}

// The whole request is in the stash: decode the body, take the request out, publish.
bool ApiRoute::publish(ConnIo& io, std::span<std::uint8_t> buf, std::size_t head_bytes, std::size_t length,
                       bool keep) noexcept {
  // The body ends where simdjson may read padding: save the bytes there (a pipelined request).
  std::uint8_t* body = buf.data() + head_bytes;
  const std::size_t used = head_bytes + length;
  std::uint8_t saved[pubsub::kPadding];
  const std::size_t after = buf.size() - used;
  std::memcpy(saved, body + length, std::min(after, sizeof saved));
  std::memset(body + length, ' ', pubsub::kPadding);  // the stash keeps room for the padding
  pubsub::Request pr;
  pubsub::DecodeError err;
  const bool ok = decoder_.decode_publish(body, length, pr, err);
  std::string topic, data;  // (they move into the exchange's request)
  if (ok && pr.data.size() <= cfg_.max_publish_bytes) {
    topic.assign(pr.topic);
    data.assign(pr.data);
  }
  std::memcpy(body + length, saved, std::min(after, sizeof saved));
  io.unstash(used);  // the request is consumed: what follows it moves to the front
  if (!ok || pr.data.size() > cfg_.max_publish_bytes) {
    const bool large = ok || err.code == pubsub::ErrorCode::too_large;
    respond(io, large ? 413 : 400,
            error_body(large ? "too_large" : pubsub::error_name(err.code), large ? "" : err.message), keep);
    return keep;
  }
  io.set_route_state(std::uint8_t(kBusy | (keep ? 0 : kCloseAfter)));
  if (!ex_.publish(io.token(), std::move(topic), std::move(data), 0, true, monotonic_ns())) {
    io.set_route_state(0);
    respond(io, 503, error_body("unavailable", "out of memory"), false);
    return false;
  }
  metrics_.pubsub_published_api.add();
  return true;
}

void ApiRoute::published(ConnIo& io, const pubsub::Delivery::PubAnswer& a) noexcept {
  if (io.ended()) return;
  const bool keep = !(io.route_state() & kCloseAfter);
  io.set_route_state(0);
  if (a.result != pubsub::PublishResult::ok) {
    respond(io, 503, error_body("unavailable", "broker unavailable"), keep);
  } else {
    respond(io, 200, "{\"delivered\":" + std::to_string(a.delivered) + ",\"seq\":" + std::to_string(a.seq) + "}\n", keep);
  }
  if (!keep || io.ended()) return;
  step(io);  // a pipelined request
  flow(io);
}

void ApiRoute::respond(ConnIo& io, int status, std::string_view body, bool keep_alive, std::string_view extra) noexcept {
  keep_alive = keep_alive && !io.draining();  // a draining gateway ends each connection after its answer
  char head[512];
  const std::size_t n = http::write_response_head(
      http::ResponseHead{status, "application/json", body.size(), keep_alive, extra}, head, sizeof head);
  metrics_.count_api(status);
  if (n == 0 || !io.write(std::string_view(head, n)) || !io.write(body)) return;  // (torn down)
  io.end_response(keep_alive);
}

}  // namespace

std::unique_ptr<RouteHandler> make_api_route(const RouteContext& ctx) {
  auto route = std::make_unique<ApiRoute>(ctx);
  return route->ready() ? std::move(route) : nullptr;
}

}  // namespace ringgate::gateway
