// Worker loop and ring plumbing: set-up, the completion dispatch, receiving into provided buffers,
// flushing output, tearing connections down. Accepting is in accept.cpp, deadlines in
// deadlines.cpp; what the bytes mean is the transport's (transport/) and the routes' (upgrade.cpp).
#include "ringgate/gateway/worker.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>

#include "ringgate/core/clock.hpp"
#include "refusal_log.hpp"
#include "route.hpp"
#include "subscribers.hpp"
#include "transport/transport.hpp"
#include "upgrade_policy.hpp"
#include "worker_port.hpp"
#include "user_data.hpp"

namespace ringgate::gateway {
namespace {
constexpr std::uint16_t kNoSendOp = 0xffff;
constexpr std::size_t kSendOps = kMaxSendOps;
}  // namespace

Worker::Worker(unsigned id, const Config& cfg, std::vector<ListenerSpec> listeners, bool ktls_available,
               Hub* hub) noexcept
    : id_(id),
      cfg_(cfg),
      ktls_available_(ktls_available),
      accept_armed_(listeners.size(), 0),
      wheel_(monotonic_ms(), 10),
      epoch_ms_(monotonic_ms()),
      hub_(hub) {
  for (const ListenerSpec& spec : listeners) listeners_.push_back(Listener{spec, nullptr, 0});
}

Worker::~Worker() {
  for (Listener& l : listeners_) {
    if (l.spec.fd >= 0) ::close(l.spec.fd);
  }
}

std::string Worker::features() const { return ring_.features().describe(); }

std::uint64_t Worker::ud(std::uint8_t kind, std::uint32_t index) const noexcept {
  // Accepts name a listener, not a slot; only connection operations carry a generation.
  const std::uint32_t gen = index == kNoSlot || kind == kAccept ? 0 : conns_.generation(index);
  return make_ud(Kind(kind), gen, index);
}

void Worker::request_stop() noexcept { stop_requested_.store(true, std::memory_order_release); }

bool Worker::setup() noexcept {
  net::RingConfig rc;
  rc.direct_descriptors = cfg_.direct_descriptors;
  rc.fixed_files = cfg_.fixed_files;
  std::string why;
  if (!ring_.init(rc, why)) {
    error_ = why;
    return false;
  }
  if (!why.empty()) RG_LOG_WARN("worker %u: %s", id_, why.c_str());
  // 64 bytes of padding after every receive buffer: SIMD readers may overrun the data safely.
  if (!buffers_.init(ring_, 0, cfg_.recv_buffers, cfg_.recv_buffer_bytes, 64, why)) {
    error_ = why;
    return false;
  }
  std::uint32_t capacity = ring_.features().fixed_files;
  if (!ring_.direct()) {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    capacity = std::uint32_t(rl.rlim_cur);
  }
  if (!conns_.init(capacity)) {
    error_ = "cannot reserve the connection slab";
    return false;
  }
  send_ops_.resize(kSendOps);
  for (std::size_t i = 0; i < kSendOps; ++i) {
    send_ops_[i].next_free = std::uint16_t(i + 1 < kSendOps ? i + 1 : kNoSendOp);
  }
  free_send_op_ = 0;
  transport_ = std::make_unique<Transport>(cfg_, metrics_, chunks_, ktls_available_);
  if (!transport_->init()) {
    error_ = "out of memory";
    return false;
  }
  dirty_.reserve(1024);
  rearm_.reserve(1024);
  refusals_ = std::make_unique<RefusalLog>(*this);
  subscribers_ = Subscribers::make(*this, error_);
  if (!subscribers_) return false;
  for (const RouteSpec& row : route_table()) {
    routes_.push_back(row.make(RouteContext{cfg_, metrics_, &subscribers_->exchange}));
    if (!routes_.back()) {
      error_ = "cannot set up the routes (out of memory)";
      return false;
    }
  }
  policy_ = upgrade_policy(cfg_);
  ring_fd_.store(ring_.ring_fd(), std::memory_order_release);
  return true;
}

void Worker::run(std::atomic<int>& ready) noexcept {
  if (!setup()) {
    ready.store(-1, std::memory_order_release);
    return;
  }
  ready.store(1, std::memory_order_release);
  loop();
  subscribers_->exchange.shutdown();  // the broker connections' last operations
  hub_->set_ring_fd(id_, -1);  // no more wake-ups: the ring closes with this worker
  tls::thread_cleanup();
}

void Worker::loop() noexcept {
  now_ms_ = monotonic_ms();
  for (std::size_t i = 0; i < listeners_.size(); ++i) arm_accept(i);
  net::Completion cqes[256];
  std::uint64_t accept_retry_at = 0;
  for (;;) {
    // Wait no longer than the next timer deadline, and wake at least every 100 ms to see a stop
    // request even if its MSG_RING wake-up was missed.
    std::uint64_t wait_ms = 100;
    std::uint64_t next = wheel_.next_deadline_ms();
    // (At least 1 ms: the wheel's bound may be up to a tick early, and spinning would not help.)
    if (next != UINT64_MAX) wait_ms = std::clamp<std::uint64_t>(next > now_ms_ ? next - now_ms_ : 1, 1, wait_ms);
    if (subscribers_->exchange.wake_pending()) wait_ms = 1;  // a mailbox was full: retry the backlog soon
    if (!ring_.submit_and_wait(wait_ms * 1'000'000u)) {
      RG_LOG_ERROR("worker %u: io_uring_enter failed", id_);
    }
    now_ms_ = monotonic_ms();
    subscribers_->exchange.tick(now_ms_);  // pub/sub's clock (linger, history sweeps)
    for (;;) {
      std::size_t n = ring_.reap(cqes, std::size(cqes));
      for (std::size_t i = 0; i < n; ++i) dispatch(cqes[i]);
      if (n < std::size(cqes)) break;
    }
    subscribers_->exchange.pump(true);  // entries from other workers (woken by MSG_RING or not), our backlog, wake-ups
    wheel_.advance(now_ms_, [this](timer::Entry& e) { on_timer(e); });
    metrics_.outbound_chunks.set(std::int64_t(chunks_.outstanding()));
    if (now_ms_ >= next_trim_ms_) {
      next_trim_ms_ = now_ms_ + 1000;
      chunks_.trim();
    }

    if (stop_requested_.load(std::memory_order_acquire) && !draining_) begin_drain();
    if (accept_retry_ && !draining_) {
      if (accept_retry_at == 0) accept_retry_at = now_ms_ + 100;
      if (now_ms_ >= accept_retry_at) {
        accept_retry_ = false;
        accept_retry_at = 0;
        for (std::size_t i = 0; i < listeners_.size(); ++i) {
          if (!accept_armed_[i]) arm_accept(i);
        }
      }
    }
    subscribers_->exchange.poll(now_ms_);  // what the broker got to send goes out in this submit
    flush();
    // What this turn's requests and deliveries sent goes out now; what arrived meanwhile waits for
    // the next turn (its wake-up CQE ends the wait at once), so nothing here needs a flush.
    if (subscribers_->exchange.wake_pending()) subscribers_->exchange.pump(false);
    // Buffers go back before re-arming the receives that ran dry.
    buffers_.publish();
    if (!rearm_.empty()) {
      // arm_recv() appends to rearm_ when no SQE is free; those wait for the next turn.
      const std::size_t n = rearm_.size();
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint32_t index = rearm_[i];
        if (!conns_.live(index)) continue;
        Connection& conn = *conns_.slot(index);
        if ((conn.io & kNeedRecv) && !(conn.io & (kRecvArmed | kReadPaused)) && conn.phase != Phase::teardown &&
            transport_->may_read(conn)) {
          arm_recv(index, conn);
        }
      }
      rearm_.erase(rearm_.begin(), rearm_.begin() + std::ptrdiff_t(n));
    }
    if (draining_) {
      // Done when every connection is released and every accept has returned its last
      // completion: an accept still in the kernel would keep the listening socket open.
      bool accepting = false;
      for (std::uint8_t armed : accept_armed_) accepting |= armed != 0;
      if (conns_.size() == 0 && !accepting) break;
      if (now_ms_ >= drain_deadline_ms_) {
        conns_.for_each([this](std::uint32_t index, Connection& conn) {
          if (conn.phase == Phase::open || conn.phase == Phase::close_sent) conn.close_code = 1006;
          teardown(index, conn);
        });
      }
    }
  }
  (void)ring_.submit();
}

