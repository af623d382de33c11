// Exchange: one worker's share of the node's pub/sub. It never sees a connection: subscribers are
// opaque 64-bit tokens (the gateway passes (generation << 32) | slot), and everything that reaches
// one goes through the Delivery interface the route implements.
//
// What one Exchange owns, all touched only on its worker's thread:
//   - the subscriber tables: for each topic this worker's tokens subscribe to, the tokens (plus the
//     topic's slow-consumer policy and last sequence delivered); per token its topics, its topics
//     with a gap to announce, its subscriptions waiting for an owner and its publishes in flight;
//   - the topics it owns (owner = topic_owner(name, workers)): the node's interest per worker,
//     the broker subscription (with its linger), sequence numbers, history (per topic and one
//     ledger bounded by its share of --history-max-bytes);
//   - its outgoing mailboxes' backlog (control entries never dropped, messages dropped and
//     flagged as a gap instead) and the MSG_RING wake of the workers it wrote to;
//   - its broker: the embedded MemoryBroker, or Redis / NATS links on the worker's ring.
//
// Time: the exchange reads no clock for its decisions; tick(now_ms) gives it the loop's time
// (linger and history sweeps, idle times). The monotonic clock is read only for the latency
// histograms (publish -> queued), as before the move.
//
// Ownership across workers: a request object belongs to whoever holds the mailbox entry carrying
// it; the reply travels back in the same object. A frame in a deliver entry is one reference.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "ringgate/net/ring.hpp"
#include "ringgate/pubsub/broker.hpp"
#include "ringgate/pubsub/broker_config.hpp"
#include "ringgate/pubsub/codec.hpp"
#include "ringgate/pubsub/frame.hpp"
#include "ringgate/pubsub/hub.hpp"
#include "ringgate/pubsub/metrics.hpp"
#include "ringgate/pubsub/policy.hpp"

namespace ringgate::pubsub {

// What the route does for the exchange. Called on the worker's thread, possibly from inside any
// Exchange call (a loopback broker answers synchronously).
class Delivery {
 public:
  enum class Append : std::uint8_t {
    queued,      // the current frame is on the token's queue
    over_limit,  // queued bytes + the frame would exceed max_queued: nothing done (policy decides)
    closed,      // the token's connection is not open (closing): skipped
    failed,      // out of memory: the exchange closes it as a slow consumer
  };

  // Fan-out of one frame to many tokens: begin_frame takes the frame's reference (false: out of
  // memory, the exchange releases it and skips the frame), end_frame lets the route's hold go.
  virtual bool begin_frame(SharedFrame* f) noexcept = 0;
  virtual Append append(std::uint64_t token, std::uint64_t max_queued) noexcept = 0;
  // Conflation: replace the token's newest queued, unsent frame of the same topic with the current
  // one. False when none is queued.
  virtual bool replace(std::uint64_t token) noexcept = 0;
  virtual void end_frame() noexcept = 0;
  // Disconnect policy (or out of memory): close the token's connection as a slow consumer.
  virtual void slow_close(std::uint64_t token) noexcept = 0;
  // Drop policy: call Exchange::drained(token) once its queue is below half the limit.
  virtual void want_drained(std::uint64_t token) noexcept = 0;
  // The token's connection is open (a subscription answered for a closing one is given back).
  virtual bool open(std::uint64_t token) noexcept = 0;
  // A gap notice (`json`: {"op":"gap",...}, encoded once). False: not open, nothing sent.
  virtual bool gap(std::uint64_t token, std::string_view json) noexcept = 0;
  // Answers. A token whose connection is gone is ignored by the route.
  virtual void subscribed(std::uint64_t token, std::uint64_t id, std::uint64_t seq) noexcept = 0;
  virtual void unsubscribed(std::uint64_t token, std::uint64_t id) noexcept = 0;
  virtual void refused(std::uint64_t token, std::uint64_t id, ErrorCode code, std::string_view why) noexcept = 0;
  struct PubAnswer {
    std::uint64_t token, id;
    bool api;                // from the HTTP API: the answer is an HTTP response
    PublishResult result;
    std::uint64_t seq, delivered;
  };
  virtual void published(const PubAnswer& a) noexcept = 0;

 protected:
  ~Delivery() = default;
};

struct ExchangeConfig {
  unsigned worker = 0;                     // this exchange's index in the Hub
  std::uint32_t history = 100;             // messages kept per topic (0 = none)
  std::uint64_t history_ttl_ms = 300000;   // an unused topic's state is forgotten after this
  std::uint64_t history_max_bytes = 64u << 20;  // all workers together (each keeps its share)
  std::uint32_t max_publish_bytes = 65536; // broker messages larger are dropped
  std::uint32_t max_subscriptions = 1024;  // per token
  std::uint64_t max_outbound_bytes = 1u << 20;  // a token's queue beyond this meets its topic's policy
  PolicyRules slow_consumer;
  BrokerConfig broker;
  std::uint64_t node_id = 0;               // this process, in broker envelopes
  std::uint8_t broker_ud_kind = 0;         // user_data kind of the broker links' ring operations
  std::uint64_t wake_ud = 0;               // user_data of the MSG_RING that wakes another worker
};

struct ExchangeState;  // src/pubsub/exchange_state.hpp
struct OwnedTopic;
struct LocalTopic;
struct ConnSubs;
struct SubRequest;
struct PubRequest;

class Exchange {
 public:
  // `ring`: the worker's ring (broker links, wake-ups); null in tests (embedded or injected broker,
  // mailboxes pumped by hand).
  Exchange(const ExchangeConfig& cfg, Hub& hub, Delivery& delivery, Metrics& metrics, net::Ring* ring) noexcept;
  ~Exchange();
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // Makes the broker the config names (or takes `broker`, made with broker_events(): tests).
  // Call once, before any request; broker_events() is valid from construction.
  // False: out of memory (error() says what).
  bool start(std::unique_ptr<Broker> broker = nullptr) noexcept;
  Broker::Events& broker_events() noexcept;
  const char* error() const noexcept { return error_; }

