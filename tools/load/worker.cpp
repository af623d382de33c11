// Worker loop: connect, handshake, traffic through the Scenario, close (see worker.hpp).
#include "worker.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <deque>
#include <string_view>

#include "ringgate/net/buffer_ring.hpp"
#include "ringgate/net/ring.hpp"
#include "ringgate/ws/accept.hpp"
#include "fanout_scenario.hpp"
#include "tls_conn.hpp"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace ringgate::load {

namespace {
enum Kind : std::uint64_t { kConnect = 1, kRecv = 2, kSend = 3, kClose = 4, kCancel = 5 };
constexpr std::uint64_t ud(Kind k, std::uint32_t c) noexcept { return (std::uint64_t(k) << 56) | c; }
constexpr std::size_t kMaxHead = 8192;
constexpr std::uint16_t kGroup = 1;

enum class St : std::uint8_t { unused, connecting, tls, handshaking, open, closing, done };
constexpr bool pending(St s) noexcept { return s == St::connecting || s == St::tls || s == St::handshaking; }

struct Conn {
  St st = St::unused;
  bool recv_armed = false, send_busy = false, dirty = false, rearm = false;
  bool close_sent = false, close_rcvd = false, closing_slot = false, failed = false;
  std::uint32_t send_off = 0;
  std::uint64_t started_ns = 0;
  std::size_t mask_at = 0;  // payload offset in `out` of the frame begun by Outbox::begin
  std::uint8_t key[4] = {};
  std::vector<std::uint8_t> out, sending;
  std::unique_ptr<std::string> head;  // handshake: response bytes so far (freed when open)
  std::unique_ptr<std::string> wskey;
  std::unique_ptr<TlsConn> tls;  // wss:// only; `out` is then plaintext, tls->wire() ciphertext
  ws::Parser parser{ws::Role::client};
};

// Bytes ready for the socket: `out` for ws://, the TLS records for wss://.
std::vector<std::uint8_t>& wire_of(Conn& k) noexcept { return k.tls ? k.tls->wire() : k.out; }
bool has_output(const Conn& k) noexcept { return !k.out.empty() || (k.tls && !k.tls->wire().empty()); }

}  // namespace

class Worker::Impl final : public Outbox {
 public:
  Impl(Worker& w) : w_(w), opts_(*w.shared_.opts) {
    if (opts_.mode == "echo") {
      scenario_ = std::make_unique<EchoScenario>(opts_.size, opts_.inflight, opts_.binary);
    } else if (opts_.mode == "fanout") {
      scenario_ = std::make_unique<FanoutScenario>(opts_, w.shared_, w.id_);
    } else {
      scenario_ = std::make_unique<HoldScenario>();
    }
    scenario_->attach(w.connections_);
    conns_.resize(w.connections_);
    seed_ = 0x9e3779b97f4a7c15ull ^ (std::uint64_t(w.id_ + 1) * 0xbf58476d1ce4e5b9ull) ^ now_ns();
  }

  ScenarioStats stats() const { return scenario_->stats(); }
  const Scenario* scenario() const noexcept { return scenario_.get(); }

  void run() {
    std::string why;
    net::RingConfig rc;
    rc.fixed_files = w_.shared_.slots;
    rc.sq_entries = 4096;
    rc.cq_entries = 32768;
    if (!ring_.init(rc, why) || !ring_.direct()) {
      w_.fatal_ = "worker " + std::to_string(w_.id_) + ": " + (why.empty() ? "no fixed-file table" : why);
      fail_all_unopened();
      return;
    }
    std::uint32_t nbuf = w_.shared_.workers > 8 ? 256 : 1024;
    if (!bufs_.init(ring_, kGroup, nbuf, 4096, 64, why)) {
      w_.fatal_ = "worker " + std::to_string(w_.id_) + ": " + why;
      fail_all_unopened();
      return;
    }
    loop();
  }

  // Outbox
  std::uint8_t* begin(std::uint32_t c, ws::Opcode op, std::size_t size) noexcept override {
    Conn& k = conns_[c];
    if (k.st != St::open || k.close_sent) return nullptr;
    return frame(c, op, size);
  }
  void commit(std::uint32_t c) noexcept override {
    Conn& k = conns_[c];
    ws::unmask(k.out.data() + k.mask_at, k.out.size() - k.mask_at, k.key, 0);
    mark_dirty(c);
  }

