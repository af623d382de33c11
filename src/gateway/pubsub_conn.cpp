// The /ws route: the JSON client protocol (docs/protocol.md) on one connection, and delivery of
// published frames to this worker's subscribers under their slow-consumer policy.
//
// A subscription is attached only when the topic's owner has answered (with its sequence number
// and any history to replay), and the owner's deliveries come through the same FIFO mailbox as
// that answer, so a subscriber's messages start right after what its ack announced.
#include <cstring>

#include "control_sink.hpp"
#include "transport/transport.hpp"
#include "pubsub_state.hpp"
#include "ringgate/core/clock.hpp"
#include "ringgate/gateway/worker.hpp"
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
      client_sub(index, conn, req);
      return;
    case pubsub::Op::unsub:
      client_unsub(index, conn, req);
      return;
    case pubsub::Op::pub:
      client_pub(index, conn, req);
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

void Worker::client_sub(std::uint32_t index, Connection& conn, const pubsub::Request& req) noexcept {
  ConnSubs& cs = ps_->conns[index];
  if (auto it = ps_->local_ids.find(req.topic); it != ps_->local_ids.end()) {
    for (const ConnSub& s : cs.topics) {
      if (s.topic == it->second) {  // already subscribed: the ack repeats where the topic is
        char buf[96];
        send_json(index, conn, buf, pubsub::encode_ack_seq(buf, sizeof buf, req.id, ps_->local[s.topic].last_seq));
        return;
      }
    }
  }
  if (cs.topics.size() + cs.pending >= cfg_.max_subscriptions) {
    send_err(index, conn, true, req.id, pubsub::ErrorCode::limit_exceeded, "too many subscriptions");
    return;
  }
  auto* r = new (std::nothrow) SubRequest;
  if (r == nullptr) {
    send_err(index, conn, true, req.id, pubsub::ErrorCode::unavailable, "out of memory");
    return;
  }
  r->topic.assign(req.topic);
  r->from = id_;
  r->conn = conn_token(index);
  r->id = req.id;
  r->has_since = req.has_since;
  r->since = req.since;
  ++cs.pending;
  route_sub(r);
}

void Worker::on_sub_done(SubRequest* r) noexcept {
  std::unique_ptr<SubRequest> own(r);
  std::uint32_t index;
  Connection* conn = conn_of(r->conn, index);
  auto cs_it = conn != nullptr ? ps_->conns.find(index) : ps_->conns.end();
  if (cs_it != ps_->conns.end() && cs_it->second.pending > 0) --cs_it->second.pending;
  bool duplicate = false;
  if (cs_it != ps_->conns.end()) {
    for (const ConnSub& s : cs_it->second.topics) duplicate |= s.topic == r->topic_id;
  }
  if (conn == nullptr || conn->phase != Phase::open || cs_it == ps_->conns.end() || duplicate) {
    // The connection left (or asked twice) while the owner answered: give the count back.
    route_unsub(r->topic, r->topic_id);
    for (pubsub::SharedFrame* f : r->replay) f->release();
    if (duplicate && conn != nullptr) {
      char buf[96];
      send_json(index, *conn, buf, pubsub::encode_ack_seq(buf, sizeof buf, r->id, r->seq));
    }
    return;
  }
  auto [lt_it, created] = ps_->local.try_emplace(r->topic_id);
  LocalTopic& lt = lt_it->second;
  if (created) {
    lt.name = r->topic;
    lt.id = r->topic_id;
    lt.policy = cfg_.slow_consumer.for_topic(r->topic);
    ps_->local_ids.emplace(r->topic, r->topic_id);
    metrics_.pubsub_topics.add(1);
  }
  if (lt.last_seq < r->seq) lt.last_seq = r->seq;
  cs_it->second.topics.push_back(ConnSub{r->topic_id, std::uint32_t(lt.subs.size())});
  lt.subs.push_back(index);
  metrics_.pubsub_subscriptions.add(1);
  char buf[96];
  send_json(index, *conn, buf, pubsub::encode_ack_seq(buf, sizeof buf, r->id, r->seq));
  if (r->gap) {
    metrics_.pubsub_gaps.add();
    char gap[256];
    send_json(index, *conn, gap, pubsub::encode_gap(gap, sizeof gap, lt.name));
  }
  for (pubsub::SharedFrame* f : r->replay) {
    LocalFrame* lf = chunks_.local_frame(f);
    if (lf == nullptr) {
      f->release();
      continue;
    }
    if (conn->phase == Phase::open) enqueue_frame(index, *conn, lf, lt.policy);
    chunks_.release_local(lf);
  }
}

