// Topic ownership and cross-worker delivery. Each topic has one owner worker (hash of its name).
// The owner counts the node's subscriptions per worker, holds the broker subscription, numbers
// the messages the broker delivers, keeps the topic's history, frames each message once and
// hands one reference to every interested worker through that worker's mailbox.
//
// Mailboxes are bounded. A full one drops the message for that worker (counted; the next message
// that gets through carries a gap flag, so its subscribers learn continuity was lost) but never
// blocks the owner. Control entries (subscribe, unsubscribe, publish and their answers) are never
// dropped: they wait in the producer's backlog, in order, and a message behind a backlog is
// dropped rather than overtake it.
#include <bit>

#include "external_broker.hpp"
#include "pubsub_state.hpp"
#include "ringgate/core/check.hpp"
#include "ringgate/core/clock.hpp"
#include "ringgate/gateway/worker.hpp"
#include "user_data.hpp"

namespace ringgate::gateway {

bool Worker::setup_pubsub() noexcept {
  ps_ = std::make_unique<PubsubState>(cfg_.max_publish_bytes);
  if (!ps_->decoder.ok()) {
    error_ = "cannot reserve the JSON parser";
    return false;
  }
  const BrokerContext ctx{ring_, cfg_.broker, broker_events_, metrics_, cfg_.node_id, cfg_.max_publish_bytes};
  switch (cfg_.broker.kind) {
    case BrokerKind::embedded:
      ps_->broker = std::make_unique<pubsub::MemoryBroker>(broker_events_);
      metrics_.broker_up.set(1);
      break;
    case BrokerKind::redis:
    case BrokerKind::nats: {
      std::unique_ptr<IoBroker> io =
          cfg_.broker.kind == BrokerKind::redis ? make_redis_broker(ctx) : make_nats_broker(ctx);
      if (io == nullptr) {
        error_ = "cannot set up the broker connections (out of memory)";
        return false;
      }
      ps_->io = io.get();
      ps_->broker = std::move(io);
      break;
    }
  }
  ps_->backlog.resize(hub_->workers());
  hub_->set_ring_fd(id_, ring_.ring_fd());
  return true;
}

void Worker::free_pubsub() noexcept {
  if (!ps_) return;
  for (auto& [name, t] : ps_->owned) {
    forget_history(*t);
    for (SubRequest* r : t->pending) delete r;
  }
  ps_->owned.clear();
}

unsigned Worker::owner_of(std::string_view topic) const noexcept { return pubsub::topic_owner(topic, hub_->workers()); }

// --- requests from this worker's connections ----------------------------------------------

void Worker::route_sub(SubRequest* r) noexcept {
  const unsigned owner = owner_of(r->topic);
  if (owner == id_) {
    owner_sub(r);
  } else {
    (void)mail(owner, pubsub::MailEntry{kMailSub, 0, 0, r}, true);
  }
}

void Worker::route_pub(PubRequest* r) noexcept {
  const unsigned owner = owner_of(r->topic);
  if (owner == id_) {
    owner_pub(r);
  } else {
    (void)mail(owner, pubsub::MailEntry{kMailPub, 0, 0, r}, true);
  }
}

void Worker::route_unsub(std::string_view topic, std::uint64_t topic_id) noexcept {
  const unsigned owner = owner_of(topic);
  if (owner == id_) {
    owner_unsub(id_, topic_id);
  } else {
    (void)mail(owner, pubsub::MailEntry{kMailUnsub, id_, topic_id, nullptr}, true);
  }
}

// --- the owner's side ----------------------------------------------------------------------

OwnedTopic* Worker::owned_topic(std::string_view name, bool create) noexcept {
  auto it = ps_->owned.find(name);
  if (it != ps_->owned.end()) return it->second.get();
  if (!create) return nullptr;
  auto t = std::make_unique<OwnedTopic>();
  t->name.assign(name);
  // Ids are unique per process: the owner's number in the top byte.
  t->id = std::uint64_t(id_) << 56 | ps_->next_topic_id++;
  t->counts.assign(hub_->workers(), 0);
  t->idle_since_ms = now_ms_;
  OwnedTopic* raw = t.get();
  ps_->owned_ids.emplace(raw->id, raw);
  ps_->owned.emplace(raw->name, std::move(t));
  return raw;
}

void Worker::owner_sub(SubRequest* r) noexcept {
  OwnedTopic* t = owned_topic(r->topic, true);
  if (t->counts[r->from]++ == 0) t->interest |= std::uint64_t(1) << r->from;
  if (t->total++ == 0 && !t->subscribed) {
    t->subscribed = true;
    ps_->broker->subscribe(t->name);  // the embedded broker confirms at once
  }
  // With an external broker the answer waits for its confirmation, so a message published after
  // the ack reaches the subscriber. While the broker is down the subscription is kept and
  // answered now; it is restored later, with a gap notice.
  if (t->confirmed || !ps_->broker->subscribing()) {
    answer_sub(*t, r);
  } else {
    t->pending.push_back(r);
  }
}

void Worker::answer_sub(OwnedTopic& t, SubRequest* r) noexcept {
  r->topic_id = t.id;
  r->seq = t.seq;
  if (r->has_since && r->since != t.seq) {
    // Recovery: everything after `since` must still be in the history, else a gap.
    const std::uint64_t oldest = t.history.empty() ? t.seq + 1 : t.history.front()->seq;
    if (r->since > t.seq || r->since + 1 < oldest) {
      r->gap = true;
    } else {
      for (pubsub::SharedFrame* f : t.history) {
        if (f->seq <= r->since) continue;
        f->retain();
        r->replay.push_back(f);
      }
    }
  }
  if (r->from == id_) {
    on_sub_done(r);
  } else {
    (void)mail(r->from, pubsub::MailEntry{kMailSubDone, 0, 0, r}, true);
  }
}

void Worker::answer_pending(OwnedTopic& t) noexcept {
  std::vector<SubRequest*> pending;
  pending.swap(t.pending);
  for (SubRequest* r : pending) answer_sub(t, r);
}

void Worker::owner_unsub(unsigned from, std::uint64_t topic_id) noexcept {
  auto it = ps_->owned_ids.find(topic_id);
  if (it == ps_->owned_ids.end()) return;
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

void Worker::release_broker_topic(OwnedTopic& t) noexcept {
  if (!t.subscribed) return;
  ps_->broker->unsubscribe(t.name);
  t.subscribed = t.confirmed = false;
}

void Worker::owner_pub(PubRequest* r) noexcept {
  if (!ps_->broker->up()) {
    metrics_.broker_publish_failures.add();
    r->result = pubsub::PublishResult::unavailable;
    BrokerEvents{*this}.on_published(reinterpret_cast<std::uint64_t>(r), r->result, 0);
    return;
  }
  ps_->publishing = r;
  ps_->broker->publish(r->topic, r->data, reinterpret_cast<std::uint64_t>(r));
  ps_->publishing = nullptr;
}

void Worker::BrokerEvents::on_message(std::string_view topic, std::string_view data,
                                      std::uint64_t published_ns) noexcept {
  w.owner_message(topic, data, published_ns);
}

void Worker::BrokerEvents::on_published(std::uint64_t token, pubsub::PublishResult result,
                                        std::uint64_t receivers) noexcept {
  auto* r = reinterpret_cast<PubRequest*>(token);
  r->result = result;
  if (result == pubsub::PublishResult::ok) {
    if (!w.ps_->broker->loopback()) {
      // The message comes back later on the subscriber connection: its number is not known yet.
      r->seq = 0;
      r->delivered = receivers;
    } else if (OwnedTopic* t = w.owned_topic(r->topic, false)) {
      r->seq = t->seq;
      r->delivered = t->total;
    }
  }
  if (r->from == w.id_) {
    w.on_pub_done(r);
  } else {
    (void)w.mail(r->from, pubsub::MailEntry{kMailPubDone, 0, 0, r}, true);
  }
}

void Worker::BrokerEvents::on_subscribed(std::string_view topic, bool restored) noexcept {
  OwnedTopic* t = w.owned_topic(topic, false);
  if (t == nullptr || !t->subscribed) return;
  t->confirmed = true;
  w.answer_pending(*t);
  if (!restored) return;
  // Messages were lost while the subscription was gone: the history no longer covers them, and
  // one sequence number stands for them, so a recovery from anywhere before the outage (even
  // from the last number seen) gets a gap; every subscriber hears of the gap now.
  w.forget_history(*t);
  ++t->seq;
  for (std::uint64_t m = t->interest; m != 0; m &= m - 1) {
    const unsigned to = unsigned(std::countr_zero(m));
    if (to == w.id_) {
      w.announce_gap(t->id);
    } else {
      (void)w.mail(to, pubsub::MailEntry{kMailGap, 0, t->id, nullptr}, true);
    }
  }
}

void Worker::BrokerEvents::on_subscriptions_lost() noexcept {
  for (auto& [name, t] : w.ps_->owned) {
    t->confirmed = false;
    w.answer_pending(*t);
  }
}

void Worker::BrokerEvents::on_state(bool up) noexcept {
  RG_LOG_INFO("worker %u: broker %s is %s", w.id_, w.ps_->broker->name(), up ? "up" : "down");
}

void Worker::owner_message(std::string_view topic, std::string_view data, std::uint64_t published_ns) noexcept {
  OwnedTopic* t = owned_topic(topic, true);
  const std::uint64_t seq = ++t->seq;
  t->idle_since_ms = now_ms_;
  const std::uint32_t holders = std::uint32_t(std::popcount(t->interest)) + (cfg_.history > 0 ? 1 : 0);
  if (holders == 0) return;
  if (ps_->publishing != nullptr) published_ns = ps_->publishing->received_ns;
  if (published_ns == 0) published_ns = monotonic_ns();
  pubsub::SharedFrame* f = pubsub::SharedFrame::make(t->name, t->id, seq, data, published_ns, holders);
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
    } else if (mail(to, pubsub::MailEntry{kMailDeliver, gap ? 1u : 0u, 0, f}, false)) {
      t->gap &= ~bit;
    } else {
      metrics_.pubsub_dropped[2].add();
      t->gap |= bit;
      f->release();
    }
  }
}

