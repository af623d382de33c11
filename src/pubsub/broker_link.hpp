// BrokerLink: one TCP connection from a worker to an external broker (Redis, NATS), driven on the
// worker's own ring: connect, one receive at a time into the link's buffer, one send at a time of
// everything the protocol queued since. The protocol above (broker_redis.cpp, broker_nats.cpp) sees
// bytes in and appends bytes out; the link owns the socket and the connection's life:
//
//   backoff --(timer)--> connecting --(connected)--> open --(error, EOF, protocol error, two
//   unanswered pings)--> closing (socket shut down, waiting for its operations) --> backoff
//
// Backoff is "full jitter": a random delay in [0, min(max, min * 2^attempt)], starting afresh
// after a connection that stayed open backoff_reset_ms. Completions carry the link's epoch, so a
// completion from an earlier connection is recognised and ignored.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>

#include "ringgate/pubsub/broker_config.hpp"
#include "ringgate/net/ring.hpp"

namespace ringgate::pubsub {

class BrokerLink;

struct LinkProtocol {
  virtual void link_open(BrokerLink& link) noexcept = 0;  // connected: say hello (or mark ready)
  // Bytes from the broker. False: a protocol error (the link reconnects).
  virtual bool link_bytes(BrokerLink& link, const char* data, std::size_t len) noexcept = 0;
  virtual void link_ping(BrokerLink& link) noexcept = 0;  // append a PING (liveness)
  virtual void link_down(BrokerLink& link) noexcept = 0;  // the connection is gone (was open or connecting)

 protected:
  ~LinkProtocol() = default;
};

class BrokerLink {
 public:
  enum class State : std::uint8_t { backoff, connecting, open, closing };

  // `ud_kind`: the ring owner's user_data kind for broker operations (net/user_data.hpp).
  BrokerLink(net::Ring& ring, LinkProtocol& protocol, const BrokerConfig& cfg, std::uint8_t ud_kind,
             std::uint32_t index, const char* role) noexcept;
  ~BrokerLink();
  BrokerLink(const BrokerLink&) = delete;
  BrokerLink& operator=(const BrokerLink&) = delete;

  // A completion whose user_data names this link (kind ud_kind, slot >> 4 == index).
  void on_completion(std::uint32_t op, std::uint32_t epoch, std::int32_t res, std::uint64_t now_ms) noexcept;
  // Every loop turn: timers (backoff, connect timeout, liveness) and sending what was queued.
  void poll(std::uint64_t now_ms) noexcept;
  // Shuts the socket down for good (the worker is stopping). Done when idle().
  void stop() noexcept;
  bool idle() const noexcept { return inflight_ == 0; }

  // For the protocol.
  State state() const noexcept { return state_; }
  bool ready() const noexcept { return state_ == State::open && ready_; }
  // The handshake is done. True when this is a reconnect (the link had been ready before).
  bool set_ready(std::uint64_t now_ms) noexcept;
  std::string& out() noexcept { return out_; }
  std::size_t pending_bytes() const noexcept { return out_.size() + (wire_.size() - wire_off_); }
  void pong() noexcept { ping_sent_ms_ = 0; }  // any answer to a PING proves the connection alive
  void fail(const char* why) noexcept;          // drop the connection (it reconnects after a backoff)

  static constexpr std::uint32_t kOpConnect = 1, kOpRecv = 2, kOpSend = 3, kOpCancel = 4;

 private:
  void connect(std::uint64_t now_ms) noexcept;
  void arm_recv() noexcept;
  void start_send() noexcept;
  void begin_close() noexcept;
  void maybe_closed() noexcept;
  std::uint64_t ud(std::uint32_t op) const noexcept;

  net::Ring& ring_;
  LinkProtocol& protocol_;
  const BrokerConfig& cfg_;
  std::uint8_t ud_kind_;
  std::uint32_t index_;
  const char* role_;
  State state_ = State::backoff;
  bool ready_ = false, stopping_ = false, sending_ = false, recv_armed_ = false, connect_armed_ = false;
  bool ever_ready_ = false;
  int fd_ = -1;
  std::uint32_t epoch_ = 0;
  std::uint32_t inflight_ = 0;
  std::uint32_t attempt_ = 0;
  std::uint64_t retry_at_ms_ = 0, connect_deadline_ms_ = 0, ready_since_ms_ = 0;
  std::uint64_t next_ping_ms_ = 0, ping_sent_ms_ = 0, now_ms_ = 0;
  std::string out_, wire_;
  std::size_t wire_off_ = 0;
  std::unique_ptr<char[]> in_;
  std::minstd_rand rng_;
  static constexpr std::size_t kInBytes = 65536;
};

}  // namespace ringgate::pubsub
