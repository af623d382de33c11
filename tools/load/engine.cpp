// The ring/slot/completion core both client modes drive (see engine.hpp).
#include "engine.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "ringgate/net/user_data.hpp"
#include "worker.hpp"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace ringgate::load {

namespace {
constexpr std::uint16_t kGroup = 1;
constexpr std::uint32_t next_gen(std::uint32_t g) noexcept { return (g + 1) & net::kUdGenMask; }
}  // namespace

ClientEngine::ClientEngine(EngineDriver& driver, const Options& o, std::uint32_t slots)
    : d_(driver), o_(o), slots_(slots) {}

bool ClientEngine::init(const EngineConfig& cfg, std::string& why) noexcept {
  net::RingConfig rc;
  rc.fixed_files = cfg.fixed_files;
  rc.sq_entries = cfg.sq_entries;
  rc.cq_entries = cfg.cq_entries;
  if (!ring_.init(rc, why) || !ring_.direct()) {
    if (why.empty()) why = "no fixed-file table";
    return false;
  }
  return bool(bufs_.init(ring_, kGroup, cfg.buffers, 4096, 64, why));
}

std::uint64_t ClientEngine::ud(Op op, std::uint32_t c) const noexcept {
  return net::make_ud(std::uint8_t(op), slots_[c].gen, c);
}

std::uint64_t ClientEngine::tick() noexcept { return now_ = now_ns(); }

bool ClientEngine::setup_socket(std::uint32_t c, std::uint64_t source, bool sockbuf) noexcept {
  const net::SockAddr& t = o_.target;
  int fam = t.storage.ss_family;
  int fd = ::socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (sockbuf && o_.sockbuf) {
    int b = int(o_.sockbuf);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &b, sizeof b);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &b, sizeof b);
  }
  bool ok = true;
  if (fam == AF_INET) {
    // Spread source addresses so many (or short-lived) connections do not exhaust one port range.
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl((127u << 24) | std::uint32_t(2 + source % o_.src_spread));
    ok = ::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) == 0;
  }
  ok = ok && ring_.register_file(c, fd).ok();
  ::close(fd);
  return ok;
}

ClientEngine::Opened ClientEngine::open(std::uint32_t c, std::uint64_t source, bool sockbuf) noexcept {
  Slot& s = slots_[c];
  s.gen = next_gen(s.gen);
  s.recv_armed = false;
  s.send_off = 0;
  s.sending.clear();
  if (!setup_socket(c, source, sockbuf)) return Opened::setup_failed;
  const net::SockAddr& t = o_.target;
  if (!ring_.connect(int(c), t.sa(), t.len, ud(Op::connect, c))) return Opened::submit_failed;
  s.connecting = true;
  add_deadline(c, now_ + std::uint64_t(o_.connect_timeout_s * 1e9));
  return Opened::ok;
}

void ClientEngine::arm_recv(std::uint32_t c) noexcept {
  if (ring_.recv_multishot(int(c), kGroup, ud(Op::recv, c))) slots_[c].recv_armed = true;
}

void ClientEngine::send(std::uint32_t c, std::vector<std::uint8_t>& wire) noexcept {
  Slot& s = slots_[c];
  if (s.send_busy || wire.empty()) return;
  s.sending.swap(wire);
  wire.clear();
  s.send_off = 0;
  start_send(c);
}

void ClientEngine::start_send(std::uint32_t c) noexcept {
  Slot& s = slots_[c];
  if (ring_.send(int(c), s.sending.data() + s.send_off, s.sending.size() - s.send_off, ud(Op::send, c))) {
    s.send_busy = true;
  } else {
    d_.on_sent(c, -EAGAIN);  // no submission queue entry: the send failed
  }
}

