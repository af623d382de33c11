// Delivery verifier of the fanout mode (see fanout_check.hpp).
#include "fanout_check.hpp"

#include <algorithm>
#include <limits>

namespace ringgate::load {

FanoutCounts& FanoutCounts::operator+=(const FanoutCounts& o) noexcept {
  deliveries += o.deliveries, expected += o.expected, received += o.received, missing += o.missing;
  gap_lost += o.gap_lost, out_of_order += o.out_of_order, gaps += o.gaps, unexpected += o.unexpected;
  return *this;
}

FanoutCheck::Track* FanoutCheck::find(std::uint32_t topic) noexcept {
  for (Track& t : tracks_) {
    if (t.topic == topic) return &t;
  }
  return nullptr;
}
const FanoutCheck::Track* FanoutCheck::find(std::uint32_t topic) const noexcept {
  return const_cast<FanoutCheck*>(this)->find(topic);
}

void FanoutCheck::subscribed(std::uint32_t topic, std::uint64_t ack_seq, std::uint64_t at_ns) {
  Track* t = find(topic);
  if (t == nullptr) t = &tracks_.emplace_back();
  *t = Track{};
  t->topic = topic;
  t->base = ack_seq;
  t->sub_ns = at_ns;
  t->next = ack_seq + 1;
}

void FanoutCheck::close_run(Track& t) {
  if (t.any) t.runs.push_back({t.run_first, t.next - 1});
  t.any = false;
}

void FanoutCheck::feed(std::uint32_t topic, std::uint64_t seq) {
  Track* t = find(topic);
  if (t == nullptr) {
    ++unexpected_;
    return;
  }
  ++t->deliveries;
  if (seq < t->next) {  // repeated or backwards: never fine, and covers nothing
    ++t->out_of_order;
    return;
  }
  if (t->gap_pending) {
    close_run(*t);
    if (seq > t->next) {
      t->covered.push_back({t->next, seq - 1});
    } else {
      t->blind_gap = true;
    }
    t->gap_pending = false;
  } else if (seq > t->next) {  // a jump with no gap: the skipped seqs stay uncovered
    ++t->out_of_order;
    close_run(*t);
  }
  if (!t->any) {
    t->run_first = seq;
    t->any = true;
  }
  t->next = seq + 1;
}

void FanoutCheck::gap(std::uint32_t topic) {
  Track* t = find(topic);
  if (t == nullptr) {
    ++unexpected_;
    return;
  }
  ++t->gaps;
  t->gap_pending = true;
}

namespace {
constexpr std::uint64_t kEnd = std::numeric_limits<std::uint64_t>::max();

std::uint64_t count_in(std::span<const std::uint64_t> sorted, std::uint64_t first, std::uint64_t last) {
  auto lo = std::lower_bound(sorted.begin(), sorted.end(), first);
  auto hi = std::upper_bound(lo, sorted.end(), last);
  return std::uint64_t(hi - lo);
}
}  // namespace

void FanoutCheck::finish_counted(const Track& t, std::span<const std::uint64_t> acked,
                                 std::span<const std::uint64_t> unnumbered, FanoutCounts& c) {
  c.expected = t.base == kEnd ? 0 : count_in(acked, t.base + 1, kEnd);
  c.expected += count_in(unnumbered, t.sub_ns, kEnd);
  std::uint64_t got = 0, skipped = 0;  // distinct seqs received; seqs a gap skipped
  for (const Interval& r : t.runs) got += r.last - r.first + 1;
  if (t.any) got += t.next - t.run_first;
  for (const Interval& g : t.covered) skipped += g.last - g.first + 1;
  c.received = std::min(got, c.expected);
  const std::uint64_t short_by = c.expected - c.received;
  c.gap_lost = t.gap_pending || t.blind_gap ? short_by : std::min(short_by, skipped);
  c.missing = short_by - c.gap_lost;
}

FanoutCounts FanoutCheck::finish(std::uint32_t topic, std::span<const std::uint64_t> acked,
                                 std::span<const std::uint64_t> unnumbered) const {
  FanoutCounts c;
  c.unexpected = unexpected_;
  const Track* t = find(topic);
  if (t == nullptr) return c;
  c.deliveries = t->deliveries;
  c.out_of_order = t->out_of_order;
  c.gaps = t->gaps;
  if (!unnumbered.empty()) {
    finish_counted(*t, acked, unnumbered, c);
    return c;
  }
  c.expected = t->base == kEnd ? 0 : count_in(acked, t->base + 1, kEnd);
  for (const Interval& r : t->runs) c.received += count_in(acked, r.first, r.last);
  if (t->any) c.received += count_in(acked, t->run_first, t->next - 1);
  for (const Interval& g : t->covered) c.gap_lost += count_in(acked, g.first, g.last);
  if (t->gap_pending) c.gap_lost += count_in(acked, t->next, kEnd);
  c.missing = c.expected - c.received - c.gap_lost;
  return c;
}

FanoutCounts FanoutCheck::finish_all(const std::vector<std::vector<std::uint64_t>>& acked_by_topic,
                                     const std::vector<std::vector<std::uint64_t>>& unnumbered_by_topic) const {
  FanoutCounts sum;
  for (const Track& t : tracks_) {
    std::span<const std::uint64_t> acked, unnumbered;
    if (t.topic < acked_by_topic.size()) acked = acked_by_topic[t.topic];
    if (t.topic < unnumbered_by_topic.size()) unnumbered = unnumbered_by_topic[t.topic];
    FanoutCounts c = finish(t.topic, acked, unnumbered);
    c.unexpected = 0;
    sum += c;
  }
  sum.unexpected = unexpected_;
  return sum;
}

}  // namespace ringgate::load
