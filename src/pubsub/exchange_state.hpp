// An Exchange's state (private to pubsub): the topics its tokens subscribe to (LocalTopic), the
// topics it owns (OwnedTopic: sequence numbers, history, which workers are interested), and the
// request objects that travel between workers through the Hub's mailboxes.
//
// Ownership across workers: a request object belongs to whoever holds the mailbox entry that
// carries it; the reply travels back in the same object. A frame in a kMailDeliver entry carries
// one shared reference.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "history.hpp"
#include "ringgate/core/string_map.hpp"
#include "ringgate/pubsub/broker.hpp"
#include "ringgate/pubsub/codec.hpp"
#include "ringgate/pubsub/frame.hpp"
#include "ringgate/pubsub/mailbox.hpp"
#include "ringgate/pubsub/policy.hpp"
#include "ringgate/pubsub/exchange.hpp"

namespace ringgate::pubsub {

class IoBroker;  // external_broker.hpp

enum MailKind : std::uint32_t {
  kMailDeliver = 1,  // owner -> worker: p = SharedFrame (one reference), a = 1 when a gap precedes it
  kMailSub,          // worker -> owner: p = SubRequest
  kMailSubDone,      // owner -> worker: the same SubRequest, answered
  kMailUnsub,        // worker -> owner: a = worker, b = topic id (one subscription fewer)
  kMailPub,          // worker -> owner: p = PubRequest
  kMailPubDone,      // owner -> worker: the same PubRequest, answered
  kMailGap,          // owner -> worker: b = topic id; the broker lost the topic's messages for a while
};

struct SubRequest {
  std::string topic;
  unsigned from = 0;
  std::uint64_t token = 0;  // the requesting subscriber
  std::uint64_t id = 0;
  bool has_since = false;
  std::uint64_t since = 0;
  // Filled by the owner.
  std::uint64_t topic_id = 0, seq = 0;
  bool gap = false;
  std::vector<pubsub::SharedFrame*> replay;  // one reference each, in seq order
};

struct PubRequest {
  // What a publish in flight holds: its copy of the data and topic, and the request itself.
  std::uint64_t cost() const noexcept { return sizeof(PubRequest) + topic.size() + data.size(); }
  std::string topic, data;
  unsigned from = 0;
  std::uint64_t token = 0;
  std::uint64_t id = 0;
  bool api = false;  // from the HTTP API (the reply is an HTTP response)
  std::uint64_t received_ns = 0;
  // Filled by the owner.
  pubsub::PublishResult result = pubsub::PublishResult::unavailable;
  std::uint64_t seq = 0, delivered = 0;
};

struct OwnedTopic {
  std::string name;
  std::uint64_t id = 0;
  std::uint64_t seq = 0;                  // last sequence number given
  std::vector<std::uint32_t> counts;      // subscriptions per worker
  std::uint64_t total = 0;
  std::uint64_t interest = 0;             // workers with counts > 0
  std::uint64_t gap = 0;                  // workers whose last delivery was dropped (ring full)
  std::deque<pubsub::SharedFrame*> history;  // one reference each, oldest first
  std::uint64_t idle_since_ms = 0;        // last message or last subscriber gone
  std::uint64_t unused_since_ms = 0;      // the last subscriber left (the broker subscription lingers)
  bool subscribed = false;                // we asked the broker for the topic (and have not let go)
  bool confirmed = false;                 // the broker holds the subscription
  std::vector<SubRequest*> pending;       // subscriptions answered once the broker confirms
};

struct ConnSubs;
struct LocalSub {
  std::uint64_t token;
  ConnSubs* cs;  // its entry in ExchangeState::conns (node-based map: the address is stable)
};

struct LocalTopic {
  std::string name;
  std::uint64_t id = 0;
  std::uint64_t last_seq = 0;             // last message delivered here
  pubsub::SlowPolicy policy = pubsub::SlowPolicy::disconnect;
  std::vector<LocalSub> subs;
};

struct ConnSub {
  std::uint64_t topic;  // topic id
  std::uint32_t pos;    // index in LocalTopic::subs
};

struct ConnSubs {
  std::vector<ConnSub> topics;
  std::vector<std::uint64_t> gaps;  // topics with a gap to announce once the queue drains (drop policy)
  std::uint32_t pending = 0;        // subscriptions waiting for their owner's answer
  std::uint64_t pub_bytes = 0;      // publishes the owner or broker has not answered (PubRequest::cost)
};

// The broker's callbacks, into the owner side (owner.cpp).
struct ExchangeEvents final : Broker::Events {
  Exchange& x;
  explicit ExchangeEvents(Exchange& exchange) noexcept : x(exchange) {}
  void on_message(std::string_view topic, std::string_view data, std::uint64_t published_ns) noexcept override;
  void on_published(std::uint64_t token, PublishResult result, std::uint64_t receivers) noexcept override;
  void on_subscribed(std::string_view topic, bool restored) noexcept override;
  void on_subscriptions_lost() noexcept override;
  void on_state(bool up) noexcept override;
};

struct ExchangeState {
  explicit ExchangeState(Exchange& x) noexcept : events(x) {}
  ExchangeEvents events;
  std::unique_ptr<pubsub::Broker> broker;
  IoBroker* io = nullptr;  // the broker, when its connections run on our ring (Redis, NATS)
  // Topics this worker's connections subscribe to.
  std::unordered_map<std::uint64_t, LocalTopic> local;
  StringMap<std::uint64_t> local_ids;
  std::unordered_map<std::uint64_t, ConnSubs> conns;  // by token
  // Topics this worker owns.
  StringMap<std::unique_ptr<OwnedTopic>> owned;
  std::unordered_map<std::uint64_t, OwnedTopic*> owned_ids;
  HistoryLedger history;  // every owned topic's kept messages, oldest first (--history-max-bytes)
  std::uint64_t next_topic_id = 1;
  PubRequest* publishing = nullptr;  // the request the broker is publishing (loopback)
  // While a frame is handed to a topic's subscribers, a teardown (out of memory) must not change
  // the subscriber list being walked: its detach waits here until the walk is over.
  bool delivering = false;
  std::vector<std::uint64_t> deferred_detach;
  // Cross-worker plumbing: control entries that found a mailbox full wait here, in order.
  std::vector<std::deque<pubsub::MailEntry>> backlog;
  std::uint64_t wake = 0;            // workers that got entries this turn
  std::uint64_t next_sweep_ms = 0;
};

}  // namespace ringgate::pubsub
