// Event loop of the load client: connection setup, echo loop, verification and close handshake.
// See load_client.hpp for the invariants. Level-triggered epoll, one read per readiness event, one
// write per batch of frames queued on a connection; EPOLLOUT is armed only while output is stuck.
#include "load_client.hpp"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <string_view>

#include "ws_client.hpp"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace load {

namespace {
constexpr uint32_t kVariants = 64;
constexpr uint32_t kHandshakeCap = 4096;
constexpr int kMaxEvents = 1024;

std::mt19937_64& rng() {
  static std::mt19937_64 r{std::random_device{}()};
  return r;
}
}  // namespace

uint64_t now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

struct LoadClient::Conn {
  int fd = -1;
  St st = St::Idle;
  uint32_t id = 0;
  bool want_out = false;
  uint32_t in_len = 0;
  std::unique_ptr<uint8_t[]> in;
  std::vector<uint8_t> out;
  size_t out_off = 0;
  uint64_t sent = 0;
  uint64_t recvd = 0;
  std::unique_ptr<uint64_t[]> sent_at;  // ring of K send times
  std::string accept;                   // expected Sec-WebSocket-Accept
};

LoadClient::LoadClient(ClientConfig cfg) : cfg_(std::move(cfg)) {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  conns_.resize(static_cast<size_t>(cfg_.connections));
  for (size_t i = 0; i < conns_.size(); ++i) conns_[i].id = static_cast<uint32_t>(i);
  if (cfg_.traffic) build_payloads();
  size_t need = cfg_.traffic ? 2 * static_cast<size_t>(cfg_.inflight) * (cfg_.size + 14) + 4096 : 0;
  in_cap_ = static_cast<uint32_t>(need > kHandshakeCap ? need : kHandshakeCap);
}

LoadClient::~LoadClient() {
  for (auto& c : conns_)
    if (c.fd >= 0) ::close(c.fd);
  if (epfd_ >= 0) ::close(epfd_);
}

// Text payloads are printable ASCII (valid UTF-8); binary payloads use every byte value.
void LoadClient::build_payloads() {
  pattern_.resize(cfg_.size + kVariants);
  for (auto& b : pattern_)
    b = cfg_.binary ? static_cast<uint8_t>(rng()()) : static_cast<uint8_t>(0x21 + rng()() % 94);
  frame_stride_ = cfg_.size + 14;
  frames_.resize(frame_stride_ * kVariants);
  for (uint32_t v = 0; v < kVariants; ++v)
    frame_len_ = ws::encode_masked(frames_.data() + v * frame_stride_, cfg_.binary ? ws::kBinary : ws::kText,
                                   pattern_.data() + v, cfg_.size, static_cast<uint32_t>(rng()()));
}

// ---------------------------------------------------------------- setup

void LoadClient::connect_all(double timeout_s) noexcept {
  uint64_t deadline = now_ns() + static_cast<uint64_t>(timeout_s * 1e9);
  auto refill = [&] {
    while (next_connect_ < conns_.size() && connecting_ < cfg_.connect_concurrency) start_connect(next_connect_++);
  };
  refill();
  while (finished_setup_ < cfg_.connections && now_ns() < deadline) {
    poll_once(20);
    refill();
  }
  for (auto& c : conns_) {  // whatever did not make it in time counts as a failed connect
    if (c.st == St::Connecting || c.st == St::Handshaking || c.st == St::Idle)
      fail(c, c.st == St::Handshaking ? &Errors::handshake_failed : &Errors::connect_failed, "setup timeout");
  }
}

void LoadClient::start_connect(uint32_t id) noexcept {
  Conn& c = conns_[id];
  c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) return fail(c, &Errors::connect_failed, "socket() failed (fd limit?)");
  int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (cfg_.src_spread > 0) {
    setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(0x7F000002u + id % static_cast<uint32_t>(cfg_.src_spread));
    if (::bind(c.fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0)
      return fail(c, &Errors::connect_failed, "bind source failed");
  }
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(cfg_.target.port);
  inet_pton(AF_INET, cfg_.target.host.c_str(), &dst.sin_addr);
  c.st = St::Connecting;
  ++connecting_;
  int r = ::connect(c.fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst);
  if (r != 0 && errno != EINPROGRESS) return fail(c, &Errors::connect_failed, "connect() failed");
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ev.data.u32 = id;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, c.fd, &ev) != 0) return fail(c, &Errors::connect_failed, "epoll_ctl add");
  c.want_out = true;
}

void LoadClient::on_connected(Conn& c) noexcept {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return fail(c, &Errors::connect_failed, "connect refused/failed");
  uint8_t raw[16];
  for (auto& b : raw) b = static_cast<uint8_t>(rng()());
  std::string key = ws::base64(raw, sizeof raw);
  c.accept = ws::accept_for(key);
  std::string req = ws::upgrade_request(cfg_.target.host_port, cfg_.target.path, key);
  c.in = std::make_unique<uint8_t[]>(in_cap_);
  c.st = St::Handshaking;
  c.out.assign(req.begin(), req.end());
  c.out_off = 0;
  set_want_out(c, false);
  flush(c);
}

