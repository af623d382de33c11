// WebSocket messages in and out of a connection: the parser's events become whole messages for
// the connection's route (control frames are answered here, the same for every route), and the
// route's writes go through Worker::Port into the one frame writer (message_writer.cpp).
//
// A message that arrives whole in one receive buffer is handed to the route in place (the buffer
// ring's padding follows it). One spanning frames or buffers is assembled in conn.in, a chunk with
// kHeadroom free in front (so the echo of a large message is queued without a copy) and
// kMessagePadding after; past the route's collect_limit() it is discarded and on_oversize() called.
#include <cstring>

#include "control_sink.hpp"
#include "message_writer.hpp"
#include "route.hpp"
#include "user_data.hpp"
#include "worker_port.hpp"

namespace ringgate::gateway {

struct Worker::FrameSink {
  Worker& w;
  Port& port;
  std::uint32_t index;
  Connection& conn;
  RouteHandler& route;

  void on_ping(std::span<const std::uint8_t> payload) noexcept {
    if (conn.phase == Phase::open) (void)port.send(ws::Opcode::pong, payload);
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

  void on_data(ws::Opcode op, std::span<std::uint8_t> chunk, bool message_end) noexcept {
    if (conn.phase != Phase::open || port.failed) return;  // after our close: data is ignored
    if (const std::string_view why = route.refuse(op); !why.empty()) {
      port.close(ws::close_code::unsupported_data, why);
      return;
    }
    const bool oversize = conn.flags3 & kOversize;
    if (conn.in == nullptr && message_end && !oversize) return deliver(op, chunk);
    if (!oversize) collect(chunk);
    if (!message_end || port.failed) return;
    if (conn.flags3 & kOversize) {
      conn.flags3 &= std::uint8_t(~kOversize);
      received();
      route.on_oversize(port);
      return;
    }
    Chunk* c = conn.in;
    std::memset(c->data + c->end, 0, kMessagePadding);
    deliver(op, std::span<std::uint8_t>(c->data + kHeadroom, c->end - kHeadroom));
    if (conn.in == c) {  // (not queued in place by an echo, nor released by a close)
      conn.in = nullptr;
      w.chunks_.put(c);
    }
  }

  void collect(std::span<std::uint8_t> chunk) noexcept {
    const std::size_t have = conn.in != nullptr ? conn.in->end - kHeadroom : 0;
    if (have + chunk.size() > route.collect_limit()) {
      w.release_in(conn);  // too large for the route: stop collecting, tell it when the message ends
      conn.flags3 |= kOversize;
      return;
    }
    if (conn.in == nullptr) {
      conn.in = w.chunks_.get(kHeadroom + chunk.size() + kMessagePadding);
      if (conn.in == nullptr) return void(port.failed = true);
      conn.in->begin = conn.in->end = kHeadroom;
    }
    Chunk* c = w.chunks_.grow(conn.in, std::size_t(conn.in->end) + chunk.size() + kMessagePadding);
    if (c == nullptr) return void(port.failed = true);
    conn.in = c;
    std::memcpy(c->data + c->end, chunk.data(), chunk.size());
    c->end += std::uint32_t(chunk.size());
  }

  void deliver(ws::Opcode op, std::span<std::uint8_t> data) noexcept {
    received();
    route.on_message(port, op, data);
  }
  void received() noexcept {
    conn.last_message_ms = w.now32();  // idle timeout: a data message went by
    w.metrics_.messages_received.add();
  }
};

void Worker::on_frames(std::uint32_t index, Connection& conn, std::uint8_t* data, std::size_t len) noexcept {
  RouteHandler* route = route_handler(conn);
  if (conn.route == kRouteWs) {
    on_ws_frames(index, conn, data, len);
    return;
  }
  Port port(*this, index, conn);
  port.in_feed = true;
  FrameSink sink{*this, port, index, conn, *route};
  ws::Limits limits;
  limits.max_message_bytes = cfg_.max_message_bytes;
  const std::uint32_t gen = conns_.generation(index);
  const ws::FeedResult r = conn.parser.feed(data, len, sink, limits);
  after_feed(index, conn, gen, r, port.failed, 0, "");
}

// What every route does after a batch of frames: close on a failure (ours, the route's refusal, or
// the peer's protocol error) and pause reading a peer that does not read.
void Worker::after_feed(std::uint32_t index, Connection& conn, std::uint32_t gen, const ws::FeedResult& r,
                        bool failed, std::uint16_t close_code, const char* close_reason) noexcept {
  if (conns_.generation(index) != gen || conn.phase == Phase::teardown) return;  // a handler tore it down
  if (conn.phase != Phase::open) release_in(conn);  // a message being assembled is of no use now
  if (failed) {
    release_in(conn);
    send_close(index, conn, ws::close_code::internal_error, "out of memory", Phase::linger);
    return;
  }
  if (close_code != 0 && conn.phase == Phase::open) {
    release_in(conn);
    send_close(index, conn, close_code, close_reason, Phase::linger);
    return;
  }
  if (r.close_code != 0 && (conn.phase == Phase::open || conn.phase == Phase::close_sent)) {
    // The peer broke the protocol: say why in a close frame, then shut down and drain.
    release_in(conn);
    send_close(index, conn, r.close_code, r.reason, Phase::linger);
    return;
  }
  if (held_bytes(index, conn) > cfg_.max_outbound_bytes && !(conn.flags & kPaused) && conn.phase == Phase::open) {
    // The peer sends (requests) faster than it reads, or than its publishes are answered: stop
    // reading until its queue drains (maybe_resume).
    metrics_.backpressure_pauses.add();
    Port(*this, index, conn).pause_reading();
  }
}

// (The /ws route's sink until its handling moves into routes/pubsub.cpp.)
void Worker::after_feed(std::uint32_t index, Connection& conn, std::uint32_t gen, const ws::FeedResult& r,
                        const ControlSink& sink) noexcept {
  after_feed(index, conn, gen, r, sink.failed, sink.close_code, sink.close_reason);
}

void Worker::send_close(std::uint32_t index, Connection& conn, std::uint16_t code, std::string_view reason,
                        Phase next) noexcept {
  if (!write_close(conn.out, chunks_, code, reason)) {
    teardown(index, conn);
    return;
  }
  conn.close_code = code;
  conn.phase = next;
  // From now on the only deadline is the close: a heartbeat armed earlier must not cut a
  // connection that is finishing its close handshake.
  wheel_.arm(conn.timer, now_ms_ + cfg_.close_timeout_ms);
  mark_dirty(index, conn);
}

void Worker::on_peer_gone(std::uint32_t index, Connection& conn) noexcept {
  if (conn.phase == Phase::open) conn.close_code = ws::close_code::abnormal;
  teardown(index, conn);
}

void Worker::release_in(Connection& conn) noexcept {
  if (conn.in != nullptr) {
    chunks_.put(conn.in);
    conn.in = nullptr;
  }
}

// ---- Worker::Port ----

bool Worker::Port::send(ws::Opcode op, std::span<const std::uint8_t> payload) noexcept {
  if (conn_.phase != Phase::open) return true;  // after our close nothing more is written
  if (!write_message(conn_.out, w_.chunks_, op, payload, conn_.in)) {
    write_failed();
    return false;
  }
  if (op == ws::Opcode::text || op == ws::Opcode::binary) w_.metrics_.messages_sent.add();
  w_.mark_dirty(index_, conn_);
  return true;
}

bool Worker::Port::write(std::string_view bytes) noexcept {
  constexpr std::size_t kOneChunk = 16384;  // larger writes continue in further chunks
  const bool ok = bytes.size() <= kOneChunk ? conn_.out.write(w_.chunks_, bytes.data(), bytes.size())
                                            : conn_.out.write_stream(w_.chunks_, bytes.data(), bytes.size());
  if (!ok) {
    write_failed();
    return false;
  }
  w_.mark_dirty(index_, conn_);
  return true;
}

void Worker::Port::write_failed() noexcept {
  if (in_feed) {
    failed = true;
  } else {
    w_.teardown(index_, conn_);
  }
}

void Worker::Port::close(std::uint16_t code, std::string_view reason) noexcept {
  if (conn_.phase != Phase::open) return;
  w_.send_close(index_, conn_, code, reason, Phase::linger);
}

void Worker::Port::end_response(bool keep_alive) noexcept {
  if (conn_.phase == Phase::teardown) return;
  w_.mark_dirty(index_, conn_);
  if (keep_alive) {
    arm_deadline(w_.cfg_.handshake_timeout_ms);  // the keep-alive idle deadline
    return;
  }
  w_.release_in(conn_);
  conn_.phase = Phase::linger;
  arm_deadline(w_.cfg_.close_timeout_ms);
}

void Worker::Port::pause_reading() noexcept {
  if (conn_.flags & kPaused) return;
  conn_.flags |= kPaused;
  if (conn_.flags & kRecvArmed) (void)w_.ring_.cancel(w_.ud(kRecv, index_), w_.ud(kCancel, index_));
}

void Worker::Port::resume_reading() noexcept {
  if (!(conn_.flags & kPaused)) return;
  conn_.flags &= std::uint8_t(~kPaused);
  if (!(conn_.flags & kRecvArmed)) w_.arm_recv(index_, conn_);
}

void Worker::Port::arm_deadline(std::uint64_t ms) noexcept { w_.wheel_.arm(conn_.timer, w_.now_ms_ + ms); }

bool Worker::Port::stash(std::span<const std::uint8_t> bytes, std::size_t limit, std::size_t padding) noexcept {
  const std::size_t have = conn_.in != nullptr ? conn_.in->end : 0;
  if (have + bytes.size() > limit) return false;
  Chunk* c = conn_.in != nullptr ? w_.chunks_.grow(conn_.in, have + bytes.size() + padding)
                                 : w_.chunks_.get(bytes.size() + padding);
  if (c == nullptr) return false;
  conn_.in = c;
  std::memcpy(c->data + c->end, bytes.data(), bytes.size());
  c->end += std::uint32_t(bytes.size());
  return true;
}

std::span<std::uint8_t> Worker::Port::stashed() noexcept {
  if (conn_.in == nullptr) return {};
  return std::span<std::uint8_t>(conn_.in->data, conn_.in->end);
}

void Worker::Port::unstash(std::size_t n) noexcept {
  Chunk* c = conn_.in;
  if (c == nullptr) return;
  if (n > c->end) n = c->end;
  std::memmove(c->data, c->data + n, c->end - n);
  c->end -= std::uint32_t(n);
}

// ---- Worker::Port as the transport's LinkIo ----

void Worker::Port::cancel_recv() noexcept {
  if (conn_.flags & kRecvArmed) (void)w_.ring_.cancel(w_.ud(kRecv, index_), w_.ud(kCancel, index_));
}

bool Worker::Port::recvmsg(msghdr* msg) noexcept {
  if (!w_.ring_.recvmsg(conn_.fd, msg, w_.ud(kRecv, index_))) return false;
  conn_.flags |= kRecvArmed;
  return true;
}

// The bytes must stay valid until the send completes (a static alert record).
bool Worker::Port::send_aside(const void* data, std::size_t len, const void* cmsg, std::size_t cmsg_len) noexcept {
  if (w_.free_send_op_ == 0xffff) return false;
  const std::uint16_t op_index = w_.free_send_op_;
  SendOp& op = w_.send_ops_[op_index];
  if (cmsg_len > sizeof op.cmsg) return false;
  op.iov[0].iov_base = const_cast<void*>(data);
  op.iov[0].iov_len = len;
  op.msg = msghdr{};
  op.msg.msg_iov = op.iov;
  op.msg.msg_iovlen = 1;
  std::memcpy(op.cmsg, cmsg, cmsg_len);
  op.msg.msg_control = op.cmsg;
  op.msg.msg_controllen = cmsg_len;
  if (!w_.ring_.sendmsg(conn_.fd, &op.msg, w_.ud(kSend, index_))) return false;
  w_.free_send_op_ = op.next_free;
  conn_.send_op = op_index;
  conn_.send_iov = 1;
  conn_.flags |= kSendInFlight;
  return true;
}

bool Worker::Port::install_fd(bool for_keys) noexcept {
  return bool(w_.ring_.fd_install(conn_.fd, w_.ud(for_keys ? kKtlsFd : kPeerFd, index_)));
}

void Worker::Port::finish(bool peer_ended) noexcept {
  if (conn_.phase == Phase::teardown) return;
  if (peer_ended && (conn_.phase == Phase::open || conn_.phase == Phase::close_sent)) {
    conn_.close_code = ws::close_code::abnormal;
  }
  conn_.phase = Phase::finish;
  arm_deadline(w_.cfg_.close_timeout_ms);
  w_.mark_dirty(index_, conn_);
}

}  // namespace ringgate::gateway
