// Worker: the echo/hold/fanout connections over the shared client engine: opening them at --rate,
// their completions, flushing what they queued, the phases and the loop (see worker.hpp and
// worker_impl.hpp; the WebSocket client itself is in worker_ws.cpp).
#include <cerrno>

#include "fanout_scenario.hpp"
#include "worker_impl.hpp"

namespace ringgate::load {

namespace {
std::unique_ptr<Scenario> make_scenario(const Options& o, WorkerShared& shared, unsigned id) {
  if (o.mode == "echo") return std::make_unique<EchoScenario>(o.size, o.inflight, o.binary);
  if (o.mode == "fanout") return std::make_unique<FanoutScenario>(o, shared, id);
  return std::make_unique<HoldScenario>();
}
}  // namespace

Worker::Impl::Impl(Worker& w)
    : w_(w), opts_(*w.shared_.opts), engine_(*this, opts_, w.connections_),
      scenario_(make_scenario(opts_, w.shared_, w.id_)) {
  scenario_->attach(w.connections_);
  conns_.resize(w.connections_);
  seed_ = 0x9e3779b97f4a7c15ull ^ (std::uint64_t(w.id_ + 1) * 0xbf58476d1ce4e5b9ull) ^ now_ns();
}

void Worker::Impl::run() {
  std::string why;
  EngineConfig ec;
  ec.fixed_files = w_.shared_.slots;
  ec.sq_entries = 4096;
  ec.cq_entries = 32768;
  ec.buffers = w_.shared_.workers > 8 ? 256 : 1024;
  if (!engine_.init(ec, why)) {
    w_.fatal_ = "worker " + std::to_string(w_.id_) + ": " + why;
    fail_all_unopened();
    return;
  }
  loop();
}

// A connection that failed before opening, or broke after: counted once, slot torn down.
void Worker::Impl::fail(std::uint32_t c, Cause cause, bool teardown) noexcept {
  Conn& k = conns_[c];
  if (!k.failed) {
    k.failed = true;
    count(cause);
    if (pending(k.st)) {
      --pending_;
      w_.progress_.failed.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (teardown) release(c);
}

void Worker::Impl::maybe_release(std::uint32_t c) noexcept {
  Conn& k = conns_[c];
  if (k.close_sent && k.close_rcvd && !engine_.send_busy(c) && !has_output(k)) {
    // wss: our close_notify goes out first; its send completion comes back here.
    if (k.tls && !k.failed && k.tls->queue_close_notify()) {
      mark_dirty(c);
      return;
    }
    if (!k.failed) ++w_.closed_cleanly_;
    release(c);
  }
}

// Cancels what is armed and closes the slot; completions arriving later find St::done. Slots are
// never reused within a run, so a send still in flight (a close_notify) is left to finish.
void Worker::Impl::release(std::uint32_t c) noexcept {
  Conn& k = conns_[c];
  if (k.st == St::done) return;
  engine_.close(c, false);
  k.st = St::done;
  k.head.reset();
  k.wskey.reset();
  if (k.tls) engine_.retire(std::move(k.tls));
  std::vector<std::uint8_t>().swap(k.out);
  w_.progress_.live.fetch_sub(1, std::memory_order_relaxed);
}

void Worker::Impl::fail_all_unopened() noexcept {
  for (std::uint32_t c = next_open_; c < conns_.size(); ++c) count(Cause::socket_setup);
  w_.progress_.failed.fetch_add(conns_.size() - next_open_, std::memory_order_relaxed);
  next_open_ = std::uint32_t(conns_.size());
}

void Worker::Impl::open_one() noexcept {
  std::uint32_t c = next_open_++;
  Conn& k = conns_[c];
  k.st = St::connecting;
  k.started_ns = engine_.now();
  ++pending_;
  w_.progress_.live.fetch_add(1, std::memory_order_relaxed);
  ClientEngine::Opened r = engine_.open(c, std::uint64_t(c) * w_.shared_.workers + w_.id_, true);
  if (r == ClientEngine::Opened::setup_failed) {
    fail(c, Cause::socket_setup, false);
    k.st = St::done;
    w_.progress_.live.fetch_sub(1, std::memory_order_relaxed);
  } else if (r == ClientEngine::Opened::submit_failed) {
    fail(c, Cause::connect_error, true);
  }
}

void Worker::Impl::open_more() noexcept {
  if (next_open_ >= conns_.size() || phase_ != Phase::connecting) return;
  std::uint64_t allowed = conns_.size();
  if (opts_.rate > 0) {
    double per_worker = opts_.rate / w_.shared_.workers;
    double el = double(engine_.now() - w_.shared_.start_ns) / 1e9;
    allowed = std::uint64_t(per_worker * el) + 1;
  }
  unsigned burst = 0;
  while (next_open_ < conns_.size() && next_open_ < allowed && pending_ < opts_.max_pending && burst < 256) {
    open_one();
    ++burst;
  }
}

void Worker::Impl::on_connect(std::uint32_t c, int res) noexcept {
  Conn& k = conns_[c];
  if (k.st != St::connecting) return;
  if (res < 0) {
    Cause cause = res == -ECONNREFUSED    ? Cause::refused
                  : res == -EADDRNOTAVAIL ? Cause::addr_not_available
                  : res == -ECANCELED     ? Cause::connect_timeout
                                          : Cause::connect_error;
    fail(c, cause, true);
    return;
  }
  if (w_.shared_.tls) {
    k.st = St::tls;
    k.tls = std::make_unique<TlsConn>();
    if (!k.tls->start(w_.shared_.tls, opts_.sni, {}, engine_.now())) {
      fail(c, Cause::tls_handshake, true);
      return;
    }
    mark_dirty(c);
    engine_.arm_recv(c);
    return;
  }
  send_upgrade(c);
  engine_.arm_recv(c);
}

// The peer's EOF, reset or close_notify: fine once the close handshake is done, early otherwise.
void Worker::Impl::on_eof(std::uint32_t c) noexcept {
  Conn& k = conns_[c];
  if (k.st == St::done) return;
  if (k.close_rcvd && k.close_sent && k.tls &&
      (k.tls->notify_queued() || (!engine_.send_busy(c) && !has_output(k)))) {
    if (!k.failed) ++w_.closed_cleanly_;  // our close frame has left; close_notify is a courtesy
    release(c);
    return;
  }
  if (k.close_rcvd && k.close_sent) {
    maybe_release(c);
    if (k.st != St::done) release(c);
    return;
  }
  if (k.st == St::closing && phase_ >= Phase::closing) {
    fail(c, Cause::close_timeout, true);
    return;
  }
  fail(c, k.st == St::tls ? Cause::tls_handshake : pending(k.st) ? Cause::handshake_malformed : Cause::closed_early,
       true);
}

void Worker::Impl::on_sent(std::uint32_t c, int res) noexcept {
  Conn& k = conns_[c];
  if (res < 0) {
    fail(c, Cause::send_error, true);
    return;
  }
  if (has_output(k)) mark_dirty(c);
  if (k.close_sent && k.close_rcvd) maybe_release(c);
}

void Worker::Impl::flush() noexcept {
  for (std::size_t i = 0; i < dirty_.size(); ++i) {
    std::uint32_t c = dirty_[i];
    Conn& k = conns_[c];
    k.dirty = false;
    if (k.st == St::done || engine_.send_busy(c)) continue;
    if (k.tls && !k.out.empty()) {
      bool ok = k.tls->encrypt(k.out);
      k.out.clear();
      if (!ok) {
        fail(c, Cause::tls_error, true);
        continue;
      }
    }
    engine_.send(c, wire_of(k));
  }
  dirty_.clear();
}

// closing: every open connection starts its close handshake; warmup / measure: the scenario
// (re)starts its traffic on every open connection.
void Worker::Impl::enter_phase(Phase seen) noexcept {
  if (phase_ == seen) return;
  if (phase_ == Phase::closing) {
    for (std::uint32_t c = 0; c < next_open_; ++c) {
      if (conns_[c].st == St::open) send_close(c, ws::close_code::normal);
    }
  }
  if (phase_ == Phase::warmup || phase_ == Phase::measure) {
    for (std::uint32_t c = 0; c < next_open_; ++c) {
      if (conns_[c].st == St::open) scenario_->on_open(c, *this);
    }
  }
}

void Worker::Impl::finish() noexcept {
  for (std::uint32_t c = 0; c < conns_.size(); ++c) {
    Conn& k = conns_[c];
    if (k.st == St::closing) {
      count(Cause::close_timeout);
    } else if (pending(k.st)) {
      fail(c, Cause::connect_timeout, false);
    }
  }
}

void Worker::Impl::publish_progress() noexcept {
  const ScenarioStats& s = scenario_->stats();
  WorkerProgress& p = w_.progress_;
  p.messages.store(s.messages, std::memory_order_relaxed);
  p.measured.store(s.measured, std::memory_order_relaxed);
  p.inflight.store(s.inflight, std::memory_order_relaxed);
  p.subscribed.store(s.subscribed, std::memory_order_relaxed);
  p.sub_errors.store(s.sub_errors, std::memory_order_relaxed);
  p.published.store(s.published, std::memory_order_relaxed);
  p.acked.store(s.acked, std::memory_order_relaxed);
  p.pub_errors.store(s.pub_errors, std::memory_order_relaxed);
  p.expected.store(s.expected, std::memory_order_relaxed);
  p.last_sub_ns.store(s.last_sub_ns, std::memory_order_relaxed);
}

void Worker::Impl::loop() {
  Phase seen = Phase::connecting;
  while (!w_.shared_.stop.load(std::memory_order_relaxed)) {
    phase_ = w_.shared_.phase.load(std::memory_order_acquire);
    scenario_->begin_turn(phase_, engine_.tick());
    if (phase_ == Phase::done) break;
    enter_phase(seen);
    seen = phase_;
    open_more();
    scenario_->on_turn(*this);
    flush();
    bool busy = (next_open_ < conns_.size() && phase_ == Phase::connecting) || scenario_->ticking();
    engine_.poll(busy ? 1'000'000 : 20'000'000);
    flush();
    engine_.end_turn();
    publish_progress();
  }
  finish();
  publish_progress();
}

Worker::Worker(WorkerShared& shared, unsigned id, std::uint32_t connections)
    : shared_(shared), id_(id), connections_(connections) {}
Worker::~Worker() { join(); }

void Worker::start() {
  thread_ = std::thread([this] {
    impl_ = std::make_unique<Impl>(*this);
    impl_->run();
    tls::thread_cleanup();  // wolfSSL's per-thread ECC cache (sessions end in run())
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

const Scenario* Worker::scenario() const noexcept { return impl_ ? impl_->scenario() : nullptr; }

const ScenarioStats& Worker::stats() const noexcept {
  static const ScenarioStats empty;
  if (!impl_) return empty;
  final_stats_ = impl_->stats();
  return final_stats_;
}

}  // namespace ringgate::load
