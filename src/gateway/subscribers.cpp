// The worker's side of pub/sub (subscribers.hpp): setting up the exchange, and the Delivery it
// calls: frames onto send queues, gap notices, answers to the routes, slow consumers closed.
#include "subscribers.hpp"

#include "message_writer.hpp"
#include "route.hpp"
#include "user_data.hpp"
#include "worker_port.hpp"

namespace ringgate::gateway {

std::unique_ptr<Worker::Subscribers> Worker::Subscribers::make(Worker& w, std::string& error) noexcept {
  const Config& cfg = w.cfg_;
  pubsub::ExchangeConfig xc;
  xc.worker = w.id_;
  xc.history = cfg.history;
  xc.history_ttl_ms = cfg.history_ttl_ms;
  xc.history_max_bytes = cfg.history_max_bytes;
  xc.max_publish_bytes = cfg.max_publish_bytes;
  xc.max_subscriptions = cfg.max_subscriptions;
  xc.max_outbound_bytes = cfg.max_outbound_bytes;
  xc.slow_consumer = cfg.slow_consumer;
  xc.broker = cfg.broker;
  xc.node_id = cfg.node_id;
  xc.broker_ud_kind = kBroker;
  xc.wake_ud = make_ud(kWake, 0, kNoSlot);
  std::unique_ptr<Subscribers> s(new (std::nothrow) Subscribers(w, xc, *w.hub_));
  if (!s) {
    error = "out of memory";
    return nullptr;
  }
  if (!s->exchange.start()) {
    error = s->exchange.error();
    return nullptr;
  }
  return s;
}

void Worker::discard_mail() noexcept {
  if (subscribers_) subscribers_->exchange.discard_mail();
}

Connection* Worker::Subscribers::conn_of(std::uint64_t token, std::uint32_t& index) noexcept {
  index = std::uint32_t(token);
  if (index >= w.conns_.capacity()) return nullptr;
  return w.conns_.get_masked(index, std::uint32_t(token >> 32), 0xffffffffu);
}

// ---- the Delivery the exchange calls ----

bool Worker::Subscribers::begin_frame(pubsub::SharedFrame* f) noexcept {
  frame = w.chunks_.local_frame(shared_ref(f));
  return frame != nullptr;
}

void Worker::Subscribers::end_frame() noexcept {
  w.chunks_.release_local(frame);
  frame = nullptr;
}

pubsub::Delivery::Append Worker::Subscribers::append(std::uint64_t token, std::uint64_t max_queued) noexcept {
  const std::uint32_t index = std::uint32_t(token);
  Connection& conn = *w.conns_.slot(index);
  if (conn.phase != Phase::open) return Append::closed;
  if (Port(w, index, conn).queued() + frame->shared.len > max_queued) return Append::over_limit;
  if (!write_shared(conn.out, w.chunks_, frame)) return Append::failed;
  w.metrics_.messages_sent.add();
  w.mark_dirty(index, conn);
  return Append::queued;
}

bool Worker::Subscribers::replace(std::uint64_t token) noexcept {
  const std::uint32_t index = std::uint32_t(token);
  Connection& conn = *w.conns_.slot(index);
  if (!replace_shared(conn.out, w.chunks_, frame)) return false;
  w.mark_dirty(index, conn);
  return true;
}

void Worker::Subscribers::slow_close(std::uint64_t token) noexcept {
  std::uint32_t index;
  if (Connection* conn = conn_of(token, index)) Port(w, index, *conn).slow_close();
}

void Worker::Subscribers::want_drained(std::uint64_t token) noexcept {
  std::uint32_t index;
  if (Connection* conn = conn_of(token, index)) conn->stream |= kWantDrained;  // on_send calls drained()
}

bool Worker::Subscribers::open(std::uint64_t token) noexcept {
  std::uint32_t index;
  const Connection* conn = conn_of(token, index);
  return conn != nullptr && conn->phase == Phase::open;
}

bool Worker::Subscribers::gap(std::uint64_t token, std::string_view json) noexcept {
  std::uint32_t index;
  Connection* conn = conn_of(token, index);
  if (conn == nullptr || conn->phase != Phase::open) return false;
  (void)Port(w, index, *conn).send(ws::Opcode::text, std::span(reinterpret_cast<const std::uint8_t*>(json.data()), json.size()));
  return true;
}

void Worker::Subscribers::subscribed(std::uint64_t token, std::uint64_t id, std::uint64_t seq) noexcept {
  with_route(token, [&](PubsubAnswers& a, Port& io) { a.subscribed(io, id, seq); });
}

void Worker::Subscribers::unsubscribed(std::uint64_t token, std::uint64_t id) noexcept {
  with_route(token, [&](PubsubAnswers& a, Port& io) { a.unsubscribed(io, id); });
}

void Worker::Subscribers::refused(std::uint64_t token, std::uint64_t id, pubsub::ErrorCode code,
                                  std::string_view why) noexcept {
  with_route(token, [&](PubsubAnswers& a, Port& io) { a.refused(io, id, code, why); });
}

void Worker::Subscribers::published(const PubAnswer& a) noexcept {
  with_route(a.token, [&](PubsubAnswers& r, Port& io) {
    r.published(io, a);
    // Also after our close: a peer paused for its publishes must be read again to finish the close.
    io.maybe_resume();
  });
}

}  // namespace ringgate::gateway
