// Fanout scenario: the per-worker half of `ringgate-load fanout` over WebSockets. Global
// connection j (= local * workers + worker id) is subscriber j when j < S, else publisher j - S
// (--via ws only). Subscriber i sends one `sub` for load.<i % T> when it opens; every frame it gets
// goes through a FanoutCheck (seq rules) and, for msgs, the latency histogram (now - data.t, only
// for messages published after the measure window opened). Publisher p sends, from on_turn, its
// share R / P of the rate paced by elapsed time since publishing began (not by acks): message n
// (id n + 1) goes to topic (n * P + p) % T, so the topic of an ack is known from its id alone.
// Acked seqs are kept per topic for the final completeness check (FanoutRun merges all workers);
// an ack with seq 0 (external broker: number unknown at ack time) keeps the message's send time
// instead, and the topic is then checked by count (see fanout_check.hpp).
// Frames split over several recv chunks are assembled per connection (capped at 1 MiB).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fanout_check.hpp"
#include "scenario.hpp"
#include "worker.hpp"

namespace ringgate::load {

class FanoutScenario final : public Scenario {
 public:
  FanoutScenario(const Options& o, const WorkerShared& shared, unsigned worker_id) noexcept
      : o_(o), shared_(shared), id_(worker_id) {}
  void attach(std::uint32_t connections) override;
  void on_open(std::uint32_t conn, Outbox& out) noexcept override;
  void on_data(std::uint32_t conn, ws::Opcode op, std::span<const std::uint8_t> chunk, bool end,
               Outbox& out) noexcept override;
  void on_turn(Outbox& out) noexcept override;
  bool ticking() const noexcept override { return !pubs_.empty() && publishing(); }
  bool idle(std::uint32_t) const noexcept override { return true; }

  // Valid after the worker stopped.
  const std::vector<std::vector<std::uint64_t>>& acked_by_topic() const noexcept { return acked_; }
  const std::vector<std::vector<std::uint64_t>>& unnumbered_by_topic() const noexcept { return unnumbered_; }
  FanoutCounts finish(const std::vector<std::vector<std::uint64_t>>& acked_by_topic,
                      const std::vector<std::vector<std::uint64_t>>& unnumbered_by_topic = {}) const;
  std::uint64_t bad_frames() const noexcept { return bad_frames_; }
  std::uint64_t first_t_ns() const noexcept { return first_t_ns_; }
  std::uint64_t last_delivery_ns() const noexcept { return last_delivery_ns_; }
  const std::string& first_error() const noexcept { return first_error_; }

  static std::uint32_t subscribers_of(std::uint32_t topic, std::uint32_t s, std::uint32_t t) noexcept {
    return s / t + (topic < s % t ? 1 : 0);
  }

 private:
  struct Conn {
    bool publisher = false, sub_sent = false, oversize = false;
    std::uint32_t index = 0;  // subscriber i or publisher p
    std::uint32_t pub = 0;    // publisher: its entry in pubs_
    std::string partial;      // a text message spread over several chunks
  };
  struct Pub {
    std::uint32_t conn = 0, p = 0;
    std::uint64_t sent = 0;
    std::vector<std::uint64_t> sent_ns;  // send time of message n (for acks with seq 0)
  };
  bool publishing() const noexcept { return phase_ == Phase::warmup || phase_ == Phase::measure; }
  void on_message(std::uint32_t conn, std::string_view text) noexcept;
  void on_msg(std::uint32_t conn, std::string_view text) noexcept;
  void on_ack(std::uint32_t conn, std::string_view text) noexcept;
  bool publish(Pub& pub, Outbox& out) noexcept;
  void note_error(std::string_view text);

  const Options& o_;
  const WorkerShared& shared_;
  unsigned id_;
  std::vector<Conn> conns_;
  std::vector<FanoutCheck> checks_;  // per connection (publishers' stay empty)
  std::vector<Pub> pubs_;
  std::vector<std::vector<std::uint64_t>> acked_;       // per topic, in arrival order
  std::vector<std::vector<std::uint64_t>> unnumbered_;  // per topic: send times of seq-0 acks
  std::uint64_t bad_frames_ = 0, first_t_ns_ = ~0ull, last_delivery_ns_ = 0;
  bool burst_done_ = false;
  std::string first_error_;
};

}  // namespace ringgate::load
