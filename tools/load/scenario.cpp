// Echo and hold scenarios (see scenario.hpp).
#include "scenario.hpp"

namespace ringgate::load {

void fill_pattern(std::uint8_t* p, std::size_t n, std::uint64_t seq, std::size_t offset) noexcept {
  std::uint64_t v = seq * 7 + offset;
  for (std::size_t i = 0; i < n; ++i) p[i] = std::uint8_t('a' + (v + i) % 26);
}

bool check_pattern(const std::uint8_t* p, std::size_t n, std::uint64_t seq, std::size_t offset) noexcept {
  std::uint64_t v = seq * 7 + offset;
  for (std::size_t i = 0; i < n; ++i) {
    if (p[i] != std::uint8_t('a' + (v + i) % 26)) return false;
  }
  return true;
}

void EchoScenario::attach(std::uint32_t connections) {
  state_.assign(connections, ConnState{});
  sent_at_.assign(std::size_t(connections) * inflight_, 0);
}

bool EchoScenario::send_one(std::uint32_t conn, Outbox& out) noexcept {
  ConnState& s = state_[conn];
  std::uint8_t* p = out.begin(conn, op_, size_);
  if (p == nullptr) return false;  // connection cannot send (closing): nothing outstanding then
  fill_pattern(p, size_, s.next_send, 0);
  out.commit(conn);
  sent_at_[std::size_t(conn) * inflight_ + s.next_send % inflight_] = now_;
  ++s.next_send;
  ++s.outstanding;
  ++stats_.inflight;
  return true;
}

void EchoScenario::on_open(std::uint32_t conn, Outbox& out) noexcept {
  if (!sending()) return;
  while (state_[conn].outstanding < inflight_ && send_one(conn, out)) {
  }
}

void EchoScenario::on_data(std::uint32_t conn, ws::Opcode op, std::span<const std::uint8_t> chunk, bool end,
                           Outbox& out) noexcept {
  ConnState& s = state_[conn];
  if (s.outstanding == 0) {  // a reply nobody asked for
    if (end) ++stats_.mismatches;
    return;
  }
  if (!s.bad) {
    bool ok = op == op_ && s.received + chunk.size() <= size_ &&
              check_pattern(chunk.data(), chunk.size(), s.next_recv, s.received);
    if (!ok) {
      s.bad = true;
      ++stats_.mismatches;
    }
  }
  s.received += std::uint32_t(chunk.size());
  if (!end) return;
  if (!s.bad && s.received != size_) ++stats_.mismatches;
  std::uint64_t sent = sent_at_[std::size_t(conn) * inflight_ + s.next_recv % inflight_];
  ++stats_.messages;
  if (phase_ == Phase::measure) {
    ++stats_.measured;
    stats_.latency_ns.record(now_ > sent ? now_ - sent : 0);
  }
  ++s.next_recv;
  --s.outstanding;
  --stats_.inflight;
  s.received = 0;
  s.bad = false;
  if (sending()) send_one(conn, out);
}

}  // namespace ringgate::load
