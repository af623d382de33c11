// The /ws route's side of pub/sub: the worker's Exchange (pubsub module), the JSON request decoder,
// and the Delivery the exchange calls back: a subscriber token is (generation << 32) | slot of a
// connection; frames go onto its send queue as references (LocalFrame), answers as JSON text
// frames, HTTP API publishes are answered by api.cpp.
//
// Tokens in the exchange's subscriber tables are live: the worker's teardown detaches a
// connection before its slot can be freed, so the per-delivery calls (append, replace) index the
// slab directly; every other call checks the generation.
#pragma once

#include <cstddef>

#include "ringgate/gateway/worker.hpp"
#include "ringgate/pubsub/codec.hpp"
#include "ringgate/pubsub/exchange.hpp"

namespace ringgate::gateway {

struct PubsubRoute final : pubsub::Delivery {
  // A request is its data plus the envelope (op, id, topic): 1 KiB is room for the envelope.
  PubsubRoute(Worker& worker, const pubsub::ExchangeConfig& cfg, pubsub::Hub& hub) noexcept
      : w(worker),
        decoder_limit(cfg.max_publish_bytes + 1024),
        decoder(decoder_limit),
        ex(cfg, hub, *this, worker.metrics_, &worker.ring_) {}

  bool begin_frame(pubsub::SharedFrame* f) noexcept override;
  Append append(std::uint64_t token, std::uint64_t max_queued) noexcept override;
  bool replace(std::uint64_t token) noexcept override;
  void end_frame() noexcept override;
  void slow_close(std::uint64_t token) noexcept override;
  void want_drained(std::uint64_t token) noexcept override;
  bool open(std::uint64_t token) noexcept override;
  bool gap(std::uint64_t token, std::string_view json) noexcept override;
  void subscribed(std::uint64_t token, std::uint64_t id, std::uint64_t seq) noexcept override;
  void unsubscribed(std::uint64_t token, std::uint64_t id) noexcept override;
  void refused(std::uint64_t token, std::uint64_t id, pubsub::ErrorCode code, std::string_view why) noexcept override;
  void published(const PubAnswer& a) noexcept override;

  Worker& w;
  std::size_t decoder_limit;
  pubsub::Decoder decoder;
  pubsub::Exchange ex;
  LocalFrame* frame = nullptr;  // between begin_frame and end_frame
};

}  // namespace ringgate::gateway