// Returns true once the head is complete and valid (leftover bytes stay in c.in as frames).
bool LoadClient::on_handshake_bytes(Conn& c) noexcept {
  std::string_view buf(reinterpret_cast<const char*>(c.in.get()), c.in_len);
  size_t end = buf.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (c.in_len >= kHandshakeCap) fail(c, &Errors::handshake_failed, "response head too large");
    return false;
  }
  size_t head_len = end + 4;
  if (const char* why = ws::check_upgrade_response(buf.substr(0, head_len), c.accept)) {
    fail(c, &Errors::handshake_failed, why);
    return false;
  }
  std::memmove(c.in.get(), c.in.get() + head_len, c.in_len - head_len);
  c.in_len -= static_cast<uint32_t>(head_len);
  c.st = St::Open;
  c.sent_at = std::make_unique<uint64_t[]>(static_cast<size_t>(cfg_.inflight));
  --connecting_;
  ++open_;
  ++established_;
  ++finished_setup_;
  if (sending_) {
    for (int i = 0; i < cfg_.inflight; ++i) queue_message(c);
    flush(c);
  }
  return true;
}

// ---------------------------------------------------------------- traffic

void LoadClient::start_traffic() noexcept {
  sending_ = cfg_.traffic;
  if (!sending_) return;
  now_ns_ = now_ns();
  for (auto& c : conns_) {
    if (c.st != St::Open) continue;
    for (int i = 0; i < cfg_.inflight; ++i) queue_message(c);
    flush(c);
  }
}

void LoadClient::queue_message(Conn& c) noexcept {
  uint32_t v = static_cast<uint32_t>((c.sent + c.id) % kVariants);
  const uint8_t* f = frames_.data() + v * frame_stride_;
  c.out.insert(c.out.end(), f, f + frame_len_);
  c.sent_at[c.sent % static_cast<uint64_t>(cfg_.inflight)] = now_ns_;
  ++c.sent;
}

void LoadClient::queue_control(Conn& c, uint8_t opcode, const uint8_t* payload, size_t len) noexcept {
  uint8_t frame[125 + 14];
  if (len > 125) len = 125;
  size_t n = ws::encode_masked(frame, opcode, payload, len, static_cast<uint32_t>(rng()()));
  c.out.insert(c.out.end(), frame, frame + n);
}

bool LoadClient::verify_echo(Conn& c, uint8_t opcode, const uint8_t* payload, size_t len) noexcept {
  if (opcode != (cfg_.binary ? ws::kBinary : ws::kText)) {
    fail(c, &Errors::protocol_error, "echo has the wrong opcode");
    return false;
  }
  if (c.recvd >= c.sent) {
    fail(c, &Errors::protocol_error, "echo of a message never sent");
    return false;
  }
  uint32_t v = static_cast<uint32_t>((c.recvd + c.id) % kVariants);
  if (len != cfg_.size || std::memcmp(payload, pattern_.data() + v, len) != 0) {
    fail(c, &Errors::payload_mismatch, "echoed payload differs from the sent one");
    return false;
  }
  uint64_t sent_at = c.sent_at[c.recvd % static_cast<uint64_t>(cfg_.inflight)];
  ++c.recvd;
  ++total_echoes_;
  if (measuring_) {
    ++window_.messages;
    window_.bytes += len;
    window_.latency_ns.record(now_ns_ - sent_at);
  }
  return true;
}

// Returns false if the connection was failed or finished.
bool LoadClient::handle_frame(Conn& c, uint8_t opcode, const uint8_t* payload, size_t len) noexcept {
  switch (opcode) {
    case ws::kText:
    case ws::kBinary:
      if (!cfg_.traffic) {
        fail(c, &Errors::protocol_error, "data frame on an idle connection");
        return false;
      }
      if (!verify_echo(c, opcode, payload, len)) return false;
      if (sending_ && c.st == St::Open) queue_message(c);
      return true;
    case ws::kPing:
      queue_control(c, ws::kPong, payload, len);
      return true;
    case ws::kPong:
      return true;
    case ws::kClose:
      if (c.st == St::Closing) {
        finish(c, true);
      } else {
        uint16_t code = len >= 2 ? static_cast<uint16_t>((payload[0] << 8) | payload[1]) : 1005;
        static char msg[64];
        std::snprintf(msg, sizeof msg, "server sent close %u", code);
        fail(c, &Errors::unexpected_close, msg);
      }
      return false;
    default:
      fail(c, &Errors::protocol_error, "unknown opcode from server");
      return false;
  }
}

