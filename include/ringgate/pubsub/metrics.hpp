// Pub/sub's counters and gauges, one set per worker: the worker's Exchange (and the gateway's
// route glue on the same thread: client publishes, error replies, slow-consumer closes) is the
// only writer; the gateway's WorkerMetrics includes them and the admin endpoint renders them
// (gateway/metrics.cpp), under the same Prometheus names as before the move.
#pragma once

#include <array>
#include <cstdint>

#include "ringgate/core/metrics.hpp"
#include "ringgate/pubsub/codec.hpp"

namespace ringgate::pubsub {

// One observation in a histogram of non-cumulative buckets with bounds in microseconds (beyond
// the last bound only the count and sum move: the +Inf bucket is the count).
template <std::size_t N>
void observe_us(const std::array<std::uint32_t, N>& bounds_us, std::array<Counter, N>& buckets, Counter& count,
                Counter& sum_ns, std::uint64_t ns) noexcept {
  const std::uint64_t us = ns / 1000;
  for (std::size_t i = 0; i < N; ++i) {
    if (us < bounds_us[i]) {
      buckets[i].add();
      break;
    }
  }
  count.add();
  sum_ns.add(ns);
}

struct Metrics {
  // Pub/sub (route /ws) and the HTTP API.
  Gauge pubsub_subscriptions;  // attached subscriptions on this worker
  Gauge pubsub_topics;         // topics with at least one subscriber on this worker
  Counter pubsub_published_ws, pubsub_published_api;
  Counter pubsub_deliveries;   // messages queued for a subscriber
  std::array<Counter, 3> pubsub_dropped;  // slow_consumer, conflated, ring_full
  Counter pubsub_slow_closes;
  Counter pubsub_gaps;         // gap notices sent
  Gauge pubsub_history_bytes;  // memory of the messages this worker keeps for recovery
  Counter pubsub_history_evictions;  // kept messages forgotten early under --history-max-bytes
  Counter pubsub_ring_overflows;  // mailbox full: a message dropped or a control entry delayed
  std::array<Counter, kErrorCodes> pubsub_errors;
  // From a publish accepted by this node to the message queued on a subscriber's connection.
  static constexpr std::array<std::uint32_t, 12> kLatencyBucketsUs = {10,   25,   50,    100,   250,    500,
                                                                      1000, 2500, 10000, 50000, 250000, 1000000};
  std::array<Counter, kLatencyBucketsUs.size()> latency_buckets;  // non-cumulative here
  Counter latency_count, latency_sum_ns;
  void observe_delivery_latency(std::uint64_t ns) noexcept {
    observe_us(kLatencyBucketsUs, latency_buckets, latency_count, latency_sum_ns, ns);
  }
  // The broker (--broker): per worker 1 while all its broker connections are ready.
  Gauge broker_up;
  Counter broker_reconnects;     // connections made again after one was lost
  Counter broker_resubscribed;   // topics subscribed again after a reconnect
  Counter broker_messages;       // messages in from the broker
  Counter broker_publish_failures;  // publishes refused (broker down, over its limits) or failed
  // A publish sent to the broker -> its reply.
  static constexpr std::array<std::uint32_t, 12> kBrokerLatencyBucketsUs = {50,   100,   250,   500,    1000,   2500,
                                                                            5000, 10000, 25000, 100000, 500000, 2000000};
  std::array<Counter, kBrokerLatencyBucketsUs.size()> broker_latency_buckets;  // non-cumulative here
  Counter broker_latency_count, broker_latency_sum_ns;
  void observe_broker_publish(std::uint64_t ns) noexcept {
    observe_us(kBrokerLatencyBucketsUs, broker_latency_buckets, broker_latency_count, broker_latency_sum_ns, ns);
  }
};

}  // namespace ringgate::pubsub