void Worker::client_unsub(std::uint32_t index, Connection& conn, const pubsub::Request& req) noexcept {
  auto it = ps_->local_ids.find(req.topic);
  auto cs = ps_->conns.find(index);
  bool found = false;
  if (it != ps_->local_ids.end() && cs != ps_->conns.end()) {
    for (const ConnSub& s : cs->second.topics) found |= s.topic == it->second;
  }
  if (!found) {
    send_err(index, conn, true, req.id, pubsub::ErrorCode::unknown_topic, "not subscribed");
    return;
  }
  detach_one(index, it->second);
  char buf[64];
  send_json(index, conn, buf, pubsub::encode_ack(buf, sizeof buf, req.id));
}

void Worker::detach_one(std::uint32_t index, std::uint64_t topic_id) noexcept {
  ConnSubs& cs = ps_->conns[index];
  std::uint32_t pos = 0;
  bool found = false;
  for (std::size_t i = 0; i < cs.topics.size(); ++i) {
    if (cs.topics[i].topic != topic_id) continue;
    pos = cs.topics[i].pos;
    cs.topics[i] = cs.topics.back();
    cs.topics.pop_back();
    found = true;
    break;
  }
  if (!found) return;
  auto lt_it = ps_->local.find(topic_id);
  if (lt_it == ps_->local.end()) return;
  LocalTopic& lt = lt_it->second;
  // Swap-remove, and tell the moved subscriber where it is now.
  const std::uint32_t moved = lt.subs.back();
  lt.subs[pos] = moved;
  lt.subs.pop_back();
  if (moved != index) {
    for (ConnSub& s : ps_->conns[moved].topics) {
      if (s.topic == topic_id) s.pos = pos;
    }
  }
  metrics_.pubsub_subscriptions.add(-1);
  const std::string name = lt.name;
  if (lt.subs.empty()) {
    ps_->local_ids.erase(lt.name);
    ps_->local.erase(lt_it);
    metrics_.pubsub_topics.add(-1);
  }
  route_unsub(name, topic_id);
}

void Worker::detach_subscriptions(std::uint32_t index) noexcept {
  auto it = ps_->conns.find(index);
  if (it == ps_->conns.end()) return;
  while (!it->second.topics.empty()) detach_one(index, it->second.topics.back().topic);
  ps_->conns.erase(it);  // answers still on their way find no entry and give their counts back
}

void Worker::client_pub(std::uint32_t index, Connection& conn, const pubsub::Request& req) noexcept {
  if (!cfg_.client_publish) {
    send_err(index, conn, true, req.id, pubsub::ErrorCode::forbidden, "publishing is disabled for clients");
    return;
  }
  if (req.data.size() > cfg_.max_publish_bytes) {
    send_err(index, conn, true, req.id, pubsub::ErrorCode::too_large, "data too large");
    return;
  }
  auto* r = new (std::nothrow) PubRequest;
  if (r == nullptr) {
    send_err(index, conn, true, req.id, pubsub::ErrorCode::unavailable, "out of memory");
    return;
  }
  r->topic.assign(req.topic);
  r->data.assign(req.data);
  r->from = id_;
  r->conn = conn_token(index);
  r->id = req.id;
  r->received_ns = monotonic_ns();
  metrics_.pubsub_published_ws.add();
  // Publishes in flight count against the peer's --max-outbound-bytes like its queued replies: a
  // client that publishes faster than the owner answers stops being read (after_feed).
  ps_->conns[index].pub_bytes += r->cost();
  route_pub(r);
}

std::uint64_t Worker::held_bytes(std::uint32_t index, const Connection& conn) const noexcept {
  std::uint64_t held = queued_bytes(conn);
  if (conn.route == kRouteWs) {
    if (auto it = ps_->conns.find(index); it != ps_->conns.end()) held += it->second.pub_bytes;
  }
  return held;
}

void Worker::on_pub_done(PubRequest* r) noexcept {
  if (r->api) {
    api_done(r);
    return;
  }
  std::unique_ptr<PubRequest> own(r);
  std::uint32_t index;
  Connection* conn = conn_of(r->conn, index);
  if (conn == nullptr) return;
  if (auto it = ps_->conns.find(index); it != ps_->conns.end()) it->second.pub_bytes -= r->cost();
  if (conn->phase == Phase::open) {
    if (r->result != pubsub::PublishResult::ok) {
      send_err(index, *conn, true, r->id, pubsub::ErrorCode::unavailable, "broker unavailable");
    } else {
      char buf[128];
      send_json(index, *conn, buf, pubsub::encode_ack_pub(buf, sizeof buf, r->id, r->seq, r->delivered));
    }
  }
  // Also after our close: a peer paused for its publishes must be read again to finish the close.
  maybe_resume(index, *conn);
}

