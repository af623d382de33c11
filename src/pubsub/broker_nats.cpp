// The NATS broker: one connection per worker on its ring, for both directions (a NATS connection
// may publish while subscribed). Our own minimal client of the core protocol (pubsub/nats.hpp):
// nats.c runs threads of its own, which the engine does not have.
//
// Handshake: the server's INFO, then our CONNECT (echo on: the owner must see publishes made
// through this very connection) and a PING; the PONG makes the connection ready.
// Core NATS answers nothing per PUB or SUB, so a PING after them is the receipt: PONGs come in
// order, and the PONG to PING number n confirms every PUB and SUB sent before it. One PING per
// loop turn covers everything queued in that turn.
#include <iterator>
#include <string>
#include <vector>

#include "external_broker.hpp"
#include "ringgate/core/clock.hpp"
#include "ringgate/core/log.hpp"
#include "ringgate/pubsub/nats.hpp"
#include "ringgate/net/user_data.hpp"

namespace ringgate::pubsub {
namespace {

class NatsBroker final : public ExternalBroker {
 public:
  explicit NatsBroker(const BrokerContext& ctx) noexcept
      : ExternalBroker(ctx), link_(ctx.ring, *this, ctx.cfg, ctx.ud_kind, 0, "connection") {}

  bool ok() const noexcept { return normalizer_.ok(); }

  // --- pubsub::Broker ---
  void unsubscribe(std::string_view topic) noexcept override {
    auto it = topics_.find(topic);
    if (it == topics_.end()) return;
    if (link_.ready() && it->second.sid != 0) pubsub::nats_unsub(link_.out(), it->second.sid);
    topics_.erase(it);
  }
  void publish(std::string_view topic, std::string_view data, std::uint64_t token) noexcept override {
    const std::string_view head = envelope();
    if (!link_.ready() || link_.pending_bytes() > ctx_.cfg.max_pending_bytes ||
        (max_payload_ != 0 && head.size() + data.size() > max_payload_)) {
      refuse(token);
      return;
    }
    pubsub::nats_pub(link_.out(), topic, head, data);
    waiting_.push_back(Waiting{token, monotonic_ns(), pings_sent_ + 1});
    need_ping_ = true;
  }
  bool up() const noexcept override { return link_.ready(); }
  const char* name() const noexcept override { return ctx_.cfg.url.c_str(); }

  // --- IoBroker ---
  void on_completion(std::uint64_t user_data, std::int32_t res, std::uint64_t now_ms) noexcept override {
    now_ms_ = now_ms;
    link_.on_completion(net::ud_slot(user_data) & 15, net::ud_gen(user_data), res, now_ms);
    report_state(link_.ready());
  }
  void poll(std::uint64_t now_ms) noexcept override {
    now_ms_ = now_ms;
    if (need_ping_ && link_.state() == BrokerLink::State::open) ping();
    link_.poll(now_ms);
    report_state(link_.ready());
  }
  void stop() noexcept override { link_.stop(); }
  bool idle() const noexcept override { return link_.idle(); }

 private:
  struct SubReceipt {
    std::string topic;  // looked up again on the PONG (it may be gone by then)
    std::uint64_t ping_no;
  };

  void ping() noexcept {
    pubsub::nats_ping(link_.out());
    ++pings_sent_;
    need_ping_ = false;
  }

  // --- LinkProtocol ---
  void link_open(BrokerLink&) noexcept override {
    parser_.reset();
    got_info_ = false;
    pings_sent_ = pongs_ = 0;
    need_ping_ = false;
  }
  void link_ping(BrokerLink&) noexcept override { ping(); }
  void link_down(BrokerLink&) noexcept override {
    receipts_.clear();
    fail_waiting();
    for (auto& [name, t] : topics_) t.sid = 0;
    lose_subscriptions();
  }
  bool link_bytes(BrokerLink&, const char* data, std::size_t len) noexcept override {
    return for_each_event<pubsub::NatsEvent>(parser_, data, len, [&](const pubsub::NatsEvent& ev) noexcept {
      switch (ev.kind) {
        case pubsub::NatsKind::msg:
          deliver(ev.subject, ev.payload);
          break;
        case pubsub::NatsKind::ping:
          pubsub::nats_pong(link_.out());
          break;
        case pubsub::NatsKind::pong:
          on_pong();
          break;
        case pubsub::NatsKind::info:
          if (!got_info_) {
            got_info_ = true;
            max_payload_ = pubsub::nats_max_payload(ev.text);
            pubsub::nats_connect(link_.out(), "ringgate");
            ping();
          }
          break;
        case pubsub::NatsKind::err:
          RG_LOG_WARN("broker %s: -ERR '%.*s'", ctx_.cfg.url.c_str(), int(ev.text.size()), ev.text.data());
          break;
        case pubsub::NatsKind::ok:
          break;
      }
    });
  }

  void on_pong() noexcept {
    ++pongs_;
    link_.pong();
    if (!link_.ready()) {
      // The PONG to our first PING: CONNECT was accepted.
      if (link_.set_ready(now_ms_)) ctx_.metrics.broker_reconnects.add();
      begin_restore();
      return;
    }
    while (head_ < waiting_.size() && waiting_[head_].ping_no <= pongs_) answered(true, 0);
    // Taken out before confirming: a confirmation may send the next restore batch, which adds
    // receipts (and may move the vector's storage).
    std::size_t done = 0;
    while (done < receipts_.size() && receipts_[done].ping_no <= pongs_) ++done;
    confirming_.assign(std::make_move_iterator(receipts_.begin()),
                       std::make_move_iterator(receipts_.begin() + std::ptrdiff_t(done)));
    receipts_.erase(receipts_.begin(), receipts_.begin() + std::ptrdiff_t(done));
    for (const SubReceipt& r : confirming_) confirmed(r.topic);  // ignored when the topic is gone
    confirming_.clear();
  }

  void send_subscribe_batch(const std::vector<std::string_view>& topics) noexcept override {
    for (std::string_view name : topics) {
      auto it = topics_.find(name);
      if (it == topics_.end()) continue;
      it->second.sid = ++next_sid_;
      pubsub::nats_sub(link_.out(), it->first, it->second.sid);
      receipts_.push_back(SubReceipt{it->first, pings_sent_ + 1});
    }
    need_ping_ = true;
  }

  BrokerLink link_;
  // Messages up to the server's own limit are read (larger ones would be a protocol error and a
  // reconnect); the normalizer then drops those over --max-publish-bytes.
  pubsub::NatsParser parser_;
  std::vector<SubReceipt> receipts_, confirming_;
  std::uint64_t pings_sent_ = 0, pongs_ = 0, next_sid_ = 0, max_payload_ = 0;
  bool need_ping_ = false, got_info_ = false;
  std::uint64_t now_ms_ = monotonic_ms();
};

}  // namespace

std::unique_ptr<IoBroker> make_nats_broker(const BrokerContext& ctx) noexcept {
  auto b = std::unique_ptr<NatsBroker>(new (std::nothrow) NatsBroker(ctx));
  if (b == nullptr || !b->ok()) return nullptr;
  return b;
}

}  // namespace ringgate::pubsub