// --- mailboxes ------------------------------------------------------------------------------

bool Worker::mail(unsigned to, const pubsub::MailEntry& e, bool control) noexcept {
  std::deque<pubsub::MailEntry>& backlog = ps_->backlog[to];
  ps_->wake |= std::uint64_t(1) << to;
  if (backlog.empty() && hub_->box(id_, to).push(e)) return true;
  metrics_.pubsub_ring_overflows.add();
  if (!control) return false;
  backlog.push_back(e);
  return true;
}

void Worker::on_mail(const pubsub::MailEntry& e) noexcept {
  switch (e.kind) {
    case kMailDeliver:
      deliver_local(static_cast<pubsub::SharedFrame*>(e.p), e.a != 0);
      return;
    case kMailSub:
      owner_sub(static_cast<SubRequest*>(e.p));
      return;
    case kMailSubDone:
      on_sub_done(static_cast<SubRequest*>(e.p));
      return;
    case kMailUnsub:
      owner_unsub(e.a, e.b);
      return;
    case kMailPub:
      owner_pub(static_cast<PubRequest*>(e.p));
      return;
    case kMailPubDone:
      on_pub_done(static_cast<PubRequest*>(e.p));
      return;
    case kMailGap:
      announce_gap(e.b);
      return;
    default:
      RG_BUG_IF(true);
  }
}