void Worker::dispatch(const net::Completion& c) noexcept {
  const std::uint32_t index = slot_of(c.user_data);
  switch (kind_of(c.user_data)) {
    case kAccept:
      on_accept(index, c);
      return;
    case kFdInstall:
      refusals_->on_fd_installed(c.user_data, c.res);
      return;
    case kCancel:
    case kWake:
      return;
    case kBroker:
      subscribers_->exchange.on_completion(c.user_data, c.res, now_ms_);
      return;
    default:
      break;
  }
  Connection* conn = index == kNoSlot ? nullptr : conns_.get_masked(index, gen_of(c.user_data), kGenMask);
  if (conn == nullptr) {
    // A completion for a connection that is gone: only a consumed buffer or a descriptor made
    // for it needs handling.
    if (c.has_buffer()) buffers_.recycle(c.buffer_id());
    const Kind k = kind_of(c.user_data);
    if ((k == kPeerFd || k == kKtlsFd) && c.res >= 0) ::close(c.res);
    return;
  }
  switch (kind_of(c.user_data)) {
    case kRecv:
      on_recv(index, *conn, c);
      return;
    case kSend:
      on_send(index, *conn, c);
      return;
    case kClose:
      conn->io |= kCloseDone;
      maybe_release(index, *conn);
      return;
    case kShutdown:
      conn->io &= std::uint8_t(~kShutdownInFlight);
      close_if_deferred(index, *conn);
      return;
    case kPeerFd:
    case kKtlsFd: {
      Port port(*this, index, *conn);
      transport_->on_fd(port, *conn, kind_of(c.user_data) == kKtlsFd, c.res);
      return;
    }
    default:
      RG_BUG_IF(true);
      return;
  }
}

