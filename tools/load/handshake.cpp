// Handshake-mode worker: slots looping connect -> TLS -> close (see handshake.hpp).
#include "handshake.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <vector>

#include "ringgate/net/buffer_ring.hpp"
#include "ringgate/net/ring.hpp"
#include "tls_conn.hpp"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace ringgate::load {

void HandshakeStats::merge(const HandshakeStats& o) noexcept {
  latency_ns.merge(o.latency_ns);
  handshakes += o.handshakes, full += o.full, resumed += o.resumed, failures += o.failures;
  ticket_waits_expired += o.ticket_waits_expired;
  for (int i = 0; i < kCauses; ++i) causes[i] += o.causes[i];
  for (int i = 0; i < tls::kFailureCount; ++i) tls_failures[i] += o.tls_failures[i];
}

namespace {
enum Kind : std::uint64_t { kConnect = 1, kRecv = 2, kSend = 3, kClose = 4, kCancel = 5 };
// kind (8 bits) | generation (24 bits) | slot (32 bits)
constexpr std::uint64_t ud(Kind k, std::uint32_t gen, std::uint32_t c) noexcept {
  return (std::uint64_t(k) << 56) | (std::uint64_t(gen & 0xffffff) << 32) | c;
}
constexpr std::uint16_t kGroup = 1;
constexpr std::uint64_t kTicketWaitNs = 200'000'000;  // TLS 1.3 NewSessionTicket after the handshake
constexpr std::uint64_t kBackoffNs = 1'000'000;       // after a failed cycle (e.g. refused): no busy loop

enum class St : std::uint8_t { idle, connecting, tls, ticket, closing, closing_slot };

struct Slot {
  St st = St::idle;
  bool recv_armed = false, send_busy = false, rearm = false;
  bool reopen_after_send = false;  // closed while a send was in flight: its buffer is still lent
  bool backoff = false;            // the cycle failed: pause before the next connect
  std::uint32_t gen = 0, send_off = 0;
  std::unique_ptr<TlsConn> tls;
  std::vector<std::uint8_t> sending;
  std::vector<std::uint8_t> saved;  // the session to offer next cycle (--resume)
};
}  // namespace

class HandshakeWorker::Impl {
 public:
  explicit Impl(HandshakeWorker& w) : w_(w), o_(*w.shared_.opts), slots_(w.slots_) {}

  void run() {
    std::string why;
    net::RingConfig rc;
    rc.fixed_files = std::max<unsigned>(w_.slots_, 16);
    rc.sq_entries = 1024;
    rc.cq_entries = 8192;
    if (!ring_.init(rc, why) || !ring_.direct()) {
      w_.fatal_ = "handshake worker " + std::to_string(w_.id_) + ": " + (why.empty() ? "no fixed-file table" : why);
      return;
    }
    if (!bufs_.init(ring_, kGroup, 256, 4096, 64, why)) {
      w_.fatal_ = "handshake worker " + std::to_string(w_.id_) + ": " + why;
      return;
    }
    loop();
  }

 private:
  bool running() const noexcept { return phase_ <= Phase::measure; }
  bool measuring() const noexcept { return phase_ == Phase::measure; }

  void fail(std::uint32_t c, Cause cause, tls::Failure why = tls::Failure::none) noexcept {
    Slot& s = slots_[c];
    if (measuring()) {
      ++w_.stats_.failures;
      ++w_.stats_.causes[int(cause)];
      if (cause == Cause::tls_handshake) ++w_.stats_.tls_failures[int(why)];
    }
    w_.progress_.failed.fetch_add(1, std::memory_order_relaxed);
    s.saved.clear();  // start the next cycle with a full handshake
    s.backoff = true;
    teardown(c);
  }