void Worker::pump_mail(bool receive) noexcept {
  const unsigned n = hub_->workers();
  if (n <= 1) return;
  for (unsigned from = 0; receive && from < n; ++from) {
    if (from == id_) continue;
    hub_->box(from, id_).drain([this](const pubsub::MailEntry& e) { on_mail(e); });
  }
  for (unsigned to = 0; to < n; ++to) {
    std::deque<pubsub::MailEntry>& backlog = ps_->backlog[to];
    while (!backlog.empty() && hub_->box(id_, to).push(backlog.front())) backlog.pop_front();
  }
  // One wake-up per worker that got entries this turn (its loop drains every mailbox).
  for (std::uint64_t m = ps_->wake; m != 0; m &= m - 1) {
    const unsigned to = unsigned(std::countr_zero(m));
    const int fd = hub_->ring_fd(to);
    if (fd >= 0) (void)ring_.msg_ring(fd, 0, make_ud(kWake, 0, kNoSlot));
  }
  ps_->wake = 0;
  for (unsigned to = 0; to < n; ++to) {
    if (!ps_->backlog[to].empty()) ps_->wake |= std::uint64_t(1) << to;  // retried next turn
  }
}

// The newest message goes into the topic's history; the topic's oldest goes past --history
// messages, and the oldest of any topic while all of them take more than this worker's share of
// --history-max-bytes.
void Worker::keep_history(OwnedTopic& t, pubsub::SharedFrame* f) noexcept {
  t.history.push_back(f);
  ps_->history.push(f);
  if (t.history.size() > cfg_.history) drop_oldest(t);
  const std::uint64_t cap = cfg_.history_max_bytes / hub_->workers();
  while (ps_->history.bytes() > cap) {
    pubsub::SharedFrame* oldest = ps_->history.oldest();
    auto it = ps_->owned_ids.find(oldest->topic_id);
    // The oldest kept message is always the front of its topic's history (both lists are in
    // publish order and every removal takes a frame out of both).
    if (RG_BUG_IF(it == ps_->owned_ids.end() || it->second->history.front() != oldest)) break;
    drop_oldest(*it->second);
    metrics_.pubsub_history_evictions.add();
  }
  metrics_.pubsub_history_bytes.set(std::int64_t(ps_->history.bytes()));
}

