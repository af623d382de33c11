#include "external_broker.hpp"

#include "ringgate/core/clock.hpp"
#include "ringgate/core/log.hpp"

namespace ringgate::pubsub {

ExternalBroker::ExternalBroker(const BrokerContext& ctx) noexcept
    : ctx_(ctx), normalizer_(ctx.max_data_bytes) {
  waiting_.reserve(1024);
}

void ExternalBroker::subscribe(std::string_view topic) noexcept {
  auto [it, added] = topics_.try_emplace(std::string(topic));
  if (!added) return;
  if (subscribing()) {
    send_subscribe_batch({it->first});
  } else {
    it->second.lost = true;
  }
}

void ExternalBroker::deliver(std::string_view topic, std::string_view body) noexcept {
  auto it = topics_.find(topic);
  if (it == topics_.end()) return;  // unsubscribed meanwhile
  ctx_.metrics.broker_messages.add();
  const pubsub::Envelope env = pubsub::decode_envelope(body);
  std::string_view data;
  if (!normalizer_.to_data(env.payload, data)) {
    if (drop_log_.allow(monotonic_ms() / 1000)) {
      RG_LOG_WARN("broker %s: dropped a message of %zu bytes on %.*s (over --max-publish-bytes)",
                  ctx_.cfg.url.c_str(), body.size(), int(topic.size()), topic.data());
    }
    return;
  }
  // Our own publishes say when they were made: the delivery latency then spans the broker too.
  std::uint64_t published_ns = 0;
  if (env.ours) {
    const std::uint64_t wall = realtime_ms();
    if (env.ms <= wall && wall - env.ms < 60000) published_ns = monotonic_ns() - (wall - env.ms) * 1'000'000u;
  }
  ctx_.events.on_message(it->first, data, published_ns);
}

void ExternalBroker::confirmed(std::string_view topic) noexcept {
  if (batch_left_ > 0 && --batch_left_ == 0) next_restore_batch();
  auto it = topics_.find(topic);
  if (it == topics_.end() || it->second.confirmed) return;
  it->second.confirmed = true;
  const bool restored = it->second.lost;
  it->second.lost = false;
  if (restored) ctx_.metrics.broker_resubscribed.add();
  ctx_.events.on_subscribed(it->first, restored);
}

void ExternalBroker::lose_subscriptions() noexcept {
  for (auto& [name, t] : topics_) {
    t.confirmed = false;
    t.lost = true;
  }
  restore_.clear();
  batch_left_ = 0;
  ctx_.events.on_subscriptions_lost();
}

void ExternalBroker::begin_restore() noexcept {
  restore_.clear();
  restore_.reserve(topics_.size());
  for (auto& [name, t] : topics_) restore_.push_back(name);
  next_restore_batch();
}

void ExternalBroker::next_restore_batch() noexcept {
  std::vector<std::string_view> batch;
  while (!restore_.empty() && batch.size() < kRestoreBatch) {
    // Skipped: topics unsubscribed, or subscribed again on this connection, since the snapshot.
    auto it = topics_.find(restore_.back());
    if (it != topics_.end() && it->second.lost) batch.push_back(it->first);
    restore_.pop_back();
  }
  if (batch.empty()) return;
  batch_left_ = batch.size();
  send_subscribe_batch(batch);
}

std::string_view ExternalBroker::envelope() noexcept {
  const std::size_t n = pubsub::encode_envelope(envelope_, sizeof envelope_, ctx_.node, realtime_ms(), 0);
  return {envelope_, n};
}

void ExternalBroker::answered(bool ok, std::uint64_t receivers) noexcept {
  if (head_ >= waiting_.size()) return;  // an answer nobody waits for: ignored
  const Waiting w = waiting_[head_++];
  if (head_ == waiting_.size()) {
    waiting_.clear();
    head_ = 0;
  }
  if (w.token == 0) return;  // a ping
  ctx_.metrics.observe_broker_publish(monotonic_ns() - w.sent_ns);
  if (!ok) ctx_.metrics.broker_publish_failures.add();
  ctx_.events.on_published(w.token, ok ? pubsub::PublishResult::ok : pubsub::PublishResult::unavailable, receivers);
}

void ExternalBroker::fail_waiting() noexcept {
  // Swap first: an answer may publish again (an API connection resumes its next request), and
  // that publish must not join the list being failed.
  std::vector<Waiting> waiting;
  waiting.swap(waiting_);
  const std::size_t head = head_;
  head_ = 0;
  for (std::size_t i = head; i < waiting.size(); ++i) {
    if (waiting[i].token == 0) continue;
    ctx_.metrics.broker_publish_failures.add();
    ctx_.events.on_published(waiting[i].token, pubsub::PublishResult::unavailable, 0);
  }
  waiting.clear();
  if (waiting_.empty()) waiting_.swap(waiting);  // keep the capacity
}

void ExternalBroker::refuse(std::uint64_t token) noexcept {
  ctx_.metrics.broker_publish_failures.add();
  ctx_.events.on_published(token, pubsub::PublishResult::unavailable, 0);
}

void ExternalBroker::report_state(bool up) noexcept {
  ctx_.metrics.broker_up.set(up ? 1 : 0);
  if (up == reported_up_) return;
  reported_up_ = up;
  ctx_.events.on_state(up);
}

}  // namespace ringgate::pubsub
