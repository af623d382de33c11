// Broker: where messages come from and go to. One instance per worker, called only on that
// worker's thread, and only for the topics that worker owns (owner = hash of the name, see
// topic_owner()): so each message enters the node once, through its owner.
//
// The owner subscribes when a topic gets its first subscriber on the node and unsubscribes when
// the last one leaves; it publishes on behalf of any worker (the request hops to the owner first).
// Messages arrive through Events::on_message, from the embedded broker synchronously (a loopback)
// or from an external broker (Redis, NATS) later. Sequence numbers and history belong to the
// fan-out layer above, which numbers what the broker delivers, so every broker gets them.
#pragma once

#include <cstdint>
#include <string_view>

namespace ringgate::pubsub {

enum class PublishResult : std::uint8_t { ok, unavailable };

class Broker {
 public:
  struct Events {
    // A message for a topic the owner subscribed to. `published_ns` is when it was published on
    // the monotonic clock, as well as known (0 = unknown: now).
    virtual void on_message(std::string_view topic, std::string_view data, std::uint64_t published_ns) noexcept = 0;
    // `receivers`: what the broker reported (Redis: the subscriptions that got it; 0 when unknown).
    virtual void on_published(std::uint64_t token, PublishResult result, std::uint64_t receivers) noexcept = 0;
    // The broker confirmed a subscription. `restored`: it had been lost (or was asked for while the
    // broker was down), so messages may have been missed in between.
    virtual void on_subscribed(std::string_view topic, bool restored) noexcept = 0;
    // Every subscription is gone until the broker is back (each comes back with on_subscribed).
    virtual void on_subscriptions_lost() noexcept = 0;
    virtual void on_state(bool up) noexcept = 0;

   protected:
    ~Events() = default;
  };

  virtual ~Broker() = default;
  // Idempotent per topic: the fan-out layer calls subscribe once for the first subscriber and
  // unsubscribe once for the last. A subscription asked for while the broker is down is made when
  // it is back (and reported restored).
  virtual void subscribe(std::string_view topic) noexcept = 0;
  virtual void unsubscribe(std::string_view topic) noexcept = 0;
  // Completes with on_published(token, ...) (possibly before returning).
  virtual void publish(std::string_view topic, std::string_view data, std::uint64_t token) noexcept = 0;
  // Publishing works (else publishes fail at once, nothing is buffered).
  virtual bool up() const noexcept = 0;
  // Subscriptions can be confirmed now (else they are kept and restored later).
  virtual bool subscribing() const noexcept { return up(); }
  // Publishes are delivered synchronously, before on_published (the embedded broker).
  virtual bool loopback() const noexcept { return false; }
  virtual const char* name() const noexcept = 0;
};

// The embedded broker (the default): a loopback. A publish is delivered at once to the owner's
// subscribers (whether or not any exist) and acknowledged; it is never down.
class MemoryBroker final : public Broker {
 public:
  explicit MemoryBroker(Events& events) noexcept : events_(events) {}
  void subscribe(std::string_view topic) noexcept override { events_.on_subscribed(topic, false); }
  void unsubscribe(std::string_view) noexcept override {}
  void publish(std::string_view topic, std::string_view data, std::uint64_t token) noexcept override {
    events_.on_message(topic, data, 0);
    events_.on_published(token, PublishResult::ok, 0);
  }
  bool up() const noexcept override { return true; }
  bool loopback() const noexcept override { return true; }
  const char* name() const noexcept override { return "embedded"; }

 private:
  Events& events_;
};

// The worker that owns a topic: FNV-1a of the name, modulo the worker count.
inline unsigned topic_owner(std::string_view topic, unsigned workers) noexcept {
  std::uint64_t h = 14695981039346656037ull;  // FNV-1a 64 offset basis
  for (unsigned char c : topic) h = (h ^ c) * 1099511628211ull;
  return workers == 0 ? 0 : unsigned(h % workers);
}

}  // namespace ringgate::pubsub