void ClientEngine::close(std::uint32_t c, bool cancel_send) noexcept {
  Slot& s = slots_[c];
  if (s.connecting) (void)ring_.cancel(ud(Op::connect, c), ud(Op::cancel, c));
  if (s.recv_armed) (void)ring_.cancel(ud(Op::recv, c), ud(Op::cancel, c));
  if (cancel_send && s.send_busy) (void)ring_.cancel(ud(Op::send, c), ud(Op::cancel, c));
  s.closing = true;
  if (!ring_.close(int(c), ud(Op::close, c))) closed(c);
}

// The close completed: whatever of this use of the slot still completes is stale from now on.
void ClientEngine::closed(std::uint32_t c) noexcept {
  Slot& s = slots_[c];
  s.closing = false;
  s.connecting = false;
  s.gen = next_gen(s.gen);
  if (s.send_busy) {
    s.reopen_after_send = true;  // the kernel may still read `sending`
    return;
  }
  d_.on_closed(c);
}

void ClientEngine::on_recv(std::uint32_t c, std::uint32_t gen, const net::Completion& cq) noexcept {
  Slot& s = slots_[c];
  bool current = gen == s.gen;
  if (cq.has_buffer()) {
    if (cq.res > 0 && current && d_.active(c)) d_.on_data(c, bufs_.buffer(cq.buffer_id()), std::size_t(cq.res));
    bufs_.recycle(cq.buffer_id());
  }
  if (!current || cq.more()) return;
  s.recv_armed = false;
  if (!d_.active(c)) return;
  if (cq.res == -ENOBUFS || cq.res > 0) {
    if (!s.rearm) {
      s.rearm = true;
      rearm_.push_back(c);
    }
    return;
  }
  d_.on_eof(c);
}

void ClientEngine::on_send(std::uint32_t c, std::uint32_t gen, int res) noexcept {
  Slot& s = slots_[c];
  s.send_busy = false;
  if (gen != s.gen) {  // a send of an earlier use, which held the slot's reopening back
    if (s.reopen_after_send) {
      s.reopen_after_send = false;
      d_.on_closed(c);
    }
    return;
  }
  if (!d_.active(c)) return;
  if (res >= 0) {
    s.send_off += std::uint32_t(res);
    if (s.send_off < s.sending.size()) {
      start_send(c);  // partial send: the rest first
      return;
    }
    s.sending.clear();
    s.send_off = 0;
  }
  d_.on_sent(c, res);
}

void ClientEngine::dispatch(const net::Completion& cq) noexcept {
  std::uint32_t c = net::ud_slot(cq.user_data), gen = net::ud_gen(cq.user_data);
  Slot& s = slots_[c];
  switch (Op(net::ud_kind(cq.user_data))) {
    case Op::recv: on_recv(c, gen, cq); break;
    case Op::send: on_send(c, gen, cq.res); break;
    case Op::connect:
      if (gen == s.gen && s.connecting) {
        s.connecting = false;
        d_.on_connect(c, cq.res);
      }
      break;
    case Op::close:
      if (gen == s.gen && s.closing) closed(c);
      break;
    default: break;  // cancel results need no action
  }
}

void ClientEngine::expire() noexcept {
  while (!deadlines_.empty() && deadlines_.front().at <= now_) {
    Deadline d = deadlines_.front();
    deadlines_.pop_front();
    if (slots_[d.c].gen == d.gen) d_.on_deadline(d.c);
  }
}

void ClientEngine::poll(std::uint64_t wait_ns) noexcept {
  net::Completion cq[256];
  (void)ring_.submit_and_wait(wait_ns);
  for (;;) {
    std::size_t n = ring_.reap(cq, 256);
    if (n == 0) break;
    now_ = now_ns();
    d_.on_batch_begin();
    for (std::size_t i = 0; i < n; ++i) dispatch(cq[i]);
    d_.on_batch_end();
  }
  expire();
}

void ClientEngine::end_turn() noexcept {
  bufs_.publish();
  graveyard_.clear();
  for (std::uint32_t c : rearm_) {
    Slot& s = slots_[c];
    s.rearm = false;
    if (d_.active(c) && !s.recv_armed) arm_recv(c);
  }
  rearm_.clear();
}

}  // namespace ringgate::load
