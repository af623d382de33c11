// External brokers (Redis, NATS): a worker's connections to a backend that several gateway nodes
// share. One instance per worker; it carries only the topics that worker owns, so each message
// enters a node once.
//
// What both have in common lives in ExternalBroker:
//   - the topics wanted, each confirmed or lost: a connection lost loses every subscription; the
//     next connection restores them in batches of kRestoreBatch and reports each one restored (the
//     fan-out layer sends subscribers a gap notice);
//   - publishes waiting for the broker's answer, in order (both protocols answer in order);
//     while the broker is down a publish fails at once and nothing is buffered;
//   - messages in: our envelope ("GW1 <node> <ms> <flags>\n") is taken off, a raw external
//     publish is passed as it is, and the payload becomes `data` (itself when it is valid JSON,
//     else a JSON string).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker_link.hpp"
#include "ringgate/core/log.hpp"
#include "ringgate/core/string_map.hpp"
#include "ringgate/net/ring.hpp"
#include "ringgate/pubsub/broker_config.hpp"
#include "ringgate/pubsub/metrics.hpp"
#include "ringgate/pubsub/broker.hpp"
#include "ringgate/pubsub/envelope.hpp"

namespace ringgate::pubsub {

// Feeds received bytes to a streaming reply parser (RESP, NATS) and hands each complete event to
// `on`. False when the parser finds the stream broken: the link then reconnects.
template <class Event, class Parser, class Fn>
bool for_each_event(Parser& parser, const char* data, std::size_t len, Fn&& on) noexcept {
  if (!parser.feed(data, len)) return false;
  Event ev;
  for (;;) {
    const int r = parser.next(ev);
    if (r <= 0) return r == 0;
    on(ev);
  }
}

// A broker whose connections run on the worker's ring.
class IoBroker : public Broker {
 public:
  // A completion of kind BrokerContext::ud_kind.
  virtual void on_completion(std::uint64_t user_data, std::int32_t res, std::uint64_t now_ms) noexcept = 0;
  // Every loop turn, before the flush: timers, handshakes, sending what was queued.
  virtual void poll(std::uint64_t now_ms) noexcept = 0;
  virtual void stop() noexcept = 0;  // the worker is stopping: shut every connection
  virtual bool idle() const noexcept = 0;  // no operation left in the ring
};

struct BrokerContext {
  net::Ring& ring;
  const BrokerConfig& cfg;
  Broker::Events& events;
  Metrics& metrics;
  std::uint64_t node;              // this process, in envelopes
  std::uint32_t max_data_bytes;    // --max-publish-bytes: larger broker messages are dropped
  std::uint8_t ud_kind;            // the ring owner's user_data kind for broker operations
};

std::unique_ptr<IoBroker> make_redis_broker(const BrokerContext& ctx) noexcept;
std::unique_ptr<IoBroker> make_nats_broker(const BrokerContext& ctx) noexcept;

class ExternalBroker : public IoBroker, protected LinkProtocol {
 public:
  explicit ExternalBroker(const BrokerContext& ctx) noexcept;
  // Sent now when the subscribing connection is ready, else made (and reported restored) when
  // it is back.
  void subscribe(std::string_view topic) noexcept override;

 protected:
  struct Topic {
    bool confirmed = false;
    bool lost = false;       // to be reported restored when confirmed
    std::uint64_t sid = 0;   // NATS subscription id
  };
  struct Waiting {           // a publish (or a ping, token 0) waiting for the broker's answer
    std::uint64_t token;
    std::uint64_t sent_ns;
    std::uint64_t ping_no;   // NATS: answered by this PONG
  };
  static constexpr std::size_t kRestoreBatch = 512;

  // Message in from the broker on `topic`.
  void deliver(std::string_view topic, std::string_view body) noexcept;
  // The broker confirmed a subscription (counts down the restore batch, maybe sends the next).
  void confirmed(std::string_view topic) noexcept;
  // The subscribing connection is gone: every subscription is lost.
  void lose_subscriptions() noexcept;
  // The subscribing connection is ready: restore every topic, a batch at a time.
  void begin_restore() noexcept;
  void next_restore_batch() noexcept;
  virtual void send_subscribe_batch(const std::vector<std::string_view>& topics) noexcept = 0;
  // Publishing: the envelope head for a publish now; the answer to the oldest waiting one.
  std::string_view envelope() noexcept;
  void answered(bool ok, std::uint64_t receivers) noexcept;
  void fail_waiting() noexcept;
  void refuse(std::uint64_t token) noexcept;  // publish refused at once (down or over limits)
  void report_state(bool up) noexcept;

  BrokerContext ctx_;
  StringMap<Topic> topics_;
  std::vector<std::string> restore_;   // topics still to restore (taken from the back)
  std::size_t batch_left_ = 0;         // confirmations awaited from the batch in flight
  std::vector<Waiting> waiting_;       // FIFO: waiting_[head_..]
  std::size_t head_ = 0;
  DataNormalizer normalizer_;
  char envelope_[kEnvelopeMax];
  bool reported_up_ = false;
  RateLimiter drop_log_{1};
};

}  // namespace ringgate::pubsub