void Worker::arm_recv(std::uint32_t index, Connection& conn) noexcept {
  if (ring_.recv_multishot(conn.fd, buffers_.group(), ud(kRecv, index))) {
    conn.io = std::uint8_t((conn.io | kRecvArmed) & ~kNeedRecv);
  } else {
    conn.io |= kNeedRecv;
    rearm_.push_back(index);
  }
}

void Worker::on_recv(std::uint32_t index, Connection& conn, const net::Completion& c) noexcept {
  if (!c.more()) conn.io &= std::uint8_t(~kRecvArmed);
  Port port(*this, index, conn);
  if (transport_->owns_recv(conn)) {
    transport_->on_recv(port, conn, c);
    return;
  }
  const std::uint32_t gen = conns_.generation(index);
  if (c.res > 0) {
    const std::uint16_t bid = c.buffer_id();
    metrics_.bytes_received.add(std::uint64_t(c.res));
    conn.last_rx_ms = now32();  // the peer is alive: the next ping moves later (lazily)
    if (conn.phase != Phase::teardown && conn.phase != Phase::linger && conn.phase != Phase::finish) {
      transport_->input(port, conn, buffers_.buffer(bid), std::size_t(c.res));
    }
    buffers_.recycle(bid);
    // The input may have torn the connection down and released its slot.
    if (conns_.generation(index) != gen) return;
    if (!(conn.io & kRecvArmed) && conn.phase != Phase::teardown && !(conn.io & kReadPaused) &&
        transport_->may_read(conn)) {
      conn.io |= kNeedRecv;
      rearm_.push_back(index);
    }
    transport_->after_recv(port, conn);
  } else if (c.res == 0) {
    teardown(index, conn, true);
  } else if (c.res == -ENOBUFS) {
    metrics_.recv_no_buffers.add();
    conn.io |= kNeedRecv;
    rearm_.push_back(index);
    transport_->after_recv(port, conn);  // (a kTLS switch waited for this receive to end)
  } else if (c.res == -ECANCELED) {
    // A pause (backpressure), a teardown or a move to kTLS canceled it. If the pause already
    // ended while the cancellation was in flight, reading must resume now.
    if (!transport_->after_recv(port, conn) && !(conn.io & (kReadPaused | kRecvArmed)) &&
        conn.phase != Phase::teardown) {
      conn.io |= kNeedRecv;
      rearm_.push_back(index);
    }
  } else if (!transport_->on_recv_error(port, conn, c.res)) {
    teardown(index, conn, true);
  }
  if (conns_.generation(index) == gen) maybe_release(index, conn);
}

