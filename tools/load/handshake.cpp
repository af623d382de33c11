// Handshake-mode worker: slots looping connect -> TLS -> close over the shared client engine
// (engine.hpp; see handshake.hpp).
#include "handshake.hpp"

#include <algorithm>
#include <cerrno>
#include <deque>
#include <vector>

#include "engine.hpp"
#include "tls_conn.hpp"

namespace ringgate::load {

void HandshakeStats::merge(const HandshakeStats& o) noexcept {
  latency_ns.merge(o.latency_ns);
  handshakes += o.handshakes, full += o.full, resumed += o.resumed, failures += o.failures;
  ticket_waits_expired += o.ticket_waits_expired;
  for (int i = 0; i < kCauses; ++i) causes[i] += o.causes[i];
  for (int i = 0; i < tls::kFailureCount; ++i) tls_failures[i] += o.tls_failures[i];
}

namespace {
constexpr std::uint64_t kTicketWaitNs = 200'000'000;  // TLS 1.3 NewSessionTicket after the handshake
constexpr std::uint64_t kBackoffNs = 1'000'000;       // after a failed cycle (e.g. refused): no busy loop

enum class St : std::uint8_t { idle, connecting, tls, ticket, closing, closing_slot };

struct Slot {
  St st = St::idle;
  bool backoff = false;  // the cycle failed: pause before the next connect
  std::unique_ptr<TlsConn> tls;
  std::vector<std::uint8_t> saved;  // the session to offer next cycle (--resume)
};
}  // namespace

class HandshakeWorker::Impl final : public EngineDriver {
 public:
  explicit Impl(HandshakeWorker& w) : w_(w), o_(*w.shared_.opts), engine_(*this, o_, w.slots_), slots_(w.slots_) {}

  void run() {
    std::string why;
    EngineConfig ec;
    ec.fixed_files = std::max<unsigned>(w_.slots_, 16);
    ec.sq_entries = 1024;
    ec.cq_entries = 8192;
    ec.buffers = 256;
    if (!engine_.init(ec, why)) {
      w_.fatal_ = "handshake worker " + std::to_string(w_.id_) + ": " + why;
      return;
    }
    loop();
  }

  // EngineDriver
  bool active(std::uint32_t c) const noexcept override {
    return slots_[c].st != St::idle && slots_[c].st != St::closing_slot;
  }
  void on_connect(std::uint32_t c, int res) noexcept override;
  void on_data(std::uint32_t c, std::uint8_t* p, std::size_t n) noexcept override;
  void on_eof(std::uint32_t c) noexcept override {
    if (slots_[c].st == St::tls) {
      fail(c, Cause::closed_early);
    } else if (slots_[c].st == St::ticket) {
      finish(c);
    }
  }
  void on_sent(std::uint32_t c, int res) noexcept override;
  void on_deadline(std::uint32_t c) noexcept override;
  void on_closed(std::uint32_t c) noexcept override;

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
    s.st = St::connecting;
    ClientEngine::Opened r = engine_.open(c, cycles_++, false);
    if (r == ClientEngine::Opened::setup_failed) {
      // Count it, then wait before retrying so a broken set-up does not spin.
      if (measuring()) ++w_.stats_.failures, ++w_.stats_.causes[int(Cause::socket_setup)];
      w_.progress_.failed.fetch_add(1, std::memory_order_relaxed);
      s.st = St::idle;
      retry_.push_back({engine_.now() + kBackoffNs, c});
    } else if (r == ClientEngine::Opened::submit_failed) {
      fail(c, Cause::connect_error);
    }
  }

  void handshake_done(std::uint32_t c) noexcept;
  void finish(std::uint32_t c) noexcept;
  void send(std::uint32_t c) noexcept {
    Slot& s = slots_[c];
    if (s.tls) engine_.send(c, s.tls->wire());
  }
  void teardown(std::uint32_t c) noexcept;
  void retry() noexcept;
  void loop();

