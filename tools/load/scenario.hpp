// Scenario layer: what a connection does once its WebSocket is open. The transport (Worker) owns
// sockets, the handshake, ping/pong and the close handshake; a Scenario only decides which
// messages to send and judges what comes back. One Scenario instance per worker thread, so it
// keeps per-connection state in plain vectors indexed by the worker's connection index.
// The fan-out scenario (fanout_scenario.hpp) uses the same hooks: subscribers send one subscribe
// message in on_open and count deliveries in on_data; publishers send from on_turn, which the
// worker calls once per loop turn (at most ~1 ms apart while ticking() says so).
//
// Echo invariants: a connection keeps at most `inflight` messages outstanding; the server echoes
// in order, so the n-th reply must carry payload pattern(seq n) of exactly `size` bytes with the
// same opcode. Anything else is a mismatch (an error), never an abort.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "histogram.hpp"
#include "ringgate/ws/frame.hpp"

namespace ringgate::load {

// Run phases, set by the main thread and read by each worker once per loop turn.
enum class Phase : std::uint8_t { connecting, warmup, measure, drain, closing, done };

// Where a scenario writes frames. begin() reserves a client frame of `size` payload bytes on the
// connection and returns the payload to fill; commit() masks it. Exactly one begin per commit.
class Outbox {
 public:
  virtual ~Outbox() = default;
  virtual std::uint8_t* begin(std::uint32_t conn, ws::Opcode op, std::size_t size) noexcept = 0;
  virtual void commit(std::uint32_t conn) noexcept = 0;
};

struct ScenarioStats {
  Histogram latency_ns;           // measure phase only
  std::uint64_t messages = 0;     // complete replies received (all phases)
  std::uint64_t measured = 0;     // complete replies received in the measure phase
  std::uint64_t mismatches = 0;   // wrong payload, length or opcode
  std::uint64_t inflight = 0;     // sent and not yet answered, over all connections
  // fanout: subscribe acks / errors, publishes sent / acked / refused, deliveries the acks promise
  // (acked publishes x subscribers of the topic), time of the last sub ack.
  std::uint64_t subscribed = 0, sub_errors = 0, published = 0, acked = 0, pub_errors = 0;
  std::uint64_t expected = 0, last_sub_ns = 0;
};

class Scenario {
 public:
  virtual ~Scenario() = default;
  virtual void attach(std::uint32_t connections) = 0;  // sizes per-connection state
  virtual void begin_turn(Phase phase, std::uint64_t now_ns) noexcept { phase_ = phase, now_ = now_ns; }
  virtual void on_open(std::uint32_t conn, Outbox& out) noexcept = 0;
  virtual void on_data(std::uint32_t conn, ws::Opcode op, std::span<const std::uint8_t> chunk, bool end,
                       Outbox& out) noexcept = 0;
  virtual void on_tick(std::uint32_t /*conn*/, Outbox& /*out*/) noexcept {}
  virtual void on_turn(Outbox& /*out*/) noexcept {}
  virtual bool ticking() const noexcept { return false; }
  virtual bool idle(std::uint32_t conn) const noexcept = 0;  // nothing outstanding: may close now
  const ScenarioStats& stats() const noexcept { return stats_; }

 protected:
  Phase phase_ = Phase::connecting;
  std::uint64_t now_ = 0;
  ScenarioStats stats_;
};

// Payload bytes are printable ASCII (valid UTF-8 for text frames), derived from (seq, offset).
void fill_pattern(std::uint8_t* p, std::size_t n, std::uint64_t seq, std::size_t offset) noexcept;
bool check_pattern(const std::uint8_t* p, std::size_t n, std::uint64_t seq, std::size_t offset) noexcept;

class EchoScenario final : public Scenario {
 public:
  EchoScenario(std::size_t size, std::uint32_t inflight, bool binary) noexcept
      : size_(size), inflight_(inflight ? inflight : 1), op_(binary ? ws::Opcode::binary : ws::Opcode::text) {}
  void attach(std::uint32_t connections) override;
  void on_open(std::uint32_t conn, Outbox& out) noexcept override;
  void on_data(std::uint32_t conn, ws::Opcode op, std::span<const std::uint8_t> chunk, bool end,
               Outbox& out) noexcept override;
  bool idle(std::uint32_t conn) const noexcept override { return state_[conn].outstanding == 0; }

 private:
  struct ConnState {
    std::uint64_t next_send = 0, next_recv = 0;
    std::uint32_t outstanding = 0;
    std::uint32_t received = 0;  // bytes of the reply being assembled
    bool bad = false;            // current reply already counted as a mismatch
  };
  bool sending() const noexcept { return phase_ == Phase::warmup || phase_ == Phase::measure; }
  bool send_one(std::uint32_t conn, Outbox& out) noexcept;

  std::size_t size_;
  std::uint32_t inflight_;
  ws::Opcode op_;
  std::vector<ConnState> state_;
  std::vector<std::uint64_t> sent_at_;  // inflight_ timestamps per connection, a ring by seq
};

// Hold: connections stay open and silent; the transport answers pings.
class HoldScenario final : public Scenario {
 public:
  void attach(std::uint32_t) override {}
  void on_open(std::uint32_t, Outbox&) noexcept override {}
  void on_data(std::uint32_t, ws::Opcode, std::span<const std::uint8_t>, bool end, Outbox&) noexcept override {
    if (end) ++stats_.messages;
  }
  bool idle(std::uint32_t) const noexcept override { return true; }
};

}  // namespace ringgate::load