  // Parser sink
  struct Sink {
    Impl* self;
    std::uint32_t c;
    void on_data(ws::Opcode op, std::span<std::uint8_t> chunk, bool end) noexcept {
      self->scenario_->on_data(c, op, chunk, end, *self);
    }
    void on_ping(std::span<const std::uint8_t> p) noexcept { self->control(c, ws::Opcode::pong, p); }
    void on_pong(std::span<const std::uint8_t>) noexcept {}
    void on_close(std::uint16_t code, std::string_view) noexcept { self->on_close(c, code); }
  };

 private:
  std::uint8_t* frame(std::uint32_t c, ws::Opcode op, std::size_t size) noexcept {
    Conn& k = conns_[c];
    seed_ ^= seed_ << 13, seed_ ^= seed_ >> 7, seed_ ^= seed_ << 17;
    std::memcpy(k.key, &seed_, 4);
    std::size_t at = k.out.size();
    k.out.resize(at + ws::kMaxHeaderBytes + size);
    std::size_t h = ws::write_header(k.out.data() + at, op, true, size, k.key);
    k.out.resize(at + h + size);
    k.mask_at = at + h;
    return k.out.data() + at + h;
  }

  void control(std::uint32_t c, ws::Opcode op, std::span<const std::uint8_t> p) noexcept {
    Conn& k = conns_[c];
    if (k.close_sent || (k.st != St::open && k.st != St::closing)) return;
    std::uint8_t* dst = frame(c, op, p.size());
    if (!p.empty()) std::memcpy(dst, p.data(), p.size());
    commit(c);
  }

  void send_close(std::uint32_t c, std::uint16_t code) noexcept {
    Conn& k = conns_[c];
    if (k.close_sent) return;
    std::uint8_t payload[ws::kMaxControlPayload];
    std::size_t n = ws::write_close_payload(payload, code, "");
    control(c, ws::Opcode::close, {payload, n});
    k.close_sent = true;
    k.st = St::closing;
  }

  void on_close(std::uint32_t c, std::uint16_t code) noexcept {
    Conn& k = conns_[c];
    k.close_rcvd = true;
    if (!k.close_sent) {
      if (phase_ < Phase::closing) fail(c, Cause::closed_early, false);
      send_close(c, code == ws::close_code::no_status ? ws::close_code::normal : code);
    }
    // Our close is queued or answered: the slot is released once the send has left.
    maybe_release(c);
  }

  void mark_dirty(std::uint32_t c) noexcept {
    Conn& k = conns_[c];
    if (!k.dirty) {
      k.dirty = true;
      dirty_.push_back(c);
    }
  }

  void count(Cause cause) noexcept {
    ++w_.causes_[int(cause)];
  }

