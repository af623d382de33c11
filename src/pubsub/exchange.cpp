// Exchange: set-up, the loop's hooks, routing of requests to a topic's owner, and the mailboxes
// between workers.
//
// Mailboxes are bounded. A full one drops the message for that worker (counted; the next message
// that gets through carries a gap flag, so its subscribers learn continuity was lost) but never
// blocks the owner. Control entries (subscribe, unsubscribe, publish and their answers) are never
// dropped: they wait in the producer's backlog, in order, and a message behind a backlog is
// dropped rather than overtake it.
#include <bit>

#include "exchange_state.hpp"
#include "external_broker.hpp"
#include "ringgate/core/check.hpp"
#include "ringgate/core/clock.hpp"
#include "ringgate/net/user_data.hpp"

namespace ringgate::pubsub {

Exchange::Exchange(const ExchangeConfig& cfg, Hub& hub, Delivery& delivery, Metrics& metrics, net::Ring* ring) noexcept
    : cfg_(cfg),
      hub_(hub),
      d_(delivery),
      m_(metrics),
      ring_(ring),
      id_(cfg.worker),
      s_(new (std::nothrow) ExchangeState(*this)) {}

Exchange::~Exchange() {
  if (!s_) return;
  for (auto& [name, t] : s_->owned) {
    forget_history(*t);
    for (SubRequest* r : t->pending) delete r;
  }
  s_->owned.clear();
}

Broker::Events& Exchange::broker_events() noexcept { return s_->events; }

bool Exchange::start(std::unique_ptr<Broker> broker) noexcept {
  if (!s_) {
    error_ = "out of memory";
    return false;
  }
  s_->backlog.resize(hub_.workers());
  if (broker != nullptr) {
    s_->broker = std::move(broker);
  } else if (cfg_.broker.kind == BrokerKind::embedded) {
    s_->broker = std::make_unique<MemoryBroker>(s_->events);
    m_.broker_up.set(1);
  } else {
    if (ring_ == nullptr) {
      error_ = "an external broker needs the worker's ring";
      return false;
    }
    const BrokerContext ctx{*ring_, cfg_.broker, s_->events, m_, cfg_.node_id, cfg_.max_publish_bytes,
                            cfg_.broker_ud_kind};
    std::unique_ptr<IoBroker> io = cfg_.broker.kind == BrokerKind::redis ? make_redis_broker(ctx) : make_nats_broker(ctx);
    if (io == nullptr) {
      error_ = "cannot set up the broker connections (out of memory)";
      return false;
    }
    s_->io = io.get();
    s_->broker = std::move(io);
  }
  if (ring_ != nullptr) hub_.set_ring_fd(id_, ring_->ring_fd());
  return true;
}

void Exchange::tick(std::uint64_t now_ms) noexcept {
  now_ms_ = now_ms;
  sweep_topics();
}

bool Exchange::wake_pending() const noexcept { return s_->wake != 0; }

void Exchange::on_completion(std::uint64_t user_data, std::int32_t res, std::uint64_t now_ms) noexcept {
  if (s_->io != nullptr) s_->io->on_completion(user_data, res, now_ms);
}

void Exchange::poll(std::uint64_t now_ms) noexcept {
  if (s_->io != nullptr) s_->io->poll(now_ms);
}

void Exchange::shutdown() noexcept {
  if (s_->io == nullptr || ring_ == nullptr) return;
  s_->io->stop();
  net::Completion cqes[64];
  const std::uint64_t deadline = monotonic_ms() + 1000;
  while (!s_->io->idle() && monotonic_ms() < deadline) {
    (void)ring_->submit_and_wait(10'000'000u);
    const std::uint64_t now = monotonic_ms();
    const std::size_t n = ring_->reap(cqes, std::size(cqes));
    for (std::size_t i = 0; i < n; ++i) {
      if (net::ud_kind(cqes[i].user_data) == cfg_.broker_ud_kind) s_->io->on_completion(cqes[i].user_data, cqes[i].res, now);
    }
  }
}

// --- requests on their way to the owner -----------------------------------------------------

void Exchange::route_sub(SubRequest* r) noexcept {
  const unsigned owner = topic_owner(r->topic, hub_.workers());
  if (owner == id_) {
    owner_sub(r);
  } else {
    (void)mail(owner, MailEntry{kMailSub, 0, 0, r}, true);
  }
}

void Exchange::route_pub(PubRequest* r) noexcept {
  const unsigned owner = topic_owner(r->topic, hub_.workers());
  if (owner == id_) {
    owner_pub(r);
  } else {
    (void)mail(owner, MailEntry{kMailPub, 0, 0, r}, true);
  }
}

void Exchange::route_unsub(std::string_view topic, std::uint64_t topic_id) noexcept {
  const unsigned owner = topic_owner(topic, hub_.workers());
  if (owner == id_) {
    owner_unsub(id_, topic_id);
  } else {
    (void)mail(owner, MailEntry{kMailUnsub, id_, topic_id, nullptr}, true);
  }
}

// --- mailboxes ------------------------------------------------------------------------------

bool Exchange::mail(unsigned to, const MailEntry& e, bool control) noexcept {
  std::deque<MailEntry>& backlog = s_->backlog[to];
  s_->wake |= std::uint64_t(1) << to;
  if (backlog.empty() && hub_.box(id_, to).push(e)) return true;
  m_.pubsub_ring_overflows.add();
  if (!control) return false;
  backlog.push_back(e);
  return true;
}

void Exchange::on_mail(const MailEntry& e) noexcept {
  switch (e.kind) {
    case kMailDeliver:
      deliver_local(static_cast<SharedFrame*>(e.p), e.a != 0);
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

void Exchange::pump(bool receive) noexcept {
  const unsigned n = hub_.workers();
  if (n <= 1) return;
  for (unsigned from = 0; receive && from < n; ++from) {
    if (from == id_) continue;
    hub_.box(from, id_).drain([this](const MailEntry& e) { on_mail(e); });
  }
  for (unsigned to = 0; to < n; ++to) {
    std::deque<MailEntry>& backlog = s_->backlog[to];
    while (!backlog.empty() && hub_.box(id_, to).push(backlog.front())) backlog.pop_front();
  }
  // One wake-up per worker that got entries this turn (its loop drains every mailbox).
  for (std::uint64_t m = s_->wake; m != 0 && ring_ != nullptr; m &= m - 1) {
    const unsigned to = unsigned(std::countr_zero(m));
    const int fd = hub_.ring_fd(to);
    if (fd >= 0) (void)ring_->msg_ring(fd, 0, cfg_.wake_ud);
  }
  s_->wake = 0;
  for (unsigned to = 0; to < n; ++to) {
    if (!s_->backlog[to].empty()) s_->wake |= std::uint64_t(1) << to;  // retried next turn
  }
}

void Exchange::discard_mail() noexcept {
  if (!s_ || hub_.workers() <= 1) return;
  auto discard = [](const MailEntry& e) {
    switch (e.kind) {
      case kMailDeliver:
        static_cast<SharedFrame*>(e.p)->release();
        break;
      case kMailSub:
      case kMailSubDone: {
        auto* r = static_cast<SubRequest*>(e.p);
        for (SharedFrame* f : r->replay) f->release();
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
  for (unsigned from = 0; from < hub_.workers(); ++from) {
    if (from != id_) hub_.box(from, id_).drain(discard);
  }
  for (auto& backlog : s_->backlog) {
    for (const MailEntry& e : backlog) discard(e);
    backlog.clear();
  }
}

}  // namespace ringgate::pubsub
