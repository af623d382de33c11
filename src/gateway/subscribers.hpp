// Worker::Subscribers: this worker's pubsub::Exchange and the Delivery it calls back. A subscriber
// token is (generation << 32) | slot of a connection. Fanned-out frames go onto the token's send
// queue by reference through the one frame writer (write_shared / replace_shared: one LocalFrame
// per frame per worker, however many subscribers); gap notices as text messages; answers to the
// route of the token's connection (RouteHandler::answers(): the /ws protocol or the HTTP API).
//
// Tokens in the exchange's subscriber tables are live: the route's on_close (at teardown) detaches
// a connection before its slot can be freed, so the per-delivery calls (append, replace) index the
// slab directly; every other call checks the generation.
#pragma once

#include <cstddef>

#include "ringgate/gateway/worker.hpp"
#include "route.hpp"
#include "worker_port.hpp"
#include "ringgate/pubsub/exchange.hpp"

namespace ringgate::gateway {

class Worker::Subscribers final : public pubsub::Delivery {
 public:
  Subscribers(Worker& worker, const pubsub::ExchangeConfig& cfg, pubsub::Hub& hub) noexcept
      : w(worker), exchange(cfg, hub, *this, worker.metrics_, &worker.ring_) {}
  // The worker's exchange, configured from its Config and started (nullptr: `error` says why).
  static std::unique_ptr<Subscribers> make(Worker& w, std::string& error) noexcept;
  // The connection a token names, if it is still the same one (nullptr: gone).
  Connection* conn_of(std::uint64_t token, std::uint32_t& index) noexcept;

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

  // Hands an answer to the route of the token's connection (a connection gone: nothing to do).
  template <class F>
  void with_route(std::uint64_t token, F&& f) noexcept {
    std::uint32_t index;
    Connection* conn = conn_of(token, index);
    if (conn == nullptr) return;
    RouteHandler* route = w.route_handler(*conn);
    PubsubAnswers* answers = route != nullptr ? route->answers() : nullptr;
    if (answers == nullptr) return;
    Port port(w, index, *conn);
    f(*answers, port);
  }

  Worker& w;
  pubsub::Exchange exchange;
  LocalFrame* frame = nullptr;  // between begin_frame and end_frame
};

}  // namespace ringgate::gateway
