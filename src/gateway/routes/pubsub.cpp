// /ws: the JSON pub/sub protocol (docs/protocol.md), subprotocol "ringgate.v1". A text message is
// one request, decoded (simdjson) and turned into a call on this worker's pubsub::Exchange; the
// exchange's answers come back through PubsubAnswers and go out as JSON text messages. What pub/sub
// does with the requests (owners, history, mailboxes, slow-consumer policies) is the pubsub
// module's; frames fanned out to subscribers never pass through here (the worker's Delivery
// queues them by reference).
#include "../route.hpp"
#include "ringgate/core/clock.hpp"
#include "ringgate/pubsub/codec.hpp"

namespace ringgate::gateway {
namespace {

constexpr std::string_view kPubsubProtocol[] = {"ringgate.v1"};

class PubsubRoute final : public RouteHandler, public PubsubAnswers {
 public:
  // A request is its data plus the envelope (op, id, topic): 1 KiB is room for the envelope.
  explicit PubsubRoute(const RouteContext& ctx)
      : cfg_(ctx.cfg), metrics_(ctx.metrics), ex_(*ctx.exchange), limit_(cfg_.max_publish_bytes + 1024), decoder_(limit_) {}
  bool ready() const noexcept { return decoder_.ok(); }

  std::span<const std::string_view> subprotocols() const noexcept override { return kPubsubProtocol; }
  std::uint64_t collect_limit() const noexcept override { return limit_; }
  std::string_view refuse(ws::Opcode op) const noexcept override {
    return op == ws::Opcode::binary ? "binary frames are not supported" : std::string_view();  // no binary envelope
  }
  void on_message(ConnIo& io, ws::Opcode, std::span<std::uint8_t> data) noexcept override;
  void on_oversize(ConnIo& io) noexcept override {
    send_err(io, false, 0, pubsub::ErrorCode::too_large, "message too large");
  }
  void on_close(ConnIo& io) noexcept override { ex_.detach(io.token()); }
  std::uint64_t held_bytes(std::uint64_t token) const noexcept override { return ex_.held_bytes(token); }
  PubsubAnswers* answers() noexcept override { return this; }

  void subscribed(ConnIo& io, std::uint64_t id, std::uint64_t seq) noexcept override {
    char buf[96];
    send_json(io, buf, pubsub::encode_ack_seq(buf, sizeof buf, id, seq));
  }
  void unsubscribed(ConnIo& io, std::uint64_t id) noexcept override {
    char buf[64];
    send_json(io, buf, pubsub::encode_ack(buf, sizeof buf, id));
  }
  void refused(ConnIo& io, std::uint64_t id, pubsub::ErrorCode code, std::string_view why) noexcept override {
    send_err(io, true, id, code, why);
  }
  void published(ConnIo& io, const pubsub::Delivery::PubAnswer& a) noexcept override {
    if (a.result != pubsub::PublishResult::ok) {
      send_err(io, true, a.id, pubsub::ErrorCode::unavailable, "broker unavailable");
      return;
    }
    char buf[128];
    send_json(io, buf, pubsub::encode_ack_pub(buf, sizeof buf, a.id, a.seq, a.delivered));
  }

 private:
  void publish(ConnIo& io, const pubsub::Request& req) noexcept;
  static void send_json(ConnIo& io, const char* json, std::size_t n) noexcept {
    if (n != 0) (void)io.send(ws::Opcode::text, std::span(reinterpret_cast<const std::uint8_t*>(json), n));
  }
  void send_err(ConnIo& io, bool has_id, std::uint64_t id, pubsub::ErrorCode code, std::string_view message) noexcept {
    metrics_.pubsub_errors[std::size_t(code)].add();
    char buf[512];
    send_json(io, buf, pubsub::encode_err(buf, sizeof buf, has_id, id, code, message));
  }

  const Config& cfg_;
  WorkerMetrics& metrics_;
  pubsub::Exchange& ex_;
  std::size_t limit_;
  pubsub::Decoder decoder_;
};

void PubsubRoute::on_message(ConnIo& io, ws::Opcode, std::span<std::uint8_t> data) noexcept {
  pubsub::Request req;
  pubsub::DecodeError err;
  if (!decoder_.decode(data.data(), data.size(), req, err)) {
    send_err(io, err.has_id, err.id, err.code, err.message);
    return;
  }
  switch (req.op) {
    case pubsub::Op::sub:
      ex_.subscribe(io.token(), req.topic, req.id, req.has_since, req.since);
      return;
    case pubsub::Op::unsub:
      ex_.unsubscribe(io.token(), req.topic, req.id);
      return;
    case pubsub::Op::pub:
      publish(io, req);
      return;
    case pubsub::Op::ping: {
      char buf[64];
      send_json(io, buf, pubsub::encode_ack(buf, sizeof buf, req.id));
      return;
    }
  }
}

void PubsubRoute::publish(ConnIo& io, const pubsub::Request& req) noexcept {
  if (!cfg_.client_publish) {
    send_err(io, true, req.id, pubsub::ErrorCode::forbidden, "publishing is disabled for clients");
  } else if (req.data.size() > cfg_.max_publish_bytes) {
    send_err(io, true, req.id, pubsub::ErrorCode::too_large, "data too large");
  } else if (ex_.publish(io.token(), std::string(req.topic), std::string(req.data), req.id, false, monotonic_ns())) {
    metrics_.pubsub_published_ws.add();
  } else {
    send_err(io, true, req.id, pubsub::ErrorCode::unavailable, "out of memory");
  }
}

}  // namespace

std::unique_ptr<RouteHandler> make_pubsub_route(const RouteContext& ctx) {
  auto route = std::make_unique<PubsubRoute>(ctx);
  return route->ready() ? std::move(route) : nullptr;  // (the JSON parser's memory could not be reserved)
}

}  // namespace ringgate::gateway