void LoadClient::parse_frames(Conn& c) noexcept {
  size_t pos = 0;
  for (;;) {
    ws::FrameHeader h;
    size_t hl = ws::parse_header(c.in.get() + pos, c.in_len - pos, h);
    if (hl == 0) break;
    if (h.masked || h.rsv != 0 || !h.fin) {
      return fail(c, &Errors::protocol_error, h.masked ? "server frame is masked" : "rsv bits or fragmented frame");
    }
    if (hl + h.payload_len > in_cap_) return fail(c, &Errors::protocol_error, "server frame larger than expected");
    if (c.in_len - pos < hl + h.payload_len) break;
    if (!handle_frame(c, h.opcode, c.in.get() + pos + hl, static_cast<size_t>(h.payload_len))) {
      if (c.st == St::Done) return;
      break;  // cannot happen: failures move to Done
    }
    pos += hl + static_cast<size_t>(h.payload_len);
  }
  if (pos > 0) {
    std::memmove(c.in.get(), c.in.get() + pos, c.in_len - pos);
    c.in_len -= static_cast<uint32_t>(pos);
  }
  flush(c);
}

// ---------------------------------------------------------------- io

void LoadClient::on_readable(Conn& c) noexcept {
  ssize_t n = ::recv(c.fd, c.in.get() + c.in_len, in_cap_ - c.in_len, 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    if (c.st == St::Closing) return finish(c, false);
    return fail(c, c.st == St::Handshaking ? &Errors::handshake_failed : &Errors::io_error, "recv error");
  }
  if (n == 0) {
    if (c.st == St::Closing) return finish(c, false);
    return fail(c, c.st == St::Handshaking ? &Errors::handshake_failed : &Errors::unexpected_close,
                "server closed the TCP connection");
  }
  c.in_len += static_cast<uint32_t>(n);
  now_ns_ = now_ns();
  if (c.st == St::Handshaking && !on_handshake_bytes(c)) return;
  parse_frames(c);
}

void LoadClient::flush(Conn& c) noexcept {
  if (c.fd < 0 || c.out_off >= c.out.size()) return;
  ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return set_want_out(c, true);
    if (c.st == St::Closing) return finish(c, false);
    return fail(c, &Errors::io_error, "send error");
  }
  c.out_off += static_cast<size_t>(n);
  if (c.out_off == c.out.size()) {
    c.out.clear();
    c.out_off = 0;
    set_want_out(c, false);
  } else {
    set_want_out(c, true);
  }
}

void LoadClient::set_want_out(Conn& c, bool want) noexcept {
  if (c.want_out == want || c.fd < 0) return;
  epoll_event ev{};
  ev.events = want ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
  ev.data.u32 = c.id;
  epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
  c.want_out = want;
}

void LoadClient::on_event(uint32_t id, uint32_t events) noexcept {
  Conn& c = conns_[id];
  if (c.st == St::Connecting) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(c);
    return;
  }
  if (c.st == St::Done || c.st == St::Idle) return;
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
  if (c.st != St::Done && (events & EPOLLOUT)) flush(c);
}

void LoadClient::poll_once(int timeout_ms) noexcept {
  epoll_event evs[kMaxEvents];
  int n = epoll_wait(epfd_, evs, kMaxEvents, timeout_ms);
  for (int i = 0; i < n; ++i) on_event(evs[i].data.u32, evs[i].events);
}

void LoadClient::run_until(uint64_t deadline_ns) noexcept {
  for (;;) {
    uint64_t now = now_ns();
    if (now >= deadline_ns) return;
    uint64_t left_ms = (deadline_ns - now) / 1000000 + 1;
    poll_once(static_cast<int>(left_ms < 50 ? left_ms : 50));
  }
}

// ---------------------------------------------------------------- teardown

void LoadClient::close_all(double timeout_s) noexcept {
  sending_ = false;
  static const uint8_t kNormal[2] = {0x03, 0xE8};  // 1000
  int closing = 0;
  for (auto& c : conns_) {
    if (c.st != St::Open) continue;
    c.st = St::Closing;
    --open_;
    ++closing;
    queue_control(c, ws::kClose, kNormal, 2);
    flush(c);
  }
  uint64_t deadline = now_ns() + static_cast<uint64_t>(timeout_s * 1e9);
  auto still_closing = [&] {
    for (auto& c : conns_)
      if (c.st == St::Closing) return true;
    return false;
  };
  while (closing > 0 && now_ns() < deadline && still_closing()) poll_once(20);
  for (auto& c : conns_) {
    if (c.st != St::Closing) continue;
    ++errors_.close_timeout;
    if (errors_.first.empty()) errors_.first = "close handshake timed out";
    ::close(c.fd);
    c.fd = -1;
    c.st = St::Done;
  }
}

void LoadClient::finish(Conn& c, bool clean) noexcept {
  if (clean) ++clean_closes_;
  else ++errors_.close_unclean;
  if (!clean && errors_.first.empty()) errors_.first = "TCP ended before the server's close frame";
  ::close(c.fd);
  c.fd = -1;
  c.st = St::Done;
}

void LoadClient::fail(Conn& c, uint64_t Errors::*counter, const char* what) noexcept {
  ++(errors_.*counter);
  if (errors_.first.empty()) errors_.first = what;
  if (c.st == St::Connecting || c.st == St::Handshaking) {
    --connecting_;
    ++finished_setup_;
  } else if (c.st == St::Idle) {
    ++finished_setup_;
  } else if (c.st == St::Open) {
    --open_;
  }
  if (c.fd >= 0) ::close(c.fd);
  c.fd = -1;
  c.st = St::Done;
}

}  // namespace load
