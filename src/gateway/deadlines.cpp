// Deadlines of one connection and of the worker: the single timer-wheel entry each connection has
// (handshake, PROXY header, heartbeat ping and pong, idle, lifetime, close), and the drain on
// SIGTERM. The loop and ring plumbing are in worker.cpp.
#include <algorithm>
#include <cstddef>

#include "message_writer.hpp"
#include "refusal_log.hpp"
#include "route.hpp"
#include "worker_port.hpp"
#include "transport/transport.hpp"
#include "ringgate/gateway/worker.hpp"
#include "user_data.hpp"

namespace ringgate::gateway {

void Worker::on_timer(timer::Entry& e) noexcept {
  // The entry is embedded in its Connection (intrusive timer); step back to the owner.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"
  auto* conn = reinterpret_cast<Connection*>(reinterpret_cast<char*>(&e) - offsetof(Connection, timer));
#pragma GCC diagnostic pop
  const std::uint32_t index = conns_.index_of(conn);
  switch (conn->phase) {
    case Phase::handshake:
      if (transport_->waiting_for_proxy(*conn)) {
        metrics_.proxy_headers[std::size_t(ProxyResult::timeout)].add();
        refusals_->proxy_refusal(index, *conn, ProxyResult::timeout, nullptr);
      } else {
        metrics_.timeouts_handshake.add();
      }
      teardown(index, *conn);
      return;
    case Phase::open:
      on_open_timer(index, *conn);
      return;
    case Phase::close_sent:
    case Phase::linger:
    case Phase::finish:
      metrics_.timeouts_close.add();
      teardown(index, *conn);
      return;
    case Phase::teardown:
      return;
  }
}

namespace {

// ±10 % per connection, fixed for its life, so pings to many connections do not go out in one
// burst after a mass reconnect. (Fibonacci hashing of the slot and generation.)
std::uint32_t ping_interval_ms(const Config& cfg, std::uint32_t index, std::uint32_t generation) noexcept {
  const std::uint32_t h = (index * 2654435761u) ^ (generation * 40503u);
  const std::uint64_t base = cfg.ping_interval_ms;
  return std::uint32_t(base - base / 10 + (base / 5) * (h >> 16) / 65536u);
}

// The earliest of an open connection's deadlines (UINT64_MAX: none), in the worker's ms; `now` is
// the same moment in connection time (ms since the worker started, modulo 2^32).
std::uint64_t open_deadline(const Config& cfg, const Connection& conn, std::uint32_t ping_interval,
                            std::uint32_t now, std::uint64_t now_ms) noexcept {
  std::uint64_t best = UINT64_MAX;
  auto consider = [&](std::uint32_t since, std::uint64_t span) {
    if (span == 0) return;
    const std::uint32_t elapsed = now - since;
    best = std::min(best, now_ms + (span > elapsed ? span - elapsed : 0));
  };
  if (cfg.ping_interval_ms != 0) {
    if (conn.ping_sent_ms != 0) {
      consider(conn.ping_sent_ms, cfg.pong_timeout_ms);
    } else {
      consider(conn.last_rx_ms, ping_interval);
    }
  }
  consider(conn.last_message_ms, cfg.idle_timeout_ms);
  consider(conn.since_ms, cfg.max_lifetime_ms);
  return best;
}

}  // namespace

void Worker::arm_open_timer(std::uint32_t index, Connection& conn) noexcept {
  const std::uint64_t deadline =
      open_deadline(cfg_, conn, ping_interval_ms(cfg_, index, conns_.generation(index)), now32(), now_ms_);
  if (deadline == UINT64_MAX) {
    wheel_.cancel(conn.timer);
  } else {
    wheel_.arm(conn.timer, deadline);
  }
}

void Worker::on_open_timer(std::uint32_t index, Connection& conn) noexcept {
  if (conn.ending & kDrainPending) {
    conn.ending &= std::uint8_t(~kDrainPending);
    send_close(index, conn, ws::close_code::going_away, "server shutting down", Phase::close_sent);
    wheel_.arm(conn.timer, drain_deadline_ms_);
    return;
  }
  const std::uint32_t now = now32();
  if (cfg_.max_lifetime_ms != 0 && now - conn.since_ms >= cfg_.max_lifetime_ms) {
    metrics_.timeouts_lifetime.add();
    send_close(index, conn, ws::close_code::going_away, "maximum connection lifetime reached", Phase::close_sent);
    return;
  }
  if (cfg_.idle_timeout_ms != 0 && now - conn.last_message_ms >= cfg_.idle_timeout_ms) {
    metrics_.timeouts_idle.add();
    send_close(index, conn, ws::close_code::normal, "idle timeout", Phase::close_sent);
    return;
  }
  if (cfg_.ping_interval_ms != 0) {
    if (conn.ping_sent_ms != 0) {
      if (now - conn.ping_sent_ms >= cfg_.pong_timeout_ms) {
        metrics_.timeouts_pong.add();
        send_close(index, conn, ws::close_code::internal_error, "pong timeout", Phase::close_sent);
        return;
      }
    } else if (now - conn.last_rx_ms >= ping_interval_ms(cfg_, index, conns_.generation(index))) {
      send_ping(index, conn);
    }
  }
  arm_open_timer(index, conn);  // the next due deadline (or an early fire re-armed: lazy re-arm)
}

void Worker::send_ping(std::uint32_t index, Connection& conn) noexcept {
  Chunk* none = nullptr;
  if (!write_message(conn.out, chunks_, ws::Opcode::ping, {}, none)) return;
  const std::uint32_t now = now32();
  conn.ping_sent_ms = now != 0 ? now : 1;  // 0 means "none outstanding"
  metrics_.pings_sent.add();
  mark_dirty(index, conn);
}

void Worker::on_pong(Connection& conn) noexcept {
  metrics_.pongs_received.add();
  if (conn.ping_sent_ms == 0) return;  // unsolicited: allowed, says nothing about our ping
  metrics_.observe_pong_rtt(now32() - conn.ping_sent_ms);
  conn.ping_sent_ms = 0;
}

void Worker::begin_drain() noexcept {
  draining_ = true;
  drain_deadline_ms_ = now_ms_ + cfg_.drain_window_ms + cfg_.drain_timeout_ms;
  // Stop accepting: cancel the multishot accepts and close this worker's listeners, so new
  // connections go to another instance (or are refused) instead of waiting in our backlog.
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    if (accept_armed_[i]) (void)ring_.cancel(ud(kAccept, std::uint32_t(i)), ud(kCancel, kNoSlot));
    ::close(listeners_[i].spec.fd);
    listeners_[i].spec.fd = -1;
  }
  std::uint64_t open = 0;
  conns_.for_each([&](std::uint32_t, Connection& conn) { open += conn.phase == Phase::open; });
  // Closes with 1001 spread evenly over --drain-window, so a fleet restart does not make every
  // client reconnect in the same instant.
  std::uint64_t rank = 0;
  conns_.for_each([&](std::uint32_t index, Connection& conn) {
    if (conn.phase == Phase::handshake) {
      // A request already on its way is answered (an upgrade then gets 1001 at once, see
      // accept_upgrade), so a hand-over restart drops nobody who reached us; its handshake
      // deadline and the drain deadline still bound it. A stream route's idle keep-alive (the
      // HTTP API) just closes.
      const bool nothing_yet = conn.in == nullptr || conn.in->end == 0;
      RouteHandler* route = route_handler(conn);
      Port port(*this, index, conn);
      if (route != nullptr && route->idle_for_drain(port)) {
        teardown(index, conn);
      } else if (nothing_yet && transport_->quiet(conn)) {
        // Connected but silent (a browser's preconnect, say): a request sent with the connect has
        // a second to arrive, so one idle socket does not hold the drain to its deadline.
        wheel_.arm(conn.timer, std::min(now_ms_ + 1000, drain_deadline_ms_));
      }
    } else if (conn.phase == Phase::open) {
      if (cfg_.drain_window_ms == 0) {
        send_close(index, conn, ws::close_code::going_away, "server shutting down", Phase::close_sent);
        wheel_.arm(conn.timer, drain_deadline_ms_);
      } else {
        conn.ending |= kDrainPending;
        wheel_.arm(conn.timer, now_ms_ + cfg_.drain_window_ms * rank++ / open);
      }
    }
  });
}

}  // namespace ringgate::gateway