void Worker::mark_dirty(std::uint32_t index, Connection& conn) noexcept {
  if (conn.io & kDirty) return;
  conn.io |= kDirty;
  dirty_.push_back(index);
}

void Worker::flush() noexcept {
  // dirty_ may grow while we walk it (a teardown never adds, but stay index-based to be safe).
  for (std::size_t i = 0; i < dirty_.size(); ++i) {
    const std::uint32_t index = dirty_[i];
    if (!conns_.live(index)) continue;
    Connection& conn = *conns_.slot(index);
    if (!(conn.io & kDirty)) continue;
    conn.io &= std::uint8_t(~kDirty);
    if (conn.phase == Phase::teardown || (conn.io & kSendInFlight) || transport_->busy(conn) ||
        (conn.ending & kLogPending)) {
      continue;
    }
    Port port(*this, index, conn);
    OutQueue* wire = transport_->wire(port, conn);
    if (wire == nullptr) continue;  // (torn down)
    if (!wire->empty()) {
      start_send(index, conn, *wire);
      continue;
    }
    if (transport_->step(port, conn)) continue;
    if (conn.phase == Phase::finish || (conn.phase == Phase::linger && !(conn.ending & kShutdownSent))) {
      const Transport::CloseStep step = transport_->close(port, conn);
      if (step == Transport::CloseStep::send) start_send(index, conn, *wire);
      if (step != Transport::CloseStep::done) continue;
    }
    if (conn.phase == Phase::finish) {
      teardown(index, conn);
    } else if (conn.phase == Phase::linger && !(conn.ending & kShutdownSent) && !(conn.ending & kNoFin)) {
      // Our last bytes are out: send FIN, then read and discard until the peer closes, so
      // unread request bytes cannot turn our close into a reset that destroys the response.
      if (ring_.shutdown_write(conn.fd, ud(kShutdown, index))) {
        conn.ending |= kShutdownSent;
        conn.io |= kShutdownInFlight;
      }
    }
  }
  dirty_.clear();
}

void Worker::start_send(std::uint32_t index, Connection& conn, OutQueue& q) noexcept {
  const Chunk* head = q.head();
  bool ok;
  if (head->next == nullptr || free_send_op_ == kNoSendOp) {
    conn.send_iov = 0;
    ok = bool(ring_.send(conn.fd, head->bytes() + head->begin, head->size(), ud(kSend, index)));
    if (ok) q.lock_head();
  } else {
    const std::uint16_t op_index = free_send_op_;
    SendOp& op = send_ops_[op_index];
    std::size_t n = q.fill_iov(op.iov, std::size(op.iov));
    op.msg = msghdr{};
    op.msg.msg_iov = op.iov;
    op.msg.msg_iovlen = n;
    ok = bool(ring_.sendmsg(conn.fd, &op.msg, ud(kSend, index)));
    if (ok) {
      free_send_op_ = op.next_free;
      conn.send_op = op_index;
      conn.send_iov = std::uint16_t(n) & 63;
    }
  }
  if (ok) {
    conn.io |= kSendInFlight;
  } else {
    mark_dirty(index, conn);  // no SQE free: try again next turn
  }
}

