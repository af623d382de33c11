// Connection: the per-connection state one worker keeps in its slab. This struct IS the memory cost
// of an idle connection in user space, so every field earns its place: no receive buffer (the
// worker's provided-buffer ring serves all reads), no send buffer while nothing is queued, no peer
// address (fetched only when a refusal is logged).
//
// Life: handshake -> open -> [close_sent] -> finish | linger -> teardown -> slot freed once the
// kernel has returned every operation (recv, send, close) that names it.
#pragma once

#include <cstdint>

#include "ringgate/net/outbound.hpp"
#include "ringgate/timer/wheel.hpp"
#include "ringgate/ws/frame.hpp"

namespace ringgate::gateway {

// The outbound queues are net's (net/outbound.hpp); the gateway names them without the prefix.
using net::Chunk;
using net::ChunkPool;
using net::LocalFrame;
using net::OutQueue;
using net::SharedRef;

enum class Phase : std::uint8_t {
  handshake,   // reading the HTTP upgrade request
  open,        // WebSocket frames flow
  close_sent,  // we sent a close frame; still parsing, waiting for the peer's close (data ignored)
  finish,      // the close handshake is done (or a response is final): close once the queue is flushed
  linger,      // after a refusal or a protocol failure: flush, shut down our side, discard until EOF
  teardown,    // close submitted; waiting for the last completions
};

// The connection's state is a few named flag sets, one per concern, each owned by one part of
// the gateway (so a reader knows who sets a bit and why):
//   io      ring operations in flight for it and its place in the loop (worker.cpp)
//   link    the layers under HTTP: PROXY header, TLS, kTLS (transport/)
//   ending  how it ends: shutdown, deferred close, slow-consumer close, drain (worker, deadlines)
//   stream  its message stream: a message being discarded, a drain notice wanted (messages.cpp,
//           subscribers.cpp)
// plus route_state, 4 bits the connection's route keeps (ConnIo::route_state).
enum IoFlag : std::uint8_t {
  kRecvArmed = 1u << 0,    // a multishot recv is in the kernel
  kSendInFlight = 1u << 1, // a send or sendmsg is in the kernel
  kCloseDone = 1u << 2,    // the descriptor is closed
  kDirty = 1u << 3,        // on the worker's flush list
  kPaused = 1u << 4,       // reads stopped by backpressure (recv canceled on purpose)
  kRoutePaused = 1u << 5,  // reads stopped by the route (its requests pile up: the HTTP API)
  kNeedRecv = 1u << 6,     // recv must be re-armed (ENOBUFS or a multishot that ended)
  // SHUT_WR is in the kernel. io_uring runs a shutdown asynchronously and looks its descriptor up
  // only when it runs, so closing first would let it hit the next connection given the same
  // descriptor (seen as EPIPE on that connection's first send): the close waits for it.
  kShutdownInFlight = 1u << 7,
};
inline constexpr std::uint8_t kReadPaused = kPaused | kRoutePaused;

// Transport security of a connection (Connection::tls).
enum TlsState : std::uint8_t {
  kTlsNone = 0,   // plain TCP
  kTlsHandshake,  // wolfSSL is running the TLS handshake
  kTlsSwitching,  // handshake done; waiting for the last user-space bytes before moving to kTLS
  kTlsUser,       // records encrypted and decrypted by wolfSSL in user space
  kTlsKernel,     // kernel TLS: the socket carries plaintext for us; wolfSSL is gone
};

enum LinkFlag : std::uint8_t {
  kPeerPending = 1u << 0,   // waiting for the TCP peer's address (trusted-proxy check)
  kProxyPending = 1u << 1,  // a PROXY header may (optional) or must (required) come first
  kProxyTrusted = 1u << 2,  // the TCP peer is a trusted proxy
  kNotifySent = 1u << 3,    // our close_notify is queued or sent
  kNotifyInFlight = 1u << 4,// a kTLS close_notify sendmsg is in the kernel (nothing to consume)
  kCtrlRecv = 1u << 5,      // the armed receive is a kTLS control-record recvmsg
  kInstalling = 1u << 6,    // a ring op is making an ordinary descriptor (peer address, kTLS)
  kTlsDecided = 1u << 7,    // the kTLS-or-user-space decision is made (it is made once)
};

enum EndFlag : std::uint8_t {
  kShutdownSent = 1u << 0,  // SHUT_WR submitted (linger)
  kCloseDeferred = 1u << 1, // torn down; the close waits for a shutdown or a refusal log in flight
  kSlowClose = 1u << 2,     // a slow consumer's 4100 waits for its stuck send to be taken back
  kLogPending = 1u << 3,    // a refusal line waits for the peer's address: no send, no close yet
  kNoFin = 1u << 4,         // linger without our FIN: the peer closes first (HTTP/2 clients retrying)
  kDrainPending = 1u << 5,  // drain: its timer is the moment to send close 1001 (--drain-window)
};

enum StreamFlag : std::uint8_t {
  kOversize = 1u << 0,      // the message being received is over the route's limit (discarded)
  kWantDrained = 1u << 1,   // pub/sub drop policy: tell the exchange once the queue is below half
};

// Connection::route numbers of the table's first rows (routes/table.cpp keeps /echo and /ws first).
enum Route : std::uint8_t { kRouteNone = 0, kRouteEcho = 1, kRouteWs = 2 };

inline constexpr std::size_t kMaxSendOps = 1024;  // Connection::send_op has 10 bits

struct ConnExt;  // worker.hpp: TLS session, ciphertext queue, PROXY-reported client address

struct Connection {
  std::int32_t fd = -1;             // fixed-file index when the ring uses direct descriptors
  Phase phase = Phase::handshake;
  std::uint8_t io = 0;              // IoFlag
  std::uint8_t route = 0;           // row of the route table + 1 (0: none yet)
  std::uint8_t tls = kTlsNone;      // TlsState
  std::uint16_t close_code = 0;     // the code that ended the WebSocket (metrics)
  // The send in flight: iovecs of its sendmsg (0 = a plain send) and, for a sendmsg, the index of
  // the worker's SendOp (at most kMaxSendOps of them, at most 32 iovecs each).
  std::uint16_t send_op : 10 = 0;
  std::uint16_t send_iov : 6 = 0;
  std::uint8_t link = 0;            // LinkFlag (transport/)
  std::uint8_t listener = 0;        // index into the worker's listeners (plain, TLS, redirect)
  std::uint8_t ending = 0;          // EndFlag
  std::uint8_t stream : 4 = 0;      // StreamFlag
  std::uint8_t route_state : 4 = 0; // the route's own (ConnIo::route_state)
  ConnExt* ext = nullptr;           // only while TLS runs in user space or a PROXY header named a client
  OutQueue out;
  // The connection's one input buffer; what it holds follows from the stage the bytes are at:
  // the PROXY header so far (link & kProxyPending), the HTTP request head so far (phase handshake
  // on a WebSocket listener), a WebSocket message being assembled (phase open: kHeadroom free in
  // front, kMessagePadding after), or the requests a stream route keeps (ConnIo::stash, --api).
  Chunk* in = nullptr;
  ws::Parser parser{ws::Role::server};
  // One timer entry serves every deadline: it is armed for the earliest, and when it fires the
  // worker works out which one is due (the others are recomputed from these times). Activity only
  // moves deadlines later, so it just stores a time here and never touches the wheel (lazy re-arm).
  // Times are milliseconds since the worker started, modulo 2^32 (differences stay exact).
  timer::Entry timer;
  std::uint32_t since_ms = 0;       // accepted (handshake deadline), then upgraded (lifetime)
  std::uint32_t last_rx_ms = 0;     // last bytes from the peer (ping interval)
  std::uint32_t last_message_ms = 0;// last data message either way (idle timeout)
  std::uint32_t ping_sent_ms = 0;   // outstanding ping (pong deadline); 0 = none
};

// The input buffer goes back to the pool (its stage is over, or the connection is).
inline void release_in(ChunkPool& pool, Connection& conn) noexcept {
  if (conn.in != nullptr) {
    pool.put(conn.in);
    conn.in = nullptr;
  }
}

}  // namespace ringgate::gateway