  // A connection that failed before opening, or broke after: counted once, slot torn down.
  void fail(std::uint32_t c, Cause cause, bool teardown) noexcept {
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

  void maybe_release(std::uint32_t c) noexcept {
    Conn& k = conns_[c];
    if (k.close_sent && k.close_rcvd && !k.send_busy && !has_output(k)) {
      // wss: our close_notify goes out first; its send completion comes back here.
      if (k.tls && !k.failed && k.tls->queue_close_notify()) {
        mark_dirty(c);
        return;
      }
      if (!k.failed) ++w_.closed_cleanly_;
      release(c);
    }
  }

  // Cancels what is armed and closes the slot; completions arriving later find St::done.
  void release(std::uint32_t c) noexcept {
    Conn& k = conns_[c];
    if (k.st == St::done || k.closing_slot) return;
    if (k.st == St::connecting) (void)ring_.cancel(ud(kConnect, c), ud(kCancel, c));
    if (k.recv_armed) (void)ring_.cancel(ud(kRecv, c), ud(kCancel, c));
    k.closing_slot = true;
    (void)ring_.close(int(c), ud(kClose, c));
    k.st = St::done;
    k.head.reset();
    k.wskey.reset();
    if (k.tls) graveyard_.push_back(std::move(k.tls));  // may be inside its receive(): freed later
    std::vector<std::uint8_t>().swap(k.out);
    w_.progress_.live.fetch_sub(1, std::memory_order_relaxed);
  }

  void fail_all_unopened() {
    for (std::uint32_t c = next_open_; c < conns_.size(); ++c) count(Cause::socket_setup);
    w_.progress_.failed.fetch_add(conns_.size() - next_open_, std::memory_order_relaxed);
    next_open_ = std::uint32_t(conns_.size());
  }

  bool open_one() noexcept {
    std::uint32_t c = next_open_++;
    std::uint64_t j = std::uint64_t(c) * w_.shared_.workers + w_.id_;
    Conn& k = conns_[c];
    k.st = St::connecting;
    k.started_ns = now_;
    ++pending_;
    w_.progress_.live.fetch_add(1, std::memory_order_relaxed);
    const net::SockAddr& t = opts_.target;
    int fam = t.storage.ss_family;
    int fd = ::socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      fail(c, Cause::socket_setup, false);
      k.st = St::done;
      w_.progress_.live.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (opts_.sockbuf) {
      int b = int(opts_.sockbuf);
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &b, sizeof b);
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &b, sizeof b);
    }
    bool ok = true;
    if (fam == AF_INET) {
      setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      sockaddr_in src{};
      src.sin_family = AF_INET;
      src.sin_addr.s_addr = htonl((127u << 24) | std::uint32_t(2 + j % opts_.src_spread));
      ok = ::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) == 0;
    }
    ok = ok && ring_.register_file(c, fd).ok();
    ::close(fd);
    if (!ok) {
      fail(c, Cause::socket_setup, false);
      k.st = St::done;
      w_.progress_.live.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    if (!ring_.connect(int(c), t.sa(), t.len, ud(kConnect, c))) {
      fail(c, Cause::connect_error, true);
      return false;
    }
    deadlines_.push_back({now_ + std::uint64_t(opts_.connect_timeout_s * 1e9), c});
    return true;
  }

  void open_more() noexcept {
    if (next_open_ >= conns_.size() || phase_ != Phase::connecting) return;
    std::uint64_t allowed = conns_.size();
    if (opts_.rate > 0) {
      double per_worker = opts_.rate / w_.shared_.workers;
      double el = double(now_ - w_.shared_.start_ns) / 1e9;
      allowed = std::uint64_t(per_worker * el) + 1;
    }
    unsigned burst = 0;
    while (next_open_ < conns_.size() && next_open_ < allowed && pending_ < opts_.max_pending && burst < 256) {
      open_one();
      ++burst;
    }
  }

  void on_connect(std::uint32_t c, int res) noexcept {
    Conn& k = conns_[c];
    if (k.st != St::connecting) return;
    if (res < 0) {
      Cause cause = res == -ECONNREFUSED     ? Cause::refused
                    : res == -EADDRNOTAVAIL  ? Cause::addr_not_available
                    : res == -ECANCELED      ? Cause::connect_timeout
                                             : Cause::connect_error;
      fail(c, cause, true);
      return;
    }
    if (w_.shared_.tls) {
      k.st = St::tls;
      k.tls = std::make_unique<TlsConn>();
      if (!k.tls->start(w_.shared_.tls, opts_.sni, {}, now_)) {
        fail(c, Cause::tls_handshake, true);
        return;
      }
      mark_dirty(c);
      arm_recv(c);
      return;
    }
    send_upgrade(c);
    arm_recv(c);
  }

  // The HTTP upgrade request, once the transport (TCP, or TCP + TLS) is up.
  void send_upgrade(std::uint32_t c) noexcept {
    Conn& k = conns_[c];
    k.st = St::handshaking;
    std::uint8_t raw[16];
    for (auto& b : raw) {
      seed_ ^= seed_ << 13, seed_ ^= seed_ >> 7, seed_ ^= seed_ << 17;
      b = std::uint8_t(seed_);
    }
    k.wskey = std::make_unique<std::string>(24, '\0');
    ws::base64_encode(raw, 16, k.wskey->data());
    k.head = std::make_unique<std::string>();
    std::string req = "GET " + opts_.path + " HTTP/1.1\r\nHost: " + opts_.host_header +
                      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + *k.wskey +
                      "\r\nSec-WebSocket-Version: 13\r\n\r\n";
    k.out.assign(req.begin(), req.end());
    mark_dirty(c);
  }

  void arm_recv(std::uint32_t c) noexcept {
    Conn& k = conns_[c];
    if (ring_.recv_multishot(int(c), kGroup, ud(kRecv, c))) {
      k.recv_armed = true;
    }
  }

  void opened(std::uint32_t c) noexcept {
    Conn& k = conns_[c];
    k.st = St::open;
    --pending_;
    w_.establish_ns_.record(now_ - k.started_ns);
    w_.progress_.established.fetch_add(1, std::memory_order_relaxed);
    w_.progress_.last_established_ns.store(now_, std::memory_order_relaxed);
    k.wskey.reset();
    if (phase_ >= Phase::closing) {
      send_close(c, ws::close_code::normal);
    } else {
      scenario_->on_open(c, *this);
    }
  }

  void feed(std::uint32_t c, std::uint8_t* p, std::size_t n) noexcept {
    Conn& k = conns_[c];
    Sink sink{this, c};
    ws::FeedResult r = k.parser.feed(p, n, sink, limits_);
    if (r.close_code != 0 && !k.failed) {
      fail(c, Cause::protocol_error, true);
    }
  }

  void on_bytes(std::uint32_t c, std::uint8_t* p, std::size_t n) noexcept {
    Conn& k = conns_[c];
    if (k.st == St::handshaking) {
      std::size_t before = k.head->size();
      k.head->append(reinterpret_cast<char*>(p), n);
      std::size_t end = k.head->find("\r\n\r\n", before >= 3 ? before - 3 : 0);
      if (end == std::string::npos) {
        if (k.head->size() > kMaxHead) fail(c, Cause::handshake_malformed, true);
        return;
      }
      int bad = check_handshake(std::string_view(*k.head).substr(0, end + 2), *k.wskey);
      if (bad >= 0) {
        fail(c, Cause(bad), true);
        return;
      }
      std::string rest = k.head->substr(end + 4);
      k.head.reset();
      opened(c);
      if (!rest.empty()) feed(c, reinterpret_cast<std::uint8_t*>(rest.data()), rest.size());
      return;
    }
    if (k.st == St::open || k.st == St::closing) feed(c, p, n);
  }

  void on_recv(std::uint32_t c, const net::Completion& cq) noexcept {
    Conn& k = conns_[c];
    if (cq.has_buffer()) {
      if (cq.res > 0 && k.st != St::done) on_wire(c, bufs_.buffer(cq.buffer_id()), std::size_t(cq.res));
      bufs_.recycle(cq.buffer_id());
    }
    if (cq.more()) return;
    k.recv_armed = false;
    if (k.st == St::done) return;
    if (cq.res == -ENOBUFS || cq.res > 0) {
      if (!k.rearm) {
        k.rearm = true;
        rearm_.push_back(c);
      }
      return;
    }
    on_eof(c);
  }

  // The bytes of a recv completion: straight to HTTP/WebSocket, or through TLS first.
  void on_wire(std::uint32_t c, std::uint8_t* p, std::size_t n) noexcept {
    Conn& k = conns_[c];
    if (!k.tls) {
      on_bytes(c, p, n);
      return;
    }
    TlsConn* t = k.tls.get();
    auto alive = [&] { return k.st != St::done; };
    TlsConn::In r = t->receive(
        {p, n}, plain_,
        [&] {
          send_upgrade(c);
          return true;
        },
        [&](std::uint8_t* q, std::size_t m) {
          on_bytes(c, q, m);
          return alive();
        });
    if (!alive()) return;
    if (r == TlsConn::In::failed) {
      fail(c, t->handshake_done() ? Cause::tls_error : Cause::tls_handshake, true);
    } else if (r == TlsConn::In::closed) {
      on_eof(c);
    } else if (!t->wire().empty()) {
      mark_dirty(c);  // handshake records, or a reply the session owes the peer
    }
  }

  // The peer's EOF, reset or close_notify: fine once the close handshake is done, early otherwise.
  void on_eof(std::uint32_t c) noexcept {
    Conn& k = conns_[c];
    if (k.st == St::done) return;
    if (k.close_rcvd && k.close_sent && k.tls &&
        (k.tls->notify_queued() || (!k.send_busy && !has_output(k)))) {
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

  void on_send(std::uint32_t c, int res) noexcept {
    Conn& k = conns_[c];
    k.send_busy = false;
    if (k.st == St::done) return;
    if (res < 0) {
      fail(c, Cause::send_error, true);
      return;
    }
    k.send_off += std::uint32_t(res);
    if (k.send_off < k.sending.size()) {
      start_send(c);  // partial send: the rest first
      return;
    }
    k.sending.clear();
    k.send_off = 0;
    if (has_output(k)) mark_dirty(c);
    if (k.close_sent && k.close_rcvd) maybe_release(c);
  }

  void start_send(std::uint32_t c) noexcept {
    Conn& k = conns_[c];
    if (ring_.send(int(c), k.sending.data() + k.send_off, k.sending.size() - k.send_off, ud(kSend, c))) {
      k.send_busy = true;
    }
  }

  void flush() noexcept {
    for (std::size_t i = 0; i < dirty_.size(); ++i) {
      std::uint32_t c = dirty_[i];
      Conn& k = conns_[c];
      k.dirty = false;
      if (k.st == St::done || k.send_busy) continue;
      if (k.tls && !k.out.empty()) {
        bool ok = k.tls->encrypt(k.out);
        k.out.clear();
        if (!ok) {
          fail(c, Cause::tls_error, true);
          continue;
        }
      }
      std::vector<std::uint8_t>& wire = wire_of(k);
      if (wire.empty()) continue;
      k.sending.swap(wire);
      wire.clear();
      k.send_off = 0;
      start_send(c);
    }
    dirty_.clear();
  }

  void expire() noexcept {
    while (!deadlines_.empty() && deadlines_.front().first <= now_) {
      std::uint32_t c = deadlines_.front().second;
      deadlines_.pop_front();
      Conn& k = conns_[c];
      if (pending(k.st)) fail(c, Cause::connect_timeout, true);
    }
  }

  void enter_closing() noexcept {
    for (std::uint32_t c = 0; c < next_open_; ++c) {
      Conn& k = conns_[c];
      if (k.st == St::open) send_close(c, ws::close_code::normal);
    }
  }

  void finish() noexcept {
    for (std::uint32_t c = 0; c < conns_.size(); ++c) {
      Conn& k = conns_[c];
      if (k.st == St::closing) {
        count(Cause::close_timeout);
      } else if (pending(k.st)) {
        fail(c, Cause::connect_timeout, false);
      }
    }
  }

  void publish_progress() noexcept {
    const ScenarioStats& s = scenario_->stats();
    w_.progress_.messages.store(s.messages, std::memory_order_relaxed);
    w_.progress_.measured.store(s.measured, std::memory_order_relaxed);
    w_.progress_.inflight.store(s.inflight, std::memory_order_relaxed);
    w_.progress_.subscribed.store(s.subscribed, std::memory_order_relaxed);
    w_.progress_.sub_errors.store(s.sub_errors, std::memory_order_relaxed);
    w_.progress_.published.store(s.published, std::memory_order_relaxed);
    w_.progress_.acked.store(s.acked, std::memory_order_relaxed);
    w_.progress_.pub_errors.store(s.pub_errors, std::memory_order_relaxed);
    w_.progress_.expected.store(s.expected, std::memory_order_relaxed);
    w_.progress_.last_sub_ns.store(s.last_sub_ns, std::memory_order_relaxed);
  }

  void loop() {
    net::Completion cq[256];
    Phase seen = Phase::connecting;
    while (!w_.shared_.stop.load(std::memory_order_relaxed)) {
      phase_ = w_.shared_.phase.load(std::memory_order_acquire);
      now_ = now_ns();
      scenario_->begin_turn(phase_, now_);
      if (phase_ == Phase::done) break;
      if (phase_ != seen) {
        if (phase_ == Phase::closing) enter_closing();
        if (phase_ == Phase::warmup || phase_ == Phase::measure) {
          for (std::uint32_t c = 0; c < next_open_; ++c) {
            if (conns_[c].st == St::open) scenario_->on_open(c, *this);
          }
        }
        seen = phase_;
      }
      open_more();
      scenario_->on_turn(*this);
      flush();
      bool busy = (next_open_ < conns_.size() && phase_ == Phase::connecting) || scenario_->ticking();
      (void)ring_.submit_and_wait(busy ? 1'000'000 : 20'000'000);
      for (;;) {
        std::size_t n = ring_.reap(cq, 256);
        if (n == 0) break;
        now_ = now_ns();
        scenario_->begin_turn(phase_, now_);
        for (std::size_t i = 0; i < n; ++i) dispatch(cq[i]);
        flush();
      }
      expire();
      flush();
      bufs_.publish();
      graveyard_.clear();
      for (std::uint32_t c : rearm_) {
        conns_[c].rearm = false;
        if (conns_[c].st != St::done && !conns_[c].recv_armed) arm_recv(c);
      }
      rearm_.clear();
      publish_progress();
    }
    finish();
    publish_progress();
  }

  void dispatch(const net::Completion& cq) noexcept {
    std::uint32_t c = std::uint32_t(cq.user_data);
    switch (Kind(cq.user_data >> 56)) {
      case kConnect: on_connect(c, cq.res); break;
      case kRecv: on_recv(c, cq); break;
      case kSend: on_send(c, cq.res); break;
      default: break;  // close / cancel results need no action
    }
  }

  Worker& w_;
  const Options& opts_;
  net::Ring ring_;
  net::BufferRing bufs_;
  std::unique_ptr<Scenario> scenario_;
  std::vector<Conn> conns_;
  std::vector<std::uint32_t> dirty_, rearm_;
  std::vector<std::unique_ptr<TlsConn>> graveyard_;  // sessions of released slots, freed per turn
  std::uint8_t plain_[16384 + 256];                    // decrypted bytes of one TLS read
  std::deque<std::pair<std::uint64_t, std::uint32_t>> deadlines_;
  std::uint32_t next_open_ = 0;
  std::uint32_t pending_ = 0;
  std::uint64_t now_ = 0, seed_ = 1;
  Phase phase_ = Phase::connecting;
  ws::Limits limits_{};
};

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
