// The Redis broker: two connections per worker on its ring.
//   - The subscriber connection carries SUBSCRIBE/UNSUBSCRIBE for the topics this worker owns
//     (SSUBSCRIBE/SUNSUBSCRIBE with ?sharded=1) and brings their messages. A subscribed Redis
//     connection accepts nothing else, hence the second connection.
//   - The publisher connection pipelines PUBLISH (SPUBLISH) and gets the answers in order: a
//     client's publish is acknowledged when Redis answered it.
// RESP is read by hiredis's redisReader and written by its formatter (pubsub/resp.hpp); the
// sockets and their lives are BrokerLink's.
#include <string>
#include <vector>

#include "external_broker.hpp"
#include "ringgate/core/clock.hpp"
#include "ringgate/core/log.hpp"
#include "ringgate/pubsub/resp.hpp"
#include "ringgate/net/user_data.hpp"

namespace ringgate::pubsub {
namespace {

class RedisBroker final : public ExternalBroker {
 public:
  explicit RedisBroker(const BrokerContext& ctx) noexcept
      : ExternalBroker(ctx), sub_(ctx.ring, *this, ctx.cfg, ctx.ud_kind, 0, "subscriber"), pub_(ctx.ring, *this, ctx.cfg, ctx.ud_kind, 1, "publisher") {}

  bool ok() const noexcept { return sub_reader_.ok() && pub_reader_.ok() && normalizer_.ok(); }

  // --- pubsub::Broker ---
  void unsubscribe(std::string_view topic) noexcept override {
    auto it = topics_.find(topic);
    if (it == topics_.end()) return;
    if (sub_.ready()) {
      (void)pubsub::resp_append(sub_.out(), {ctx_.cfg.sharded ? "SUNSUBSCRIBE" : "UNSUBSCRIBE", topic});
    }
    topics_.erase(it);
  }
  void publish(std::string_view topic, std::string_view data, std::uint64_t token) noexcept override {
    if (!pub_.ready() || pub_.pending_bytes() > ctx_.cfg.max_pending_bytes ||
        !pubsub::resp_append_publish(pub_.out(), ctx_.cfg.sharded, topic, envelope(), data)) {
      refuse(token);
      return;
    }
    waiting_.push_back(Waiting{token, monotonic_ns(), 0});
  }
  bool up() const noexcept override { return pub_.ready(); }
  bool subscribing() const noexcept override { return sub_.ready(); }
  const char* name() const noexcept override { return ctx_.cfg.url.c_str(); }

  // --- IoBroker ---
  void on_completion(std::uint64_t user_data, std::int32_t res, std::uint64_t now_ms) noexcept override {
    const std::uint32_t slot = net::ud_slot(user_data);
    BrokerLink& link = (slot >> 4) == 0 ? sub_ : pub_;
    link.on_completion(slot & 15, net::ud_gen(user_data), res, now_ms);
    report_state(sub_.ready() && pub_.ready());
  }
  void poll(std::uint64_t now_ms) noexcept override {
    now_ms_ = now_ms;
    sub_.poll(now_ms);
    pub_.poll(now_ms);
    report_state(sub_.ready() && pub_.ready());
  }
  void stop() noexcept override {
    sub_.stop();
    pub_.stop();
  }
  bool idle() const noexcept override { return sub_.idle() && pub_.idle(); }

 private:
  // --- LinkProtocol ---
  void link_open(BrokerLink& link) noexcept override {
    // Redis has no greeting: the connection is usable at once (a dead one is found by the pings).
    if (&link == &sub_) {
      sub_reader_.reset();
      if (sub_.set_ready(now_ms_)) ctx_.metrics.broker_reconnects.add();
      begin_restore();
    } else {
      pub_reader_.reset();
      if (pub_.set_ready(now_ms_)) ctx_.metrics.broker_reconnects.add();
    }
  }
  bool link_bytes(BrokerLink& link, const char* data, std::size_t len) noexcept override {
    return &link == &sub_ ? sub_bytes(data, len) : pub_bytes(data, len);
  }
  void link_ping(BrokerLink& link) noexcept override {
    (void)pubsub::resp_append(link.out(), {"PING"});
    if (&link == &pub_) waiting_.push_back(Waiting{0, monotonic_ns(), 0});
  }
  void link_down(BrokerLink& link) noexcept override {
    if (&link == &sub_) {
      lose_subscriptions();
    } else {
      fail_waiting();
    }
  }

  bool sub_bytes(const char* data, std::size_t len) noexcept {
    return for_each_event<pubsub::RespEvent>(sub_reader_, data, len, [&](const pubsub::RespEvent& ev) noexcept {
      switch (ev.kind) {
        case pubsub::RespKind::message:
          deliver(ev.channel, ev.text);
          break;
        case pubsub::RespKind::subscribed:
          confirmed(ev.channel);
          break;
        case pubsub::RespKind::pong:
          sub_.pong();
          break;
        case pubsub::RespKind::error:
          RG_LOG_WARN("broker %s (subscriber): %.*s", ctx_.cfg.url.c_str(), int(ev.text.size()), ev.text.data());
          break;
        default:
          break;
      }
    });
  }

  bool pub_bytes(const char* data, std::size_t len) noexcept {
    return for_each_event<pubsub::RespEvent>(pub_reader_, data, len, [&](const pubsub::RespEvent& ev) noexcept {
      switch (ev.kind) {
        case pubsub::RespKind::integer:
          answered(true, ev.integer > 0 ? std::uint64_t(ev.integer) : 0);
          break;
        case pubsub::RespKind::pong:
          pub_.pong();
          answered(true, 0);
          break;
        case pubsub::RespKind::error:
          if (error_log_.allow(now_ms_ / 1000)) {
            RG_LOG_WARN("broker %s (publisher): %.*s", ctx_.cfg.url.c_str(), int(ev.text.size()), ev.text.data());
          }
          answered(false, 0);
          break;
        default:
          answered(true, 0);
          break;
      }
    });
  }

  void send_subscribe_batch(const std::vector<std::string_view>& topics) noexcept override {
    // One command per topic, pipelined: the same round trip as one long command, and each topic
    // is confirmed on its own either way.
    for (std::string_view t : topics) (void)pubsub::resp_append(sub_.out(), {ctx_.cfg.sharded ? "SSUBSCRIBE" : "SUBSCRIBE", t});
  }

  BrokerLink sub_, pub_;
  pubsub::RespReader sub_reader_, pub_reader_;
  std::uint64_t now_ms_ = monotonic_ms();
  RateLimiter error_log_{1};
};

}  // namespace

std::unique_ptr<IoBroker> make_redis_broker(const BrokerContext& ctx) noexcept {
  auto b = std::unique_ptr<RedisBroker>(new (std::nothrow) RedisBroker(ctx));
  if (b == nullptr || !b->ok()) return nullptr;
  return b;
}

}  // namespace ringgate::pubsub