  // Requests from a token. Each is answered through Delivery (subscribed / unsubscribed /
  // refused / published), possibly before returning.
  void subscribe(std::uint64_t token, std::string_view topic, std::uint64_t id, bool has_since,
                 std::uint64_t since) noexcept;
  void unsubscribe(std::uint64_t token, std::string_view topic, std::uint64_t id) noexcept;
  // False: out of memory, nothing sent (the route answers). A client's (not api) publish counts
  // in held_bytes(token) until answered.
  // (topic and data move into the request that travels to the owner: no copy beyond the caller's.)
  bool publish(std::uint64_t token, std::string&& topic, std::string&& data, std::uint64_t id, bool api,
               std::uint64_t received_ns) noexcept;
  // The token's connection is gone: its subscriptions go (later, when a delivery walk is running).
  void detach(std::uint64_t token) noexcept;
  // What the token's publishes in flight hold (compared with --max-outbound-bytes by the route).
  std::uint64_t held_bytes(std::uint64_t token) const noexcept;
  // The token's queue is below half the limit: the gap notices the drop policy kept go out.
  void drained(std::uint64_t token) noexcept;

  // The loop: tick every turn; pump(true) after the completions (drains the incoming mailboxes,
  // retries the backlog, wakes who got entries); pump(false) again after the flush when
  // wake_pending() (a backlog waits: retry in 1 ms).
  void tick(std::uint64_t now_ms) noexcept;
  void pump(bool receive) noexcept;
  bool wake_pending() const noexcept;
  // Broker links (external brokers only): completions of kind broker_ud_kind, and once per turn
  // before the flush, poll. shutdown(): after the loop, shut the links and wait (<= 1 s) for their
  // operations on the ring.
  void on_completion(std::uint64_t user_data, std::int32_t res, std::uint64_t now_ms) noexcept;
  void poll(std::uint64_t now_ms) noexcept;
  void shutdown() noexcept;
  // After every worker stopped: frees what is still in the mailboxes addressed to this one.
  void discard_mail() noexcept;

 private:
  friend struct ExchangeEvents;  // the broker's callbacks (exchange_state.hpp)
  // owner side (owner.cpp)
  void owner_sub(SubRequest* r) noexcept;
  void owner_unsub(unsigned from, std::uint64_t topic_id) noexcept;
  void owner_pub(PubRequest* r) noexcept;
  void owner_message(std::string_view topic, std::string_view data, std::uint64_t published_ns) noexcept;
  void answer_sub(OwnedTopic& t, SubRequest* r) noexcept;
  void answer_pending(OwnedTopic& t) noexcept;
  void answer_pub(PubRequest* r, PublishResult result, std::uint64_t receivers) noexcept;
  void restored(OwnedTopic& t) noexcept;
  void release_broker_topic(OwnedTopic& t) noexcept;
  OwnedTopic* owned_topic(std::string_view name, bool create) noexcept;
  void keep_history(OwnedTopic& t, SharedFrame* f) noexcept;
  void drop_oldest(OwnedTopic& t) noexcept;
  void forget_history(OwnedTopic& t) noexcept;
  void sweep_topics() noexcept;
  // routing and mailboxes (exchange.cpp)
  void route_sub(SubRequest* r) noexcept;
  void route_pub(PubRequest* r) noexcept;
  void route_unsub(std::string_view topic, std::uint64_t topic_id) noexcept;
  bool mail(unsigned to, const MailEntry& e, bool control) noexcept;
  void on_mail(const MailEntry& e) noexcept;
  // subscribers on this worker (subscribers.cpp)
  void on_sub_done(SubRequest* r) noexcept;
  void on_pub_done(PubRequest* r) noexcept;
  void attach(SubRequest& r, ConnSubs& cs) noexcept;
  void deliver_local(SharedFrame* f, bool gap) noexcept;
  void enqueue(std::uint64_t token, ConnSubs& cs, std::uint64_t topic, SlowPolicy policy) noexcept;
  void announce_gap(std::uint64_t topic_id) noexcept;
  bool begin_walk() noexcept;
  void end_walk(bool outer) noexcept;
  void detach_one(std::uint64_t token, std::uint64_t topic_id) noexcept;
  void detach_all(std::uint64_t token) noexcept;

  ExchangeConfig cfg_;
  Hub& hub_;
  Delivery& d_;
  Metrics& m_;
  net::Ring* ring_;
  unsigned id_;
  std::unique_ptr<ExchangeState> s_;
  std::uint64_t now_ms_ = 0;
  const char* error_ = "";
};

}  // namespace ringgate::pubsub
