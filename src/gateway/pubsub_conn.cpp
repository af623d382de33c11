// The /ws route: the JSON client protocol (docs/protocol.md) on one connection, turned into
// Exchange requests, and the Delivery the exchange calls back (pubsub_route.hpp). What pub/sub
// does with the requests (owners, history, mailboxes, slow-consumer policies) is the pubsub
// module's; this file knows connections, send queues and the 4100 close.
#include <cstring>

#include "control_sink.hpp"
#include "pubsub_route.hpp"
#include "transport/transport.hpp"
#include "ringgate/core/clock.hpp"
#include "ringgate/ws/frame.hpp"
#include "user_data.hpp"

namespace ringgate::gateway {
namespace {
constexpr std::size_t kHeadroom = ws::kMaxHeaderBytes;
constexpr std::uint16_t kCloseSlowConsumer = 4100;
}  // namespace

// Receives the parser's events for the /ws route: text messages are requests.
struct PubSink : ControlSink {
  void on_data(ws::Opcode op, std::span<std::uint8_t> chunk, bool message_end) noexcept {
    if (conn.phase != Phase::open || failed || close_code != 0) return;
    if (op == ws::Opcode::binary) {
      close_code = ws::close_code::unsupported_data;  // no binary envelope: refused (docs/protocol.md)
      close_reason = "binary frames are not supported";
      return;
    }
    const std::size_t limit = w.ps_->decoder_limit;
    if (conn.in == nullptr && message_end && !(conn.flags3 & kOversize)) {
      // The whole request is in this receive buffer, whose padding simdjson may read.
      w.metrics_.messages_received.add();
      w.on_request(index, conn, chunk.data(), chunk.size());
      return;
    }
    if (!(conn.flags3 & kOversize)) {
      const std::size_t have = conn.in != nullptr ? conn.in->end : 0;
      if (have + chunk.size() > limit) {
        // Too large to be a request: stop collecting, answer once the message ends.
        w.release_in(conn);
        conn.flags3 |= kOversize;
      } else {
        if (conn.in == nullptr) {
          conn.in = w.chunks_.get(chunk.size() + pubsub::kPadding);
          if (conn.in == nullptr) return fail();
        }
        Chunk* c = w.chunks_.grow(conn.in, std::size_t(conn.in->end) + chunk.size() + pubsub::kPadding);
        if (c == nullptr) return fail();
        conn.in = c;
        std::memcpy(c->data + c->end, chunk.data(), chunk.size());
        c->end += std::uint32_t(chunk.size());
      }
    }
    if (!message_end) return;
    w.metrics_.messages_received.add();
    if (conn.flags3 & kOversize) {
      conn.flags3 &= std::uint8_t(~kOversize);
      w.send_err(index, conn, false, 0, pubsub::ErrorCode::too_large, "message too large");
      return;
    }
    Chunk* c = conn.in;
    conn.in = nullptr;
    std::memset(c->data + c->end, 0, pubsub::kPadding);
    w.on_request(index, conn, c->data, c->end);
    w.chunks_.put(c);
  }
};

void Worker::on_ws_frames(std::uint32_t index, Connection& conn, std::uint8_t* data, std::size_t len) noexcept {
  PubSink sink{{*this, index, conn}};
  ws::Limits limits;
  limits.max_message_bytes = cfg_.max_message_bytes;
  const std::uint32_t gen = conns_.generation(index);
  const ws::FeedResult r = conn.parser.feed(data, len, sink, limits);
  after_feed(index, conn, gen, r, sink);
}

bool Worker::setup_pubsub() noexcept {
  pubsub::ExchangeConfig xc;
  xc.worker = id_;
  xc.history = cfg_.history;
  xc.history_ttl_ms = cfg_.history_ttl_ms;
  xc.history_max_bytes = cfg_.history_max_bytes;
  xc.max_publish_bytes = cfg_.max_publish_bytes;
  xc.max_subscriptions = cfg_.max_subscriptions;
  xc.max_outbound_bytes = cfg_.max_outbound_bytes;
  xc.slow_consumer = cfg_.slow_consumer;
  xc.broker = cfg_.broker;
  xc.node_id = cfg_.node_id;
  xc.broker_ud_kind = kBroker;
  xc.wake_ud = make_ud(kWake, 0, kNoSlot);
  ps_.reset(new (std::nothrow) PubsubRoute(*this, xc, *hub_));
  if (!ps_ || !ps_->decoder.ok()) {
    error_ = "cannot reserve the JSON parser";
    return false;
  }
  if (!ps_->ex.start()) {
    error_ = ps_->ex.error();
    return false;
  }
  return true;
}

void Worker::discard_mail() noexcept {
  if (ps_) ps_->ex.discard_mail();
}

void Worker::on_request(std::uint32_t index, Connection& conn, const std::uint8_t* data, std::size_t len) noexcept {
  conn.last_message_ms = now32();
  pubsub::Request req;
  pubsub::DecodeError err;
  if (!ps_->decoder.decode(data, len, req, err)) {
    send_err(index, conn, err.has_id, err.id, err.code, err.message);
    return;
  }
  switch (req.op) {
    case pubsub::Op::sub:
      ps_->ex.subscribe(conn_token(index), req.topic, req.id, req.has_since, req.since);
      return;
    case pubsub::Op::unsub:
      ps_->ex.unsubscribe(conn_token(index), req.topic, req.id);
      return;
    case pubsub::Op::pub:
      if (!cfg_.client_publish) {
        send_err(index, conn, true, req.id, pubsub::ErrorCode::forbidden, "publishing is disabled for clients");
      } else if (req.data.size() > cfg_.max_publish_bytes) {
        send_err(index, conn, true, req.id, pubsub::ErrorCode::too_large, "data too large");
      } else if (ps_->ex.publish(conn_token(index), std::string(req.topic), std::string(req.data), req.id, false,
                                 monotonic_ns())) {
        metrics_.pubsub_published_ws.add();
      } else {
        send_err(index, conn, true, req.id, pubsub::ErrorCode::unavailable, "out of memory");
      }
      return;
    case pubsub::Op::ping: {
      char buf[64];
      send_json(index, conn, buf, pubsub::encode_ack(buf, sizeof buf, req.id));
      return;
    }
  }
}

void Worker::send_json(std::uint32_t index, Connection& conn, const char* json, std::size_t n) noexcept {
  if (n == 0 || conn.phase != Phase::open) return;
  std::uint8_t* p = conn.out.reserve(chunks_, kHeadroom + n);
  if (p == nullptr) {
    teardown(index, conn);
    return;
  }
  const std::size_t h = ws::write_header(p, ws::Opcode::text, true, n);
  std::memcpy(p + h, json, n);
  conn.out.commit(h + n);
  metrics_.messages_sent.add();
  mark_dirty(index, conn);
}

void Worker::send_err(std::uint32_t index, Connection& conn, bool has_id, std::uint64_t id, pubsub::ErrorCode code,
                      std::string_view message) noexcept {
  metrics_.pubsub_errors[std::size_t(code)].add();
  char buf[512];
  send_json(index, conn, buf, pubsub::encode_err(buf, sizeof buf, has_id, id, code, message));
}

Connection* Worker::conn_of(std::uint64_t token, std::uint32_t& index) noexcept {
  index = std::uint32_t(token);
  if (index >= conns_.capacity()) return nullptr;
  return conns_.get_masked(index, std::uint32_t(token >> 32), 0xffffffffu);
}

std::uint64_t Worker::held_bytes(std::uint32_t index, const Connection& conn) const noexcept {
  std::uint64_t held = queued_bytes(conn);
  if (conn.route == kRouteWs) held += ps_->ex.held_bytes(conn_token(index));
  return held;
}

void Worker::slow_close(std::uint32_t index, Connection& conn) noexcept {
  if (conn.flags3 & kSlowClose) return;  // already on its way out
  metrics_.pubsub_slow_closes.add();
  // What the peer has not taken is dropped (memory stays bounded), and the close jumps what is
  // left: it ends the stream anyway. A send the kernel is stuck on (the peer's window is shut) is
  // taken back, since on a stream socket a send that has not completed has sent nothing; the close
  // then follows at most the rest of a chunk a send left half out. (User-space TLS records cannot
  // be taken back: there the close waits behind the ciphertext, at most kCipherHighWater.)
  conn.out.drop_unsent(chunks_);
  if ((conn.flags & kSendInFlight) && transport_->plain_wire(conn)) {
    conn.flags3 |= kSlowClose;
    conn.close_code = kCloseSlowConsumer;
    conn.phase = Phase::close_sent;
    wheel_.arm(conn.timer, now_ms_ + cfg_.close_timeout_ms);
    (void)ring_.cancel(ud(kSend, index), ud(kCancel, index));
    return;
  }
  send_close(index, conn, kCloseSlowConsumer, "slow consumer", Phase::close_sent);
}

// The stuck send came back (taken back, or completed): drop what it held beyond a half-sent chunk
// and queue the 4100.
void Worker::finish_slow_close(std::uint32_t index, Connection& conn) noexcept {
  conn.flags3 &= std::uint8_t(~kSlowClose);
  if (conn.phase != Phase::close_sent && conn.phase != Phase::finish) return;
  conn.out.drop_unsent(chunks_);
  // If the peer's close came meanwhile (finish), ours still answers it, and then we close.
  send_close(index, conn, kCloseSlowConsumer, "slow consumer", conn.phase);
}

// --- the Delivery the exchange calls ------------------------------------------------------

bool PubsubRoute::begin_frame(pubsub::SharedFrame* f) noexcept {
  frame = w.chunks_.local_frame(f);
  return frame != nullptr;
}

void PubsubRoute::end_frame() noexcept {
  w.chunks_.release_local(frame);
  frame = nullptr;
}

pubsub::Delivery::Append PubsubRoute::append(std::uint64_t token, std::uint64_t max_queued) noexcept {
  const std::uint32_t index = std::uint32_t(token);
  Connection& conn = *w.conns_.slot(index);
  if (conn.phase != Phase::open) return Append::closed;
  if (w.queued_bytes(conn) + frame->frame->len > max_queued) return Append::over_limit;
  if (!conn.out.append_ref(w.chunks_, frame)) return Append::failed;
  w.metrics_.messages_sent.add();
  w.mark_dirty(index, conn);
  return Append::queued;
}

bool PubsubRoute::replace(std::uint64_t token) noexcept {
  const std::uint32_t index = std::uint32_t(token);
  Connection& conn = *w.conns_.slot(index);
  if (!conn.out.replace_ref(w.chunks_, frame)) return false;
  w.mark_dirty(index, conn);
  return true;
}

void PubsubRoute::slow_close(std::uint64_t token) noexcept {
  std::uint32_t index;
  if (Connection* conn = w.conn_of(token, index)) w.slow_close(index, *conn);
}

void PubsubRoute::want_drained(std::uint64_t token) noexcept {
  std::uint32_t index;
  if (Connection* conn = w.conn_of(token, index)) conn->flags3 |= kGapPending;  // on_send calls drained()
}

bool PubsubRoute::open(std::uint64_t token) noexcept {
  std::uint32_t index;
  const Connection* conn = w.conn_of(token, index);
  return conn != nullptr && conn->phase == Phase::open;
}

bool PubsubRoute::gap(std::uint64_t token, std::string_view json) noexcept {
  std::uint32_t index;
  Connection* conn = w.conn_of(token, index);
  if (conn == nullptr || conn->phase != Phase::open) return false;
  w.send_json(index, *conn, json.data(), json.size());
  return true;
}

void PubsubRoute::subscribed(std::uint64_t token, std::uint64_t id, std::uint64_t seq) noexcept {
  std::uint32_t index;
  if (Connection* conn = w.conn_of(token, index)) {
    char buf[96];
    w.send_json(index, *conn, buf, pubsub::encode_ack_seq(buf, sizeof buf, id, seq));
  }
}

void PubsubRoute::unsubscribed(std::uint64_t token, std::uint64_t id) noexcept {
  std::uint32_t index;
  if (Connection* conn = w.conn_of(token, index)) {
    char buf[64];
    w.send_json(index, *conn, buf, pubsub::encode_ack(buf, sizeof buf, id));
  }
}

void PubsubRoute::refused(std::uint64_t token, std::uint64_t id, pubsub::ErrorCode code, std::string_view why) noexcept {
  std::uint32_t index;
  if (Connection* conn = w.conn_of(token, index)) w.send_err(index, *conn, true, id, code, why);
}

void PubsubRoute::published(const PubAnswer& a) noexcept {
  if (a.api) {
    w.api_done(a);
    return;
  }
  std::uint32_t index;
  Connection* conn = w.conn_of(a.token, index);
  if (conn == nullptr) return;
  if (conn->phase == Phase::open) {
    if (a.result != pubsub::PublishResult::ok) {
      w.send_err(index, *conn, true, a.id, pubsub::ErrorCode::unavailable, "broker unavailable");
    } else {
      char buf[128];
      w.send_json(index, *conn, buf, pubsub::encode_ack_pub(buf, sizeof buf, a.id, a.seq, a.delivered));
    }
  }
  // Also after our close: a peer paused for its publishes must be read again to finish the close.
  w.maybe_resume(index, *conn);
}

}  // namespace ringgate::gateway
