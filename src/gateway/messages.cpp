// WebSocket messages in and out of a connection: the parser's events become whole messages for
// the connection's route (control frames are answered here, the same for every route), and the
// route's writes go through Worker::Port into the one frame writer (message_writer.cpp).
//
// A message that arrives whole in one receive buffer is handed to the route in place (the buffer
// ring's padding follows it). One spanning frames or buffers is assembled in conn.in, a chunk with
// kHeadroom free in front (so the echo of a large message is queued without a copy) and
// kMessagePadding after; past the route's collect_limit() it is discarded and on_oversize() called.
#include <cstring>

#include "message_writer.hpp"
#include "refusal_log.hpp"
#include "route.hpp"
#include "transport/transport.hpp"
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
    const bool oversize = conn.stream & kOversize;
    if (conn.in == nullptr && message_end && !oversize) return deliver(op, chunk);
    if (!oversize) collect(chunk);
    if (!message_end || port.failed) return;
    if (conn.stream & kOversize) {
      conn.stream &= std::uint8_t(~kOversize);
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
      release_in(w.chunks_, conn);  // too large for the route: stop collecting, tell it when the message ends
      conn.stream |= kOversize;
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

  // After a batch of frames: close on a failure (ours, or the peer's protocol error) and pause
  // reading a peer that does not read.
  void finish(std::uint32_t gen, const ws::FeedResult& r) noexcept {
    if (w.conns_.generation(index) != gen || conn.phase == Phase::teardown) return;  // torn down meanwhile
    if (conn.phase != Phase::open || port.failed || r.close_code != 0) release_in(w.chunks_, conn);
    if (port.failed && conn.phase == Phase::open) {
      w.send_close(index, conn, ws::close_code::internal_error, "out of memory", Phase::linger);
      return;
    }
    if (r.close_code != 0 && (conn.phase == Phase::open || conn.phase == Phase::close_sent)) {
      // The peer broke the protocol: say why in a close frame, then shut down and drain.
      w.send_close(index, conn, r.close_code, r.reason, Phase::linger);
      return;
    }
    if (port.held_bytes() > w.cfg_.max_outbound_bytes && conn.phase == Phase::open) {
      // The peer sends (requests) faster than it reads, or than its publishes are answered: stop
      // reading until its queue drains (Port::maybe_resume).
      if (!(conn.io & kPaused)) w.metrics_.backpressure_pauses.add();
      port.pause(kPaused);
    }
  }
};

void Worker::on_frames(std::uint32_t index, Connection& conn, std::uint8_t* data, std::size_t len) noexcept {
  Port port(*this, index, conn);
  port.in_feed = true;
  FrameSink sink{*this, port, index, conn, *route_handler(conn)};
  ws::Limits limits;
  limits.max_message_bytes = cfg_.max_message_bytes;
  const std::uint32_t gen = conns_.generation(index);
  const ws::FeedResult r = conn.parser.feed(data, len, sink, limits);
  sink.finish(gen, r);
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

// ---- Worker::Port ----

std::uint64_t Worker::Port::token() const noexcept {
  return std::uint64_t(w_.conns_.generation(index_)) << 32 | index_;
}

std::uint64_t Worker::Port::queued() const noexcept { return conn_.out.footprint() + w_.transport_->queued(conn_); }

std::uint64_t Worker::Port::held_bytes() const noexcept {
  const RouteHandler* route = w_.route_handler(conn_);
  return queued() + (route != nullptr ? route->held_bytes(token()) : 0);
}

// A peer paused for holding too much (FrameSink::finish) is read again below half the limit.
void Worker::Port::maybe_resume() noexcept {
  if (conn_.phase == Phase::teardown) return;  // (a reply that ran out of memory tore it down)
  if ((conn_.io & kPaused) && held_bytes() <= w_.cfg_.max_outbound_bytes / 2) resume(kPaused);
}

// A slow consumer (pub/sub's disconnect policy): what the peer has not taken is dropped (memory
// stays bounded), and the 4100 close jumps what is left: it ends the stream anyway. A send the
// kernel is stuck on (the peer's window is shut) is taken back, since on a stream socket a send
// that has not completed has sent nothing; the close then follows at most the rest of a chunk a
// send left half out. (User-space TLS records cannot be taken back: there the close waits behind
// the ciphertext, at most what the transport encrypts ahead.)
void Worker::Port::slow_close() noexcept {
  if (conn_.ending & kSlowClose) return;  // already on its way out
  w_.metrics_.pubsub_slow_closes.add();
  conn_.out.drop_unsent(w_.chunks_);
  if ((conn_.io & kSendInFlight) && w_.transport_->plain_wire(conn_)) {
    conn_.ending |= kSlowClose;
    conn_.close_code = kCloseSlowConsumer;
    conn_.phase = Phase::close_sent;
    arm_deadline(w_.cfg_.close_timeout_ms);
    (void)w_.ring_.cancel(w_.ud(kSend, index_), w_.ud(kCancel, index_));
    return;
  }
  w_.send_close(index_, conn_, kCloseSlowConsumer, "slow consumer", Phase::close_sent);
}

// The stuck send came back (taken back, or completed): drop what it held beyond a half-sent chunk
// and queue the 4100.
void Worker::Port::finish_slow_close() noexcept {
  conn_.ending &= std::uint8_t(~kSlowClose);
  if (conn_.phase != Phase::close_sent && conn_.phase != Phase::finish) return;
  conn_.out.drop_unsent(w_.chunks_);
  // If the peer's close came meanwhile (finish), ours still answers it, and then we close.
  w_.send_close(index_, conn_, kCloseSlowConsumer, "slow consumer", conn_.phase);
}

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
  if (bytes.empty()) return true;
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
  release_in(w_.chunks_, conn_);
  conn_.phase = Phase::linger;
  arm_deadline(w_.cfg_.close_timeout_ms);
}

void Worker::Port::pause_reading() noexcept { pause(kRoutePaused); }

void Worker::Port::resume_reading() noexcept { resume(kRoutePaused); }

// Reading stops for `why` (the worker's backpressure or the route); it starts again only when no
// reason is left.
void Worker::Port::pause(std::uint8_t why) noexcept {
  if (conn_.io & why) return;
  const bool reading = !(conn_.io & kReadPaused);
  conn_.io |= why;
  if (reading && (conn_.io & kRecvArmed)) (void)w_.ring_.cancel(w_.ud(kRecv, index_), w_.ud(kCancel, index_));
}

void Worker::Port::resume(std::uint8_t why) noexcept {
  if (!(conn_.io & why)) return;
  conn_.io &= std::uint8_t(~why);
  if (!(conn_.io & (kReadPaused | kRecvArmed))) w_.arm_recv(index_, conn_);
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
  if (conn_.io & kRecvArmed) (void)w_.ring_.cancel(w_.ud(kRecv, index_), w_.ud(kCancel, index_));
}

bool Worker::Port::recvmsg(msghdr* msg) noexcept {
  if (!w_.ring_.recvmsg(conn_.fd, msg, w_.ud(kRecv, index_))) return false;
  conn_.io |= kRecvArmed;
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
  conn_.io |= kSendInFlight;
  return true;
}

bool Worker::Port::install_fd(bool for_keys) noexcept {
  return bool(w_.ring_.fd_install(conn_.fd, w_.ud(for_keys ? kKtlsFd : kPeerFd, index_)));
}

void Worker::Port::log_proxy_refusal(ProxyResult why, const sockaddr* peer) noexcept {
  w_.refusals_->proxy_refusal(index_, conn_, why, peer);
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