  HandshakeWorker& w_;
  const Options& o_;
  ClientEngine engine_;
  std::vector<Slot> slots_;
  std::deque<std::pair<std::uint64_t, std::uint32_t>> retry_;
  std::uint64_t cycles_ = 0;
  Phase phase_ = Phase::connecting;
};

void HandshakeWorker::Impl::on_connect(std::uint32_t c, int res) noexcept {
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
  engine_.arm_recv(c);
}

void HandshakeWorker::Impl::handshake_done(std::uint32_t c) noexcept {
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
    engine_.add_deadline(c, t + kTicketWaitNs);
  } else {
    finish(c);
  }
}

// Saves the session for the next cycle, then close_notify and close.
void HandshakeWorker::Impl::finish(std::uint32_t c) noexcept {
  Slot& s = slots_[c];
  if (o_.resume != "none") s.saved = s.tls->session().save();
  s.st = St::closing;
  s.tls->queue_close_notify();
  send(c);
  if (!engine_.send_busy(c)) teardown(c);
}

void HandshakeWorker::Impl::on_data(std::uint32_t c, std::uint8_t* p, std::size_t n) noexcept {
  Slot& s = slots_[c];
  if (s.st != St::tls && s.st != St::ticket) return;  // closing: the server's close_notify, ignored
  TlsConn* t = s.tls.get();
  TlsConn::In r = t->receive(
      {p, n}, engine_.scratch(),
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

void HandshakeWorker::Impl::on_sent(std::uint32_t c, int res) noexcept {
  Slot& s = slots_[c];
  if (res < 0) {
    if (s.st == St::closing) {
      teardown(c);  // the server went first; the handshake itself was counted
    } else {
      fail(c, Cause::send_error);
    }
    return;
  }
  send(c);
  if (s.st == St::closing && !engine_.send_busy(c)) teardown(c);
}

// Cancels what is armed (the send too: the slot is reused) and closes the fixed slot; the close
// completion starts the next cycle.
void HandshakeWorker::Impl::teardown(std::uint32_t c) noexcept {
  Slot& s = slots_[c];
  if (s.st == St::closing_slot || s.st == St::idle) return;
  s.st = St::closing_slot;
  if (s.tls) engine_.retire(std::move(s.tls));
  engine_.close(c, true);
}

void HandshakeWorker::Impl::on_closed(std::uint32_t c) noexcept {
  Slot& s = slots_[c];
  s.st = St::idle;
  if (running() && s.backoff) {
    s.backoff = false;
    retry_.push_back({engine_.now() + kBackoffNs, c});
  } else if (running()) {
    open(c);
  } else {
    w_.progress_.live.fetch_sub(1, std::memory_order_relaxed);
  }
}

void HandshakeWorker::Impl::on_deadline(std::uint32_t c) noexcept {
  Slot& s = slots_[c];
  if (s.st == St::connecting || s.st == St::tls) {
    fail(c, Cause::connect_timeout);
  } else if (s.st == St::ticket) {
    if (measuring()) ++w_.stats_.ticket_waits_expired;
    finish(c);
  }
}

void HandshakeWorker::Impl::retry() noexcept {
  while (!retry_.empty() && retry_.front().first <= engine_.now()) {
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

void HandshakeWorker::Impl::loop() {
  engine_.tick();
  phase_ = w_.shared_.phase.load(std::memory_order_acquire);
  w_.progress_.live.store(slots_.size(), std::memory_order_relaxed);
  for (std::uint32_t c = 0; c < slots_.size(); ++c) open(c);
  while (!w_.shared_.stop.load(std::memory_order_relaxed)) {
    phase_ = w_.shared_.phase.load(std::memory_order_acquire);
    engine_.tick();
    if (phase_ == Phase::done) break;
    engine_.poll(20'000'000);
    retry();
    engine_.end_turn();
  }
}

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
