// Where topics live (--broker): the embedded broker, or an external Redis or NATS server that every
// worker reaches from its own ring (broker links, src/pubsub/broker_link.hpp). Plain data, filled
// by the app's flags (the gateway's Config holds one).
#pragma once

#include <cstdint>
#include <string>

#include "ringgate/net/listener.hpp"

namespace ringgate::pubsub {

enum class BrokerKind : std::uint8_t { embedded, redis, nats };

struct BrokerConfig {
  BrokerKind kind = BrokerKind::embedded;
  net::SockAddr address;       // redis / nats
  std::string url;             // as given, for logs
  bool sharded = false;        // redis: SSUBSCRIBE / SPUBLISH (cluster-style shard channels)
  std::uint64_t ping_interval_ms = 5000;      // liveness: a PING this often; two unanswered -> reconnect
  std::uint64_t linger_ms = 5000;             // a topic's broker subscription outlives its last subscriber this long
  std::uint64_t connect_timeout_ms = 5000;
  std::uint64_t backoff_min_ms = 100, backoff_max_ms = 5000;  // full jitter, doubling
  std::uint64_t backoff_reset_ms = 30000;     // a connection up this long starts the backoff afresh
  std::uint32_t max_pending_bytes = 16u << 20;// unsent commands per connection beyond this: publishes fail
};

}  // namespace ringgate::pubsub
