// Connection: the per-connection state one worker keeps in its slab. This struct IS the memory cost
// of an idle connection in user space, so every field earns its place: no receive buffer (the
// worker's provided-buffer ring serves all reads), no send buffer while nothing is queued, no peer
// address (fetched only when a refusal is logged).
//
// Life: handshake -> open -> [close_sent] -> finish | linger -> teardown -> slot freed once the
// kernel has returned every operation (recv, send, close) that names it.
#pragma once

#include <cstdint>

#include "ringgate/gateway/outbound.hpp"
#include "ringgate/timer/wheel.hpp"
#include "ringgate/ws/frame.hpp"

namespace ringgate::gateway {

enum class Phase : std::uint8_t {
  handshake,   // reading the HTTP upgrade request
  open,        // WebSocket frames flow
  close_sent,  // we sent a close frame; still parsing, waiting for the peer's close (data ignored)
  finish,      // the close handshake is done (or a response is final): close once the queue is flushed
  linger,      // after a refusal or a protocol failure: flush, shut down our side, discard until EOF
  teardown,    // close submitted; waiting for the last completions
};

enum ConnFlag : std::uint8_t {
  kRecvArmed = 1u << 0,    // a multishot recv is in the kernel
  kSendInFlight = 1u << 1, // a send or sendmsg is in the kernel
  kCloseDone = 1u << 2,    // the descriptor is closed
  kDirty = 1u << 3,        // on the worker's flush list
  kPaused = 1u << 4,       // reads stopped by backpressure (recv canceled on purpose)
  kShutdownSent = 1u << 5, // SHUT_WR submitted (linger)
  kNeedRecv = 1u << 6,     // recv must be re-armed (ENOBUFS or a multishot that ended)
};

struct Connection {
  std::int32_t fd = -1;             // fixed-file index when the ring uses direct descriptors
  Phase phase = Phase::handshake;
  std::uint8_t flags = 0;
  std::uint8_t route = 0;
  std::uint8_t send_iov = 0;        // iovecs in the in-flight sendmsg (0 = plain send)
  std::uint16_t close_code = 0;     // the code that ended the WebSocket (metrics)
  std::uint16_t send_op = 0;        // index of the worker's SendOp in flight (when send_iov > 0)
  OutQueue out;
  Chunk* in = nullptr;              // partial request head, or a message spanning receive buffers
  ws::Parser parser{ws::Role::server};
  timer::Entry timer;               // handshake / close deadline
};

}  // namespace ringgate::gateway
