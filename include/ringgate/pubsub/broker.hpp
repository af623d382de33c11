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
    virtual void on_message(std::string_view topic, std::string_view data) noexcept = 0;
    virtual void on_published(std::uint64_t token, PublishResult result) noexcept = 0;
    virtual void on_state(bool up) noexcept = 0;

   protected:
    ~Events() = default;
  };

  virtual ~Broker() = default;
  virtual void subscribe(std::string_view topic) noexcept = 0;
  virtual void unsubscribe(std::string_view topic) noexcept = 0;
  // Completes with on_published(token, ...) (possibly before returning).
  virtual void publish(std::string_view topic, std::string_view data, std::uint64_t token) noexcept = 0;
  virtual bool up() const noexcept = 0;
  virtual const char* name() const noexcept = 0;
};

// The embedded broker (the default): a loopback. A publish is delivered at once to the owner's
// subscribers (whether or not any exist) and acknowledged; it is never down.
class MemoryBroker final : public Broker {
 public:
  explicit MemoryBroker(Events& events) noexcept : events_(events) {}
  void subscribe(std::string_view) noexcept override {}
  void unsubscribe(std::string_view) noexcept override {}
  void publish(std::string_view topic, std::string_view data, std::uint64_t token) noexcept override {
    events_.on_message(topic, data);
    events_.on_published(token, PublishResult::ok);
  }
  bool up() const noexcept override { return true; }
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