void Worker::drop_oldest(OwnedTopic& t) noexcept {
  pubsub::SharedFrame* f = t.history.front();
  t.history.pop_front();
  ps_->history.remove(f);
  f->release();
}

void Worker::forget_history(OwnedTopic& t) noexcept {
  while (!t.history.empty()) drop_oldest(t);
  metrics_.pubsub_history_bytes.set(std::int64_t(ps_->history.bytes()));
}

void Worker::sweep_topics() noexcept {
  if (now_ms_ < ps_->next_sweep_ms) return;
  ps_->next_sweep_ms = now_ms_ + 1000;
  for (auto it = ps_->owned.begin(); it != ps_->owned.end();) {
    OwnedTopic& t = *it->second;
    if (t.total == 0 && now_ms_ - t.unused_since_ms >= cfg_.broker.linger_ms) release_broker_topic(t);
    if (t.total == 0 && !t.subscribed && now_ms_ - t.idle_since_ms >= cfg_.history_ttl_ms) {
      forget_history(t);
      ps_->owned_ids.erase(t.id);
      it = ps_->owned.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace ringgate::gateway

namespace ringgate::gateway {

void Worker::discard_mail() noexcept {
  if (!ps_ || hub_->workers() <= 1) return;
  auto discard = [](const pubsub::MailEntry& e) {
    switch (e.kind) {
      case kMailDeliver:
        static_cast<pubsub::SharedFrame*>(e.p)->release();
        break;
      case kMailSub:
      case kMailSubDone: {
        auto* r = static_cast<SubRequest*>(e.p);
        for (pubsub::SharedFrame* f : r->replay) f->release();
        delete r;
        break;
      }
      case kMailPub:
      case kMailPubDone:
        delete static_cast<PubRequest*>(e.p);
        break;
      default:
        break;
    }
  };
  for (unsigned from = 0; from < hub_->workers(); ++from) {
    if (from != id_) hub_->box(from, id_).drain(discard);
  }
  for (auto& backlog : ps_->backlog) {
    for (const pubsub::MailEntry& e : backlog) discard(e);
    backlog.clear();
  }
}

}  // namespace ringgate::gateway
