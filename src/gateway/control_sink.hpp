// The control-frame half of a WebSocket parser sink, the same on every route: a ping is answered
// ahead of queued data (write_pong: past one small chunk of pongs the newest replaces the last, so
// a ping flood holds one chunk per connection); a pong feeds the heartbeat, a close completes the
// close handshake. Route sinks (EchoSink, PubSink) derive from it and add on_data.
#pragma once

#include <cstring>
#include <span>
#include <string_view>

#include "ringgate/gateway/worker.hpp"
#include "ringgate/ws/frame.hpp"

namespace ringgate::gateway {

struct ControlSink {
  Worker& w;
  std::uint32_t index;
  Connection& conn;
  bool failed = false;            // out of memory: Worker::after_feed closes with 1011
  std::uint16_t close_code = 0;    // the route refuses what it got (e.g. 1003 for binary on /ws)
  const char* close_reason = "";

  void on_ping(std::span<const std::uint8_t> payload) noexcept {
    if (conn.phase != Phase::open) return;
    std::uint8_t frame[ws::kMaxHeaderBytes + ws::kMaxControlPayload];
    const std::size_t h = ws::write_header(frame, ws::Opcode::pong, true, payload.size());
    if (!payload.empty()) std::memcpy(frame + h, payload.data(), payload.size());
    if (!conn.out.write_pong(w.chunks_, frame, h + payload.size())) return fail();
    w.mark_dirty(index, conn);
  }

  void on_pong(std::span<const std::uint8_t>) noexcept { w.on_pong(conn); }

  void on_close(std::uint16_t code, std::string_view) noexcept {
    if (conn.phase == Phase::open) {
      // Answer with the same code (an empty close when the peer sent none), then close TCP.
      w.send_close(index, conn, code, {}, Phase::finish);
    } else if (conn.phase == Phase::close_sent) {
      conn.phase = Phase::finish;  // our close went first; the handshake is complete
      w.mark_dirty(index, conn);
    }
  }

  void fail() noexcept { failed = true; }
};

}  // namespace ringgate::gateway