void Worker::on_send(std::uint32_t index, Connection& conn, const net::Completion& c) noexcept {
  conn.io &= std::uint8_t(~kSendInFlight);
  if (conn.send_iov != 0) {
    send_ops_[conn.send_op].next_free = free_send_op_;
    free_send_op_ = conn.send_op;
    conn.send_iov = 0;
  }
  const bool taken_back = c.res == -ECANCELED && (conn.ending & kSlowClose);
  if (c.res < 0 && !taken_back) {
    teardown(index, conn, true);
    maybe_release(index, conn);
    return;
  }
  const std::size_t sent = taken_back ? 0 : std::size_t(c.res);
  metrics_.bytes_sent.add(sent);
  transport_->sent(conn, sent);
  if (conn.phase == Phase::teardown) {
    maybe_release(index, conn);
    return;
  }
  Port port(*this, index, conn);
  if (conn.ending & kSlowClose) port.finish_slow_close();
  mark_dirty(index, conn);  // more to send, or a phase step (finish, linger) to take
  if ((conn.stream & kWantDrained) && port.queued() <= cfg_.max_outbound_bytes / 2) {
    conn.stream &= std::uint8_t(~kWantDrained);
    subscribers_->exchange.drained(port.token());  // gap notices the drop policy kept
  }
  port.maybe_resume();
}

void Worker::teardown(std::uint32_t index, Connection& conn, bool peer_gone) noexcept {
  if (conn.phase == Phase::teardown) return;
  if (peer_gone && conn.phase == Phase::open) conn.close_code = ws::close_code::abnormal;
  conn.phase = Phase::teardown;
  wheel_.cancel(conn.timer);
  if (RouteHandler* route = route_handler(conn)) {
    Port port(*this, index, conn);
    route->on_close(port);  // (/ws: its subscriptions go; deferred while a delivery walks)
  }
  release_in(chunks_, conn);
  if (conn.io & kRecvArmed) (void)ring_.cancel(ud(kRecv, index), ud(kCancel, index));
  if (conn.io & kSendInFlight) (void)ring_.cancel(ud(kSend, index), ud(kCancel, index));
  conn.ending |= kCloseDeferred;
  close_if_deferred(index, conn);
}

// The descriptor closes once nothing in flight still needs it: a shutdown (see kShutdownInFlight)
// or the peer-address lookup of a refusal line (kLogPending).
void Worker::close_if_deferred(std::uint32_t index, Connection& conn) noexcept {
  if (!(conn.ending & kCloseDeferred) || (conn.io & kShutdownInFlight) || (conn.ending & kLogPending)) return;
  conn.ending &= std::uint8_t(~kCloseDeferred);
  if (!ring_.close(conn.fd, ud(kClose, index))) {
    RG_LOG_ERROR("worker %u: no SQE to close a connection", id_);
    conn.io |= kCloseDone;
  }
}

void Worker::maybe_release(std::uint32_t index, Connection& conn) noexcept {
  if (conn.phase != Phase::teardown) return;
  if (conn.io & (kRecvArmed | kSendInFlight)) return;
  if (!(conn.io & kCloseDone)) return;
  if (transport_->busy(conn)) return;  // a descriptor is being made for it: wait for that too
  if (conn.close_code != 0) metrics_.count_close(conn.close_code);
  conn.out.clear(chunks_);
  transport_->release(conn, index);
  metrics_.connections_active.add(-1);
  conns_.free(index);
}

}  // namespace ringgate::gateway
