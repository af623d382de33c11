// This worker's subscribers (tokens): their requests, attaching a subscription once its owner has
// answered, and delivery of published frames under each topic's slow-consumer policy.
//
// A subscription is attached only when the topic's owner has answered (with its sequence number
// and any history to replay), and the owner's deliveries come through the same FIFO mailbox as
// that answer, so a subscriber's messages start right after what its ack announced.
#include <cstdint>

#include "exchange_state.hpp"
#include "ringgate/core/clock.hpp"

namespace ringgate::pubsub {
namespace {
constexpr std::uint64_t kNoLimit = ~std::uint64_t(0);
}  // namespace

void Exchange::subscribe(std::uint64_t token, std::string_view topic, std::uint64_t id, bool has_since,
                         std::uint64_t since) noexcept {
  ConnSubs& cs = s_->conns[token];
  if (auto it = s_->local_ids.find(topic); it != s_->local_ids.end()) {
    for (const ConnSub& s : cs.topics) {
      if (s.topic == it->second) {  // already subscribed: the ack repeats where the topic is
        d_.subscribed(token, id, s_->local[s.topic].last_seq);
        return;
      }
    }
  }
  if (cs.topics.size() + cs.pending >= cfg_.max_subscriptions) {
    d_.refused(token, id, ErrorCode::limit_exceeded, "too many subscriptions");
    return;
  }
  auto* r = new (std::nothrow) SubRequest;
  if (r == nullptr) {
    d_.refused(token, id, ErrorCode::unavailable, "out of memory");
    return;
  }
  r->topic.assign(topic);
  r->from = id_;
  r->token = token;
  r->id = id;
  r->has_since = has_since;
  r->since = since;
  ++cs.pending;
  route_sub(r);
}

void Exchange::on_sub_done(SubRequest* r) noexcept {
  std::unique_ptr<SubRequest> own(r);
  auto cs_it = s_->conns.find(r->token);
  if (cs_it != s_->conns.end() && cs_it->second.pending > 0) --cs_it->second.pending;
  bool duplicate = false;
  if (cs_it != s_->conns.end()) {
    for (const ConnSub& s : cs_it->second.topics) duplicate |= s.topic == r->topic_id;
  }
  if (cs_it == s_->conns.end() || duplicate || !d_.open(r->token)) {
    // The token left (or asked twice) while the owner answered: give the count back.
    route_unsub(r->topic, r->topic_id);
    for (SharedFrame* f : r->replay) f->release();
    if (duplicate) d_.subscribed(r->token, r->id, r->seq);
    return;
  }
  attach(*r, cs_it->second);
}

void Exchange::attach(SubRequest& r, ConnSubs& cs) noexcept {
  auto [lt_it, created] = s_->local.try_emplace(r.topic_id);
  LocalTopic& lt = lt_it->second;
  if (created) {
    lt.name = r.topic;
    lt.id = r.topic_id;
    lt.policy = cfg_.slow_consumer.for_topic(r.topic);
    s_->local_ids.emplace(r.topic, r.topic_id);
    m_.pubsub_topics.add(1);
  }
  if (lt.last_seq < r.seq) lt.last_seq = r.seq;
  cs.topics.push_back(ConnSub{r.topic_id, std::uint32_t(lt.subs.size())});
  lt.subs.push_back(LocalSub{r.token, &cs});
  m_.pubsub_subscriptions.add(1);
  // What follows may tear the connection down (out of memory): `cs` and `lt` must stay.
  const bool outer = begin_walk();
  d_.subscribed(r.token, r.id, r.seq);
  if (r.gap) {
    m_.pubsub_gaps.add();
    char gap[256];
    (void)d_.gap(r.token, std::string_view(gap, encode_gap(gap, sizeof gap, lt.name)));
  }
  for (SharedFrame* f : r.replay) {
    if (!d_.begin_frame(f)) {
      f->release();
      continue;
    }
    enqueue(r.token, cs, lt.id, lt.policy);
    d_.end_frame();
  }
  end_walk(outer);
}

// While a walk (a frame handed to a topic's subscribers, a subscription's replay) runs, a teardown
// must not change the tables being walked: its detach waits until the outermost walk is over.
bool Exchange::begin_walk() noexcept {
  const bool outer = s_->delivering;
  s_->delivering = true;
  return outer;
}

void Exchange::end_walk(bool outer) noexcept {
  s_->delivering = outer;
  if (outer || s_->deferred_detach.empty()) return;
  std::vector<std::uint64_t> detach;
  detach.swap(s_->deferred_detach);
  for (std::uint64_t token : detach) detach_all(token);
}

void Exchange::unsubscribe(std::uint64_t token, std::string_view topic, std::uint64_t id) noexcept {
  auto it = s_->local_ids.find(topic);
  auto cs = s_->conns.find(token);
  bool found = false;
  if (it != s_->local_ids.end() && cs != s_->conns.end()) {
    for (const ConnSub& s : cs->second.topics) found |= s.topic == it->second;
  }
  if (!found) {
    d_.refused(token, id, ErrorCode::unknown_topic, "not subscribed");
    return;
  }
  detach_one(token, it->second);
  d_.unsubscribed(token, id);
}

void Exchange::detach_one(std::uint64_t token, std::uint64_t topic_id) noexcept {
  ConnSubs& cs = s_->conns[token];
  std::uint32_t pos = 0;
  bool found = false;
  for (std::size_t i = 0; i < cs.topics.size(); ++i) {
    if (cs.topics[i].topic != topic_id) continue;
    pos = cs.topics[i].pos;
    cs.topics[i] = cs.topics.back();
    cs.topics.pop_back();
    found = true;
    break;
  }
  if (!found) return;
  auto lt_it = s_->local.find(topic_id);
  if (lt_it == s_->local.end()) return;
  LocalTopic& lt = lt_it->second;
  // Swap-remove, and tell the moved subscriber where it is now.
  const LocalSub moved = lt.subs.back();
  lt.subs[pos] = moved;
  lt.subs.pop_back();
  if (moved.token != token) {
    for (ConnSub& s : moved.cs->topics) {
      if (s.topic == topic_id) s.pos = pos;
    }
  }
  m_.pubsub_subscriptions.add(-1);
  const std::string name = lt.name;
  if (lt.subs.empty()) {
    s_->local_ids.erase(lt.name);
    s_->local.erase(lt_it);
    m_.pubsub_topics.add(-1);
  }
  route_unsub(name, topic_id);
}

void Exchange::detach(std::uint64_t token) noexcept {
  if (s_->delivering) {
    s_->deferred_detach.push_back(token);
  } else {
    detach_all(token);
  }
}

void Exchange::detach_all(std::uint64_t token) noexcept {
  auto it = s_->conns.find(token);
  if (it == s_->conns.end()) return;
  while (!it->second.topics.empty()) detach_one(token, it->second.topics.back().topic);
  s_->conns.erase(it);  // answers still on their way find no entry and give their counts back
}

bool Exchange::publish(std::uint64_t token, std::string&& topic, std::string&& data, std::uint64_t id, bool api,
                       std::uint64_t received_ns) noexcept {
  auto* r = new (std::nothrow) PubRequest;
  if (r == nullptr) return false;
  r->topic = std::move(topic);
  r->data = std::move(data);
  r->from = id_;
  r->token = token;
  r->id = id;
  r->api = api;
  r->received_ns = received_ns;
  // A client's publishes in flight count against its --max-outbound-bytes like its queued
  // replies (held_bytes): one that publishes faster than the owner answers stops being read.
  if (!api) s_->conns[token].pub_bytes += r->cost();
  route_pub(r);
  return true;
}

std::uint64_t Exchange::held_bytes(std::uint64_t token) const noexcept {
  auto it = s_->conns.find(token);
  return it != s_->conns.end() ? it->second.pub_bytes : 0;
}

void Exchange::on_pub_done(PubRequest* r) noexcept {
  std::unique_ptr<PubRequest> own(r);
  if (!r->api) {
    if (auto it = s_->conns.find(r->token); it != s_->conns.end()) it->second.pub_bytes -= r->cost();
  }
  d_.published(Delivery::PubAnswer{r->token, r->id, r->api, r->result, r->seq, r->delivered});
}

void Exchange::deliver_local(SharedFrame* f, bool gap) noexcept {
  auto it = s_->local.find(f->topic_id);
  if (it == s_->local.end()) {
    f->release();
    return;
  }
  LocalTopic& lt = it->second;
  const std::uint64_t published_ns = f->published_ns;
  const std::uint64_t seq = f->seq;
  if (!d_.begin_frame(f)) {
    f->release();
    return;
  }
  m_.observe_delivery_latency(monotonic_ns() - published_ns);
  char gap_json[256];
  const std::size_t gap_len = gap ? encode_gap(gap_json, sizeof gap_json, lt.name) : 0;
  if (gap) m_.pubsub_gaps.add();
  lt.last_seq = seq;
  // A slow-consumer close does not detach (the route's teardown does, deferred while we walk).
  const bool outer = begin_walk();
  for (std::size_t i = 0; i < lt.subs.size(); ++i) {
    const LocalSub sub = lt.subs[i];
    if (gap_len != 0 && !d_.gap(sub.token, std::string_view(gap_json, gap_len))) continue;
    enqueue(sub.token, *sub.cs, lt.id, lt.policy);
  }
  d_.end_frame();
  end_walk(outer);
}

// The slow-consumer policy: the route says whether the frame fits under --max-outbound-bytes;
// what happens when it does not is decided here.
void Exchange::enqueue(std::uint64_t token, ConnSubs& cs, std::uint64_t topic, SlowPolicy policy) noexcept {
  if (!cs.gaps.empty()) {
    // A message of this topic was dropped: the rest wait for the gap notice (drop policy).
    for (std::uint64_t t : cs.gaps) {
      if (t == topic) {
        if (d_.open(token)) m_.pubsub_dropped[0].add();  // (a closing connection is skipped, not counted)
        return;
      }
    }
  }
  Delivery::Append a = d_.append(token, cfg_.max_outbound_bytes);
  if (a == Delivery::Append::over_limit) {
    switch (policy) {
      case SlowPolicy::disconnect:
        d_.slow_close(token);
        return;
      case SlowPolicy::drop:
        m_.pubsub_dropped[0].add();
        if (cs.gaps.empty()) d_.want_drained(token);
        cs.gaps.push_back(topic);
        return;
      case SlowPolicy::conflate:
        if (d_.replace(token)) {
          m_.pubsub_dropped[1].add();
          m_.pubsub_deliveries.add();
          return;
        }
        break;  // nothing of this topic is queued: queue it (one per topic beyond the limit)
    }
    a = d_.append(token, kNoLimit);
  }
  if (a == Delivery::Append::closed) return;
  if (a == Delivery::Append::failed) {
    d_.slow_close(token);
    return;
  }
  m_.pubsub_deliveries.add();
}

void Exchange::drained(std::uint64_t token) noexcept {
  auto it = s_->conns.find(token);
  if (it == s_->conns.end()) return;
  for (std::uint64_t topic : it->second.gaps) {
    auto lt = s_->local.find(topic);
    if (lt == s_->local.end()) continue;
    m_.pubsub_gaps.add();
    char gap[256];
    (void)d_.gap(token, std::string_view(gap, encode_gap(gap, sizeof gap, lt->second.name)));
  }
  it->second.gaps.clear();
}

void Exchange::announce_gap(std::uint64_t topic_id) noexcept {
  auto it = s_->local.find(topic_id);
  if (it == s_->local.end()) return;
  char gap[256];
  const std::string_view json(gap, encode_gap(gap, sizeof gap, it->second.name));
  for (const LocalSub& sub : it->second.subs) {
    if (d_.gap(sub.token, json)) m_.pubsub_gaps.add();
  }
}

}  // namespace ringgate::pubsub