  void open(std::uint32_t c) noexcept {
    Slot& s = slots_[c];
    s.gen = (s.gen + 1) & 0xffffff;
    s.st = St::connecting;
    s.recv_armed = false;
    s.send_off = 0;
    s.sending.clear();
    const net::SockAddr& t = o_.target;
    int fd = ::socket(t.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = fd >= 0;
    if (ok) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (t.storage.ss_family == AF_INET) {
        // Spread source addresses so short-lived connections do not exhaust one port range.
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        sockaddr_in src{};
        src.sin_family = AF_INET;
        std::uint32_t j = std::uint32_t(cycles_++ % o_.src_spread);
        src.sin_addr.s_addr = htonl((127u << 24) | (2 + j));
        ok = ::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) == 0;
      }
      ok = ok && ring_.register_file(c, fd).ok();
      ::close(fd);
    }
    if (!ok) {
      // Count it, then wait before retrying so a broken set-up does not spin.
      if (measuring()) ++w_.stats_.failures, ++w_.stats_.causes[int(Cause::socket_setup)];
      w_.progress_.failed.fetch_add(1, std::memory_order_relaxed);
      s.st = St::idle;
      retry_.push_back({now_ + kBackoffNs, c});
      return;
    }
    if (!ring_.connect(int(c), t.sa(), t.len, ud(kConnect, s.gen, c))) {
      fail(c, Cause::connect_error);
      return;
    }
    deadlines_.push_back({now_ + std::uint64_t(o_.connect_timeout_s * 1e9), c, s.gen});
  }

  void on_connect(std::uint32_t c, int res) noexcept {
    Slot& s = slots_[c];
    if (s.st != St::connecting) return;
    if (res < 0) {
      fail(c, res == -ECONNREFUSED ? Cause::refused
              : res == -EADDRNOTAVAIL ? Cause::addr_not_available
                                      : Cause::connect_error);
      return;
    }
    s.st = St::tls;
    s.tls = std::make_unique<TlsConn>();
    bool offer = o_.resume != "none" && !s.saved.empty();
    if (!s.tls->start(w_.shared_.tls, o_.sni, offer ? std::span<const std::uint8_t>(s.saved) : std::span<const std::uint8_t>(),
                      now_ns())) {
      fail(c, Cause::tls_handshake, s.tls->failure());
      return;
    }
    send(c);
    if (ring_.recv_multishot(int(c), kGroup, ud(kRecv, s.gen, c))) s.recv_armed = true;
  }

  void handshake_done(std::uint32_t c) noexcept {
    Slot& s = slots_[c];
    std::uint64_t t = now_ns();
    w_.progress_.handshakes.fetch_add(1, std::memory_order_relaxed);
    if (measuring()) {
      HandshakeStats& st = w_.stats_;
      ++st.handshakes;
      ++(s.tls->session().resumed() ? st.resumed : st.full);
      st.latency_ns.record(t - s.tls->started_ns());
    }
    bool wait_ticket = o_.resume == "tickets" && s.tls->session().version() == tls::kTls13;
    if (wait_ticket) {
      s.st = St::ticket;
      deadlines_.push_back({t + kTicketWaitNs, c, s.gen});
    } else {
      finish(c);
    }
  }

  // Saves the session for the next cycle, then close_notify and close.
  void finish(std::uint32_t c) noexcept {
    Slot& s = slots_[c];
    if (o_.resume != "none") s.saved = s.tls->session().save();
    s.st = St::closing;
    s.tls->queue_close_notify();
    send(c);
    if (!s.send_busy) teardown(c);
  }

  void on_bytes(std::uint32_t c, const std::uint8_t* p, std::size_t n) noexcept {
    Slot& s = slots_[c];
    if (s.st != St::tls && s.st != St::ticket) return;  // closing: the server's close_notify, ignored
    TlsConn* t = s.tls.get();
    TlsConn::In r = t->receive(
        {p, n}, plain_,
        [&] {
          handshake_done(c);
          return s.st == St::ticket;  // keep reading only while waiting for a ticket
        },
        [](std::uint8_t*, std::size_t) { return true; });  // no application data expected
    if (r == TlsConn::In::failed) {
      if (s.st == St::tls) {
        fail(c, Cause::tls_handshake, t->failure());
      } else if (s.st == St::ticket) {
        fail(c, Cause::tls_error);
      }
      return;
    }
    if (s.st == St::tls && r == TlsConn::In::closed) {
      fail(c, Cause::tls_handshake, tls::Failure::alert);
      return;
    }
    if (s.st == St::ticket && (r == TlsConn::In::closed || t->inputs_after_handshake() > 0)) {
      finish(c);  // the ticket (or the server's close) has come
      return;
    }
    if (s.st == St::tls || s.st == St::ticket) send(c);  // our next flight (or Finished)
  }

  void on_recv(std::uint32_t c, std::uint32_t gen, const net::Completion& cq) noexcept {
    Slot& s = slots_[c];
    if (cq.has_buffer()) {
      if (cq.res > 0 && gen == s.gen) on_bytes(c, bufs_.buffer(cq.buffer_id()), std::size_t(cq.res));
      bufs_.recycle(cq.buffer_id());
    }
    if (gen != s.gen || cq.more()) return;
    s.recv_armed = false;
    if (cq.res == -ENOBUFS || cq.res > 0) {
      if ((s.st == St::tls || s.st == St::ticket || s.st == St::closing) && !s.rearm) {
        s.rearm = true;
        rearm_.push_back(c);
      }
      return;
    }
    // EOF or error.
    if (s.st == St::tls) {
      fail(c, Cause::closed_early);
    } else if (s.st == St::ticket) {
      finish(c);
    }
  }

  void send(std::uint32_t c) noexcept {
    Slot& s = slots_[c];
    if (s.send_busy || !s.tls || s.tls->wire().empty()) return;
    s.sending.swap(s.tls->wire());
    s.tls->wire().clear();
    s.send_off = 0;
    start_send(c);
  }

  void start_send(std::uint32_t c) noexcept {
    Slot& s = slots_[c];
    if (ring_.send(int(c), s.sending.data() + s.send_off, s.sending.size() - s.send_off, ud(kSend, s.gen, c))) {
      s.send_busy = true;
    } else {
      fail(c, Cause::send_error);
    }
  }

  void on_send(std::uint32_t c, int res) noexcept {
    Slot& s = slots_[c];
    s.send_busy = false;
    if (res < 0) {
      if (s.st == St::closing) {
        teardown(c);  // the server went first; the handshake itself was counted
      } else {
        fail(c, Cause::send_error);
      }
      return;
    }
    s.send_off += std::uint32_t(res);
    if (s.send_off < s.sending.size()) {
      start_send(c);
      return;
    }
    s.sending.clear();
    send(c);
    if (s.st == St::closing && !s.send_busy) teardown(c);
  }

  // Cancels what is armed and closes the fixed slot; the close completion starts the next cycle.
  void teardown(std::uint32_t c) noexcept {
    Slot& s = slots_[c];
    if (s.st == St::closing_slot || s.st == St::idle) return;
    if (s.st == St::connecting) (void)ring_.cancel(ud(kConnect, s.gen, c), ud(kCancel, s.gen, c));
    if (s.recv_armed) (void)ring_.cancel(ud(kRecv, s.gen, c), ud(kCancel, s.gen, c));
    if (s.send_busy) (void)ring_.cancel(ud(kSend, s.gen, c), ud(kCancel, s.gen, c));
    s.st = St::closing_slot;
    if (s.tls) graveyard_.push_back(std::move(s.tls));
    if (!ring_.close(int(c), ud(kClose, s.gen, c))) closed(c);
  }

  void closed(std::uint32_t c) noexcept {
    Slot& s = slots_[c];
    s.st = St::idle;
    s.gen = (s.gen + 1) & 0xffffff;  // whatever of the old cycle still completes is stale now
    if (s.send_busy) {
      s.reopen_after_send = true;  // the kernel may still read `sending`
      return;
    }
    if (running() && s.backoff) {
      s.backoff = false;
      retry_.push_back({now_ + kBackoffNs, c});
    } else if (running()) {
      open(c);
    } else {
      w_.progress_.live.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  void expire() noexcept {
    while (!deadlines_.empty() && deadlines_.front().at <= now_) {
      Deadline d = deadlines_.front();
      deadlines_.pop_front();
      Slot& s = slots_[d.c];
      if (s.gen != d.gen) continue;
      if (s.st == St::connecting || s.st == St::tls) {
        fail(d.c, Cause::connect_timeout);
      } else if (s.st == St::ticket) {
        if (measuring()) ++w_.stats_.ticket_waits_expired;
        finish(d.c);
      }
    }
    while (!retry_.empty() && retry_.front().first <= now_) {
      std::uint32_t c = retry_.front().second;
      retry_.pop_front();
      if (slots_[c].st != St::idle) continue;
      if (running()) {
        open(c);
      } else {
        w_.progress_.live.fetch_sub(1, std::memory_order_relaxed);
      }
    }
  }

  void dispatch(const net::Completion& cq) noexcept {
    std::uint32_t c = std::uint32_t(cq.user_data);
    std::uint32_t gen = std::uint32_t(cq.user_data >> 32) & 0xffffff;
    Kind kind = Kind(cq.user_data >> 56);
    if (kind == kRecv) {
      on_recv(c, gen, cq);
      return;
    }
    Slot& s = slots_[c];
    if (gen != s.gen) {  // an earlier cycle's operation
      if (kind == kSend) {
        s.send_busy = false;
        if (s.reopen_after_send) {
          s.reopen_after_send = false;
          s.gen = (s.gen - 1) & 0xffffff;  // closed() advances it again
          closed(c);
        }
      }
      return;
    }
    switch (kind) {
      case kConnect: on_connect(c, cq.res); break;
      case kSend: on_send(c, cq.res); break;
      case kClose:
        if (s.st == St::closing_slot) closed(c);
        break;
      default: break;
    }
  }

  void loop() {
    net::Completion cq[256];
    now_ = now_ns();
    phase_ = w_.shared_.phase.load(std::memory_order_acquire);
    w_.progress_.live.store(slots_.size(), std::memory_order_relaxed);
    for (std::uint32_t c = 0; c < slots_.size(); ++c) open(c);
    while (!w_.shared_.stop.load(std::memory_order_relaxed)) {
      phase_ = w_.shared_.phase.load(std::memory_order_acquire);
      now_ = now_ns();
      if (phase_ == Phase::done) break;
      (void)ring_.submit_and_wait(20'000'000);
      for (;;) {
        std::size_t n = ring_.reap(cq, 256);
        if (n == 0) break;
        now_ = now_ns();
        for (std::size_t i = 0; i < n; ++i) dispatch(cq[i]);
      }
      expire();
      bufs_.publish();
      graveyard_.clear();
      for (std::uint32_t c : rearm_) {
        Slot& s = slots_[c];
        s.rearm = false;
        if ((s.st == St::tls || s.st == St::ticket || s.st == St::closing) && !s.recv_armed &&
            ring_.recv_multishot(int(c), kGroup, ud(kRecv, s.gen, c))) {
          s.recv_armed = true;
        }
      }
      rearm_.clear();
    }
  }

  struct Deadline {
    std::uint64_t at;
    std::uint32_t c, gen;
  };

  HandshakeWorker& w_;
  const Options& o_;
  net::Ring ring_;
  net::BufferRing bufs_;
  std::vector<Slot> slots_;
  std::deque<Deadline> deadlines_;
  std::deque<std::pair<std::uint64_t, std::uint32_t>> retry_;
  std::vector<std::uint32_t> rearm_;
  std::vector<std::unique_ptr<TlsConn>> graveyard_;
  std::uint8_t plain_[16384 + 256];
  std::uint64_t now_ = 0, cycles_ = 0;
  Phase phase_ = Phase::connecting;
};

HandshakeWorker::HandshakeWorker(WorkerShared& shared, unsigned id, std::uint32_t slots)
    : shared_(shared), id_(id), slots_(slots) {}
HandshakeWorker::~HandshakeWorker() { join(); }

void HandshakeWorker::start() {
  thread_ = std::thread([this] {
    auto impl = std::make_unique<Impl>(*this);
    impl->run();
    impl.reset();
    tls::thread_cleanup();
    progress_.live.store(0, std::memory_order_relaxed);
  });
}

void HandshakeWorker::join() {
  if (thread_.joinable()) thread_.join();
}

}  // namespace ringgate::load
