// Fanout scenario (see fanout_scenario.hpp).
#include "fanout_scenario.hpp"

#include <cstdio>
#include <cstring>

#include "fanout_proto.hpp"

namespace ringgate::load {

namespace {
constexpr std::size_t kMaxMessage = 1u << 20;
constexpr std::uint64_t kMaxPerTurn = 4096;  // per publisher: bounds a catch-up burst after a stall
}  // namespace

void FanoutScenario::attach(std::uint32_t connections) {
  conns_.assign(connections, Conn{});
  checks_.assign(connections, FanoutCheck{});
  acked_.assign(o_.topics, {});
  unnumbered_.assign(o_.topics, {});
  const std::uint64_t workers = shared_.workers;
  for (std::uint32_t c = 0; c < connections; ++c) {
    std::uint64_t j = std::uint64_t(c) * workers + id_;
    if (j < o_.subscribers) {
      conns_[c].index = std::uint32_t(j);
    } else {
      conns_[c].publisher = true;
      conns_[c].index = std::uint32_t(j - o_.subscribers);
      conns_[c].pub = std::uint32_t(pubs_.size());
      pubs_.push_back({c, conns_[c].index, 0, {}});
    }
  }
}

void FanoutScenario::on_open(std::uint32_t conn, Outbox& out) noexcept {
  Conn& k = conns_[conn];
  if (k.publisher || k.sub_sent) return;
  char buf[96];
  int n = std::snprintf(buf, sizeof buf, "{\"op\":\"sub\",\"id\":1,\"topic\":\"load.%u\"}", k.index % o_.topics);
  std::uint8_t* p = out.begin(conn, ws::Opcode::text, std::size_t(n));
  if (p == nullptr) return;
  std::memcpy(p, buf, std::size_t(n));
  out.commit(conn);
  k.sub_sent = true;
}

void FanoutScenario::on_data(std::uint32_t conn, ws::Opcode op, std::span<const std::uint8_t> chunk, bool end,
                             Outbox&) noexcept {
  Conn& k = conns_[conn];
  if (op != ws::Opcode::text) {
    if (end) ++bad_frames_;
    return;
  }
  std::string_view bytes(reinterpret_cast<const char*>(chunk.data()), chunk.size());
  if (end && k.partial.empty() && !k.oversize) {
    on_message(conn, bytes);
    return;
  }
  if (!k.oversize) {
    if (k.partial.size() + bytes.size() > kMaxMessage) {
      k.oversize = true;
      std::string().swap(k.partial);
    } else {
      k.partial.append(bytes);
    }
  }
  if (!end) return;
  if (k.oversize) {
    ++bad_frames_;
    k.oversize = false;
    return;
  }
  on_message(conn, k.partial);
  k.partial.clear();
}

void FanoutScenario::on_message(std::uint32_t conn, std::string_view text) noexcept {
  std::string_view op;
  if (!json_field(text, "op", op)) {
    ++bad_frames_;
    return;
  }
  if (op == "\"msg\"") {
    on_msg(conn, text);
  } else if (op == "\"ack\"") {
    on_ack(conn, text);
  } else if (op == "\"gap\"") {
    std::string_view topic;
    std::uint32_t t = 0;
    if (conns_[conn].publisher || !json_field(text, "topic", topic) || !topic_index(topic, t)) {
      ++bad_frames_;
      return;
    }
    checks_[conn].gap(t);
  } else if (op == "\"err\"") {
    ++(conns_[conn].publisher ? stats_.pub_errors : stats_.sub_errors);
    note_error(text);
  } else {
    ++bad_frames_;
  }
}

void FanoutScenario::on_msg(std::uint32_t conn, std::string_view text) noexcept {
  std::string_view topic, seq_v, data, t_v;
  std::uint32_t topic_i = 0;
  std::uint64_t seq = 0, t = 0;
  if (conns_[conn].publisher || !json_field(text, "topic", topic) || !topic_index(topic, topic_i) ||
      !json_field(text, "seq", seq_v) || !json_u64(seq_v, seq)) {
    ++bad_frames_;
    return;
  }
  checks_[conn].feed(topic_i, seq);
  ++stats_.messages;
  if (!json_field(text, "data", data) || !json_field(data, "t", t_v) || !json_u64(t_v, t)) {
    ++bad_frames_;  // delivered, but not a payload of ours: no latency
    return;
  }
  if (t < first_t_ns_) first_t_ns_ = t;
  if (now_ > last_delivery_ns_) last_delivery_ns_ = now_;
  std::uint64_t window = shared_.measure_ns.load(std::memory_order_relaxed);
  if (window != 0 && t >= window) {
    ++stats_.measured;
    stats_.latency_ns.record(now_ > t ? now_ - t : 0);
  }
}

void FanoutScenario::on_ack(std::uint32_t conn, std::string_view text) noexcept {
  Conn& k = conns_[conn];
  std::string_view v;
  std::uint64_t seq = 0, id = 0;
  if (!json_field(text, "seq", v) || !json_u64(v, seq) || !json_field(text, "id", v) || !json_u64(v, id)) {
    ++bad_frames_;
    return;
  }
  if (!k.publisher) {
    if (id != 1 || checks_[conn].is_subscribed(k.index % o_.topics)) {
      ++bad_frames_;
      return;
    }
    checks_[conn].subscribed(k.index % o_.topics, seq, now_ns());  // fresh: after the ack was sent
    ++stats_.subscribed;
    stats_.last_sub_ns = now_;
    return;
  }
  if (id == 0) {
    ++bad_frames_;
    return;
  }
  std::uint32_t topic = std::uint32_t(((id - 1) * o_.publishers + k.index) % o_.topics);
  const Pub& pub = pubs_[k.pub];
  if (seq != 0) {
    acked_[topic].push_back(seq);
  } else if (id <= pub.sent_ns.size()) {  // acked, number unknown: judged by count
    unnumbered_[topic].push_back(pub.sent_ns[id - 1]);
  } else {
    ++bad_frames_;  // an ack for a message never sent
    return;
  }
  ++stats_.acked;
  stats_.expected += subscribers_of(topic, o_.subscribers, o_.topics);
}

bool FanoutScenario::publish(Pub& pub, Outbox& out) noexcept {
  PubFields f;
  f.publisher = pub.p;
  f.n = pub.sent;
  f.id = pub.sent + 1;
  f.topic = std::uint32_t((pub.sent * o_.publishers + pub.p) % o_.topics);
  f.t_ns = now_ns();
  f.size = o_.size;
  std::size_t n = pub_size(f, true);
  std::uint8_t* p = out.begin(pub.conn, ws::Opcode::text, n);
  if (p == nullptr) return false;
  write_pub(reinterpret_cast<char*>(p), f, true);
  out.commit(pub.conn);
  pub.sent_ns.push_back(f.t_ns);
  ++pub.sent;
  ++stats_.published;
  return true;
}

void FanoutScenario::on_turn(Outbox& out) noexcept {
  if (pubs_.empty() || !publishing()) return;
  if (o_.burst > 0) {
    if (phase_ != Phase::measure || burst_done_) return;
    burst_done_ = true;
    for (Pub& pub : pubs_) {
      if (pub.p != 0) continue;
      for (std::uint32_t i = 0; i < o_.burst && publish(pub, out); ++i) {
      }
    }
    return;
  }
  std::uint64_t start = shared_.publish_ns.load(std::memory_order_relaxed);
  if (start == 0 || now_ < start) return;
  double per_pub = o_.pub_rate / double(o_.publishers);
  auto due = std::uint64_t(double(now_ - start) / 1e9 * per_pub);
  for (Pub& pub : pubs_) {
    std::uint64_t budget = kMaxPerTurn;
    while (pub.sent < due && budget-- > 0 && publish(pub, out)) {
    }
  }
}

void FanoutScenario::note_error(std::string_view text) {
  if (first_error_.empty()) first_error_.assign(text.substr(0, 300));
}

FanoutCounts FanoutScenario::finish(const std::vector<std::vector<std::uint64_t>>& acked_by_topic,
                                    const std::vector<std::vector<std::uint64_t>>& unnumbered_by_topic) const {
  FanoutCounts sum;
  for (std::uint32_t c = 0; c < conns_.size(); ++c) {
    if (conns_[c].publisher) continue;
    std::uint32_t topic = conns_[c].index % o_.topics;
    if (checks_[c].is_subscribed(topic)) {
      sum += checks_[c].finish_all(acked_by_topic, unnumbered_by_topic);
      continue;
    }
    // Never subscribed (sub refused, connection lost): everything acked on its topic is missing.
    FanoutCounts none = checks_[c].finish_all({});
    std::uint64_t n = topic < acked_by_topic.size() ? acked_by_topic[topic].size() : 0;
    if (topic < unnumbered_by_topic.size()) n += unnumbered_by_topic[topic].size();
    none.expected = none.missing = n;
    sum += none;
  }
  return sum;
}

}  // namespace ringgate::load
