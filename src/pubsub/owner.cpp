// The owner's side of the exchange. Each topic has one owner worker (hash of its name). The owner
// counts the node's subscriptions per worker, holds the broker subscription, numbers the messages
// the broker delivers, keeps the topic's history, frames each message once and hands one
// reference to every interested worker through that worker's mailbox.
#include <bit>

#include "exchange_state.hpp"
#include "ringgate/core/check.hpp"
#include "ringgate/core/clock.hpp"
#include "ringgate/core/log.hpp"

namespace ringgate::pubsub {

OwnedTopic* Exchange::owned_topic(std::string_view name, bool create) noexcept {
  auto it = s_->owned.find(name);
  if (it != s_->owned.end()) return it->second.get();
  if (!create) return nullptr;
  auto t = std::make_unique<OwnedTopic>();
  t->name.assign(name);
  // Ids are unique per process: the owner's number in the top byte.
  t->id = std::uint64_t(id_) << 56 | s_->next_topic_id++;
  t->counts.assign(hub_.workers(), 0);
  t->idle_since_ms = now_ms_;
  OwnedTopic* raw = t.get();
  s_->owned_ids.emplace(raw->id, raw);
  s_->owned.emplace(raw->name, std::move(t));
  return raw;
}

void Exchange::owner_sub(SubRequest* r) noexcept {
  OwnedTopic* t = owned_topic(r->topic, true);
  if (t->counts[r->from]++ == 0) t->interest |= std::uint64_t(1) << r->from;
  if (t->total++ == 0 && !t->subscribed) {
    t->subscribed = true;
    s_->broker->subscribe(t->name);  // the embedded broker confirms at once
  }
  // With an external broker the answer waits for its confirmation, so a message published after
  // the ack reaches the subscriber. While the broker is down the subscription is kept and
  // answered now; it is restored later, with a gap notice.
  if (t->confirmed || !s_->broker->subscribing()) {
    answer_sub(*t, r);
  } else {
    t->pending.push_back(r);
  }
}

void Exchange::answer_sub(OwnedTopic& t, SubRequest* r) noexcept {
  r->topic_id = t.id;
  r->seq = t.seq;
  if (r->has_since && r->since != t.seq) {
    // Recovery: everything after `since` must still be in the history, else a gap.
    const std::uint64_t oldest = t.history.empty() ? t.seq + 1 : t.history.front()->seq;
    if (r->since > t.seq || r->since + 1 < oldest) {
      r->gap = true;
    } else {
      for (SharedFrame* f : t.history) {
        if (f->seq <= r->since) continue;
        f->retain();
        r->replay.push_back(f);
      }
    }
  }
  if (r->from == id_) {
    on_sub_done(r);
  } else {
    (void)mail(r->from, MailEntry{kMailSubDone, 0, 0, r}, true);
  }
}

void Exchange::answer_pending(OwnedTopic& t) noexcept {
  std::vector<SubRequest*> pending;
  pending.swap(t.pending);
  for (SubRequest* r : pending) answer_sub(t, r);
}

void Exchange::owner_unsub(unsigned from, std::uint64_t topic_id) noexcept {
  auto it = s_->owned_ids.find(topic_id);
  if (it == s_->owned_ids.end()) return;
  OwnedTopic& t = *it->second;
  if (t.counts[from] == 0) return;
  if (--t.counts[from] == 0) t.interest &= ~(std::uint64_t(1) << from);
  if (--t.total == 0) {
    // The broker subscription lingers (sweep_topics() lets it go): a topic whose last subscriber
    // leaves and comes back soon, as on a page reload, costs no round trip to the broker.
    t.idle_since_ms = t.unused_since_ms = now_ms_;
    if (cfg_.broker.linger_ms == 0) release_broker_topic(t);
  }
}

void Exchange::release_broker_topic(OwnedTopic& t) noexcept {
  if (!t.subscribed) return;
  s_->broker->unsubscribe(t.name);
  t.subscribed = t.confirmed = false;
}

void Exchange::owner_pub(PubRequest* r) noexcept {
  if (!s_->broker->up()) {
    m_.broker_publish_failures.add();
    answer_pub(r, PublishResult::unavailable, 0);
    return;
  }
  s_->publishing = r;
  s_->broker->publish(r->topic, r->data, reinterpret_cast<std::uint64_t>(r));
  s_->publishing = nullptr;
}

void Exchange::answer_pub(PubRequest* r, PublishResult result, std::uint64_t receivers) noexcept {
  r->result = result;
  if (result == PublishResult::ok) {
    if (!s_->broker->loopback()) {
      // The message comes back later on the subscriber connection: its number is not known yet.
      r->seq = 0;
      r->delivered = receivers;
    } else if (OwnedTopic* t = owned_topic(r->topic, false)) {
      r->seq = t->seq;
      r->delivered = t->total;
    }
  }
  if (r->from == id_) {
    on_pub_done(r);
  } else {
    (void)mail(r->from, MailEntry{kMailPubDone, 0, 0, r}, true);
  }
}

void ExchangeEvents::on_message(std::string_view topic, std::string_view data, std::uint64_t published_ns) noexcept {
  x.owner_message(topic, data, published_ns);
}

void ExchangeEvents::on_published(std::uint64_t token, PublishResult result, std::uint64_t receivers) noexcept {
  x.answer_pub(reinterpret_cast<PubRequest*>(token), result, receivers);
}

void ExchangeEvents::on_subscribed(std::string_view topic, bool restored) noexcept {
  OwnedTopic* t = x.owned_topic(topic, false);
  if (t == nullptr || !t->subscribed) return;
  t->confirmed = true;
  x.answer_pending(*t);
  if (restored) x.restored(*t);
}

// Messages were lost while the subscription was gone: the history no longer covers them, and one
// sequence number stands for them, so a recovery from anywhere before the outage (even from the
// last number seen) gets a gap; every subscriber hears of the gap now.
void Exchange::restored(OwnedTopic& t) noexcept {
  forget_history(t);
  ++t.seq;
  for (std::uint64_t m = t.interest; m != 0; m &= m - 1) {
    const unsigned to = unsigned(std::countr_zero(m));
    if (to == id_) {
      announce_gap(t.id);
    } else {
      (void)mail(to, MailEntry{kMailGap, 0, t.id, nullptr}, true);
    }
  }
}

void ExchangeEvents::on_subscriptions_lost() noexcept {
  for (auto& [name, t] : x.s_->owned) {
    t->confirmed = false;
    x.answer_pending(*t);
  }
}

void ExchangeEvents::on_state(bool up) noexcept {
  RG_LOG_INFO("worker %u: broker %s is %s", x.id_, x.s_->broker->name(), up ? "up" : "down");
}

void Exchange::owner_message(std::string_view topic, std::string_view data, std::uint64_t published_ns) noexcept {
  OwnedTopic* t = owned_topic(topic, true);
  const std::uint64_t seq = ++t->seq;
  t->idle_since_ms = now_ms_;
  const std::uint32_t holders = std::uint32_t(std::popcount(t->interest)) + (cfg_.history > 0 ? 1 : 0);
  if (holders == 0) return;
  if (s_->publishing != nullptr) published_ns = s_->publishing->received_ns;
  if (published_ns == 0) published_ns = monotonic_ns();  // (for the latency histogram only)
  SharedFrame* f = SharedFrame::make(t->name, t->id, seq, data, published_ns, holders);
  if (f == nullptr) {
    t->gap |= t->interest;  // nobody gets this one: say so with the next
    return;
  }
  if (cfg_.history > 0) keep_history(*t, f);
  for (std::uint64_t m = t->interest; m != 0; m &= m - 1) {
    const unsigned to = unsigned(std::countr_zero(m));
    const std::uint64_t bit = std::uint64_t(1) << to;
    const bool gap = (t->gap & bit) != 0;
    if (to == id_) {
      t->gap &= ~bit;
      deliver_local(f, gap);
    } else if (mail(to, MailEntry{kMailDeliver, gap ? 1u : 0u, 0, f}, false)) {
      t->gap &= ~bit;
    } else {
      m_.pubsub_dropped[2].add();
      t->gap |= bit;
      f->release();
    }
  }
}

// The newest message goes into the topic's history; the topic's oldest goes past --history
// messages, and the oldest of any topic while all of them take more than this worker's share of
// --history-max-bytes.
void Exchange::keep_history(OwnedTopic& t, SharedFrame* f) noexcept {
  t.history.push_back(f);
  s_->history.push(f);
  if (t.history.size() > cfg_.history) drop_oldest(t);
  const std::uint64_t cap = cfg_.history_max_bytes / hub_.workers();
  while (s_->history.bytes() > cap) {
    SharedFrame* oldest = s_->history.oldest();
    auto it = s_->owned_ids.find(oldest->topic_id);
    // The oldest kept message is always the front of its topic's history (both lists are in
    // publish order and every removal takes a frame out of both).
    if (RG_BUG_IF(it == s_->owned_ids.end() || it->second->history.front() != oldest)) break;
    drop_oldest(*it->second);
    m_.pubsub_history_evictions.add();
  }
  m_.pubsub_history_bytes.set(std::int64_t(s_->history.bytes()));
}

void Exchange::drop_oldest(OwnedTopic& t) noexcept {
  SharedFrame* f = t.history.front();
  t.history.pop_front();
  s_->history.remove(f);
  f->release();
}

void Exchange::forget_history(OwnedTopic& t) noexcept {
  while (!t.history.empty()) drop_oldest(t);
  m_.pubsub_history_bytes.set(std::int64_t(s_->history.bytes()));
}

void Exchange::sweep_topics() noexcept {
  if (now_ms_ < s_->next_sweep_ms) return;
  s_->next_sweep_ms = now_ms_ + 1000;
  for (auto it = s_->owned.begin(); it != s_->owned.end();) {
    OwnedTopic& t = *it->second;
    if (t.total == 0 && now_ms_ - t.unused_since_ms >= cfg_.broker.linger_ms) release_broker_topic(t);
    if (t.total == 0 && !t.subscribed && now_ms_ - t.idle_since_ms >= cfg_.history_ttl_ms) {
      forget_history(t);
      s_->owned_ids.erase(t.id);
      it = s_->owned.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace ringgate::pubsub