void Worker::deliver_local(pubsub::SharedFrame* f, bool gap) noexcept {
  auto it = ps_->local.find(f->topic_id);
  if (it == ps_->local.end()) {
    f->release();
    return;
  }
  LocalTopic& lt = it->second;
  LocalFrame* lf = chunks_.local_frame(f);
  if (lf == nullptr) {
    f->release();
    return;
  }
  metrics_.observe_delivery_latency(monotonic_ns() - f->published_ns);
  char gap_json[256];
  const std::size_t gap_len = gap ? pubsub::encode_gap(gap_json, sizeof gap_json, lt.name) : 0;
  if (gap) metrics_.pubsub_gaps.add();
  lt.last_seq = f->seq;
  // A slow-consumer close does not detach (teardown does, and defers it while we walk).
  ps_->delivering = true;
  for (std::size_t i = 0; i < lt.subs.size(); ++i) {
    const std::uint32_t index = lt.subs[i];
    Connection& conn = *conns_.slot(index);
    if (conn.phase != Phase::open) continue;
    if (gap_len != 0) send_json(index, conn, gap_json, gap_len);
    enqueue_frame(index, conn, lf, lt.policy);
  }
  ps_->delivering = false;
  chunks_.release_local(lf);
  if (!ps_->deferred_detach.empty()) {
    std::vector<std::uint32_t> detach;
    detach.swap(ps_->deferred_detach);
    for (std::uint32_t index : detach) detach_subscriptions(index);
  }
}

void Worker::enqueue_frame(std::uint32_t index, Connection& conn, LocalFrame* lf, pubsub::SlowPolicy policy) noexcept {
  const std::uint64_t topic = lf->frame->topic_id;
  if (conn.flags3 & kGapPending) {
    // A message of this topic was dropped: the rest wait for the gap notice (drop policy).
    for (std::uint64_t t : ps_->conns[index].gaps) {
      if (t == topic) {
        metrics_.pubsub_dropped[0].add();
        return;
      }
    }
  }
  if (queued_bytes(conn) + lf->frame->len > cfg_.max_outbound_bytes) {
    switch (policy) {
      case pubsub::SlowPolicy::disconnect:
        slow_close(index, conn);
        return;
      case pubsub::SlowPolicy::drop:
        metrics_.pubsub_dropped[0].add();
        ps_->conns[index].gaps.push_back(topic);
        conn.flags3 |= kGapPending;
        return;
      case pubsub::SlowPolicy::conflate:
        if (conn.out.replace_ref(chunks_, lf)) {
          metrics_.pubsub_dropped[1].add();
          metrics_.pubsub_deliveries.add();
          mark_dirty(index, conn);
          return;
        }
        break;  // nothing of this topic is queued: queue it (one per topic beyond the limit)
    }
  }
  if (!conn.out.append_ref(chunks_, lf)) {
    slow_close(index, conn);
    return;
  }
  metrics_.pubsub_deliveries.add();
  metrics_.messages_sent.add();
  mark_dirty(index, conn);
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

void Worker::flush_gaps(std::uint32_t index, Connection& conn) noexcept {
  conn.flags3 &= std::uint8_t(~kGapPending);
  auto it = ps_->conns.find(index);
  if (it == ps_->conns.end()) return;
  for (std::uint64_t topic : it->second.gaps) {
    auto lt = ps_->local.find(topic);
    if (lt == ps_->local.end()) continue;
    metrics_.pubsub_gaps.add();
    char gap[256];
    send_json(index, conn, gap, pubsub::encode_gap(gap, sizeof gap, lt->second.name));
  }
  it->second.gaps.clear();
}

void Worker::announce_gap(std::uint64_t topic_id) noexcept {
  auto it = ps_->local.find(topic_id);
  if (it == ps_->local.end()) return;
  char gap[256];
  const std::size_t len = pubsub::encode_gap(gap, sizeof gap, it->second.name);
  for (std::uint32_t index : it->second.subs) {
    Connection& conn = *conns_.slot(index);
    if (conn.phase != Phase::open) continue;
    metrics_.pubsub_gaps.add();
    send_json(index, conn, gap, len);
  }
}

}  // namespace ringgate::gateway
