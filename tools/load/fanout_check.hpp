// Delivery verifier of the fanout mode: one instance per subscriber connection, fed with the
// (topic, seq) of every `msg` frame and every `gap` frame, then judged at the end against the set
// of sequence numbers the publishers saw acknowledged for each topic.
//
// Rules (issue 6 spec): per subscriber and topic, seq rises by exactly 1 between consecutive msgs
// unless a `gap` for that topic came in between. Anything else is out-of-order (a backward or
// repeated seq is ignored for coverage; a forward jump starts a new run, and the skipped seqs
// count as missing when acked). An acked seq above the subscription's ack seq must have been
// received, or lie in a stretch a gap covers (between the run before the gap and the first msg
// after it, or anything after a trailing gap). Pure and allocation-free while runs are unbroken.
//
// Acks without a number (seq 0: an external broker, where the seq is only known when the message
// comes back) are judged by count instead: per subscriber, the distinct seqs received must reach
// the number of such publishes sent at or after its sub ack arrived (plus any numbered acks above
// its ack seq). The shortfall is excused by what gaps cover: the seqs a gap skipped, or all of it
// when a gap skipped nothing (a broker outage loses messages before they get a seq) or came last.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace ringgate::load {

struct FanoutCounts {
  std::uint64_t deliveries = 0;    // msg frames fed
  std::uint64_t expected = 0;      // acked seqs above the subscription point
  std::uint64_t received = 0;      // of those, received
  std::uint64_t missing = 0;       // of those, neither received nor covered by a gap
  std::uint64_t gap_lost = 0;      // of those, not received but covered by a gap
  std::uint64_t out_of_order = 0;  // msgs breaking the +1 rule without a gap
  std::uint64_t gaps = 0;          // gap frames
  std::uint64_t unexpected = 0;    // msgs for a topic never subscribed

  FanoutCounts& operator+=(const FanoutCounts& o) noexcept;
};

class FanoutCheck {
 public:
  // The sub ack: `ack_seq` is the topic's last seq at subscribe time; msgs start at ack_seq + 1.
  // `at_ns`: when the ack was read (publishes sent from then on must arrive; count mode only).
  void subscribed(std::uint32_t topic, std::uint64_t ack_seq, std::uint64_t at_ns = 0);
  void feed(std::uint32_t topic, std::uint64_t seq);
  void gap(std::uint32_t topic);
  // Counts for `topic` against its acked seqs (sorted ascending, unique). Deliveries, gaps and
  // out-of-order are the topic's own; unexpected msgs are reported with every topic's call, so
  // sum them once (see finish_all). `unnumbered`: send times of the topic's publishes acked with
  // seq 0 (sorted ascending); when not empty the topic is judged by count (see above).
  FanoutCounts finish(std::uint32_t topic, std::span<const std::uint64_t> acked,
                      std::span<const std::uint64_t> unnumbered = {}) const;
  // Sum over the subscribed topics; acked_by_topic[t] and unnumbered_by_topic[t] as above
  // (missing index = nothing acked).
  FanoutCounts finish_all(const std::vector<std::vector<std::uint64_t>>& acked_by_topic,
                          const std::vector<std::vector<std::uint64_t>>& unnumbered_by_topic = {}) const;
  bool is_subscribed(std::uint32_t topic) const noexcept { return find(topic) != nullptr; }

 private:
  struct Interval {
    std::uint64_t first, last;  // inclusive
  };
  struct Track {
    std::uint32_t topic = 0;
    bool gap_pending = false;  // a gap arrived since the last msg
    bool any = false;          // a msg has started the current run
    bool blind_gap = false;    // a gap after which no seq was skipped: an unknown number lost
    std::uint64_t base = 0;    // sub ack seq
    std::uint64_t sub_ns = 0;  // when the sub ack was read
    std::uint64_t next = 1;    // expected next seq
    std::uint64_t run_first = 0;
    std::uint64_t deliveries = 0, out_of_order = 0, gaps = 0;
    std::vector<Interval> runs;     // closed runs of received seqs (ascending)
    std::vector<Interval> covered;  // stretches a gap excuses (ascending); last may be open-ended
  };
  Track* find(std::uint32_t topic) noexcept;
  const Track* find(std::uint32_t topic) const noexcept;
  static void close_run(Track& t);
  static void finish_counted(const Track& t, std::span<const std::uint64_t> acked,
                             std::span<const std::uint64_t> unnumbered, FanoutCounts& c);

  std::vector<Track> tracks_;
  std::uint64_t unexpected_ = 0;
};

}  // namespace ringgate::load
