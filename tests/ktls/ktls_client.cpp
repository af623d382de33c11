// The test client (see ktls_client.hpp).
#include "ktls_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <new>
#include <string_view>

namespace ringgate::ktls_test {

long long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::vector<std::uint8_t> pattern(std::size_t n, std::uint32_t seed) {
  std::vector<std::uint8_t> out(n);
  std::uint32_t x = seed * 2654435761u + 1;
  for (std::size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out[i] = std::uint8_t(x);
  }
  return out;
}

Client::~Client() { close_socket(); }

bool Client::fail(std::string reason) {
  if (why_.empty()) why_ = std::move(reason);
  return false;
}

bool Client::on_output(void* self, const std::uint8_t* data, std::size_t len) noexcept {
  try {
    auto& w = static_cast<Client*>(self)->wire_;
    w.insert(w.end(), data, data + len);
  } catch (const std::bad_alloc&) {
    return false;
  }
  return true;
}

bool Client::connect(std::uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return fail(std::string("socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    return fail(std::string("connect: ") + std::strerror(errno));
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return true;
}

void Client::close_socket() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void Client::drop_session() {
  session_.reset();
  std::vector<std::uint8_t>().swap(wire_);
  std::vector<std::uint8_t>().swap(plain_);
  std::vector<std::uint8_t>().swap(rx_);
  std::vector<std::uint8_t>().swap(dec_);
}

bool Client::pump(long long deadline_ms) {
  if (eof_) return fail("connection closed by the server");
  const bool pending = wire_off_ < wire_.size();
  pollfd p{fd_, short(POLLIN | (pending ? POLLOUT : 0)), 0};
  const long long left = deadline_ms - now_ms();
  if (left <= 0) return fail("timeout");
  const int r = ::poll(&p, 1, int(left));
  if (r < 0) return errno == EINTR ? true : fail(std::string("poll: ") + std::strerror(errno));
  if (r == 0) return fail("timeout");
  if (pending && (p.revents & POLLOUT)) {
    const ssize_t n = ::send(fd_, wire_.data() + wire_off_, wire_.size() - wire_off_, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      wire_off_ += std::size_t(n);
      if (wire_off_ == wire_.size()) {
        wire_.clear();
        wire_off_ = 0;
      }
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return fail(std::string("send: ") + std::strerror(errno));
    }
  }
  if (!(p.revents & (POLLIN | POLLHUP | POLLERR))) return true;
  if (rx_.empty()) rx_.resize(1 << 16);
  if (dec_.empty()) dec_.resize(1 << 16);
  const ssize_t n = ::recv(fd_, rx_.data(), rx_.size(), MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno == ECONNRESET)) {
    eof_ = true;
    return true;
  }
  if (n < 0) return errno == EAGAIN || errno == EINTR ? true : fail(std::string("recv: ") + std::strerror(errno));
  tls::Session& s = *session_;
  s.feed(std::span<const std::uint8_t>(rx_.data(), std::size_t(n)));
  if (!s.handshake_done()) {
    const tls::Status st = s.handshake();
    if (st == tls::Status::again) {
      s.feed({});
      return true;
    }
    if (st != tls::Status::done) {
      s.feed({});
      return fail(std::string("TLS handshake failed: ") + std::string(tls::failure_name(s.failure())));
    }
  }
  for (;;) {
    std::size_t produced = 0;
    const tls::Status st = s.read(dec_, produced);
    plain_.insert(plain_.end(), dec_.data(), dec_.data() + produced);
    if (st == tls::Status::done) continue;
    if (st == tls::Status::closed) notify_ = true;
    if (st == tls::Status::failed) {
      s.feed({});
      return fail(std::string("TLS read failed: ") + std::string(tls::failure_name(s.failure())));
    }
    break;
  }
  s.feed({});  // never keep a pointer into rx_
  return true;
}

bool Client::flush(long long deadline_ms) {
  while (wire_off_ < wire_.size()) {
    if (!pump(deadline_ms)) return false;
  }
  return true;
}

bool Client::handshake(const std::shared_ptr<tls::ClientContext>& ctx) {
  if (!session_->init_client(ctx, tls::Output{this, &Client::on_output}, "localhost")) {
    return fail("init_client failed");
  }
  if (session_->handshake() == tls::Status::failed) return fail("ClientHello failed");
  const long long deadline = now_ms() + kIoTimeoutMs;
  while (!session_->handshake_done()) {
    if (!pump(deadline)) return false;
  }
  return flush(deadline);
}

bool Client::upgrade() {
  static constexpr std::string_view kRequest =
      "GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  if (!session_->write({reinterpret_cast<const std::uint8_t*>(kRequest.data()), kRequest.size()})) {
    return fail("TLS write failed");
  }
  const long long deadline = now_ms() + kIoTimeoutMs;
  for (;;) {
    const std::string_view got(reinterpret_cast<const char*>(plain_.data()) + plain_off_, plain_.size() - plain_off_);
    const std::size_t end = got.find("\r\n\r\n");
    if (end != std::string_view::npos) {
      const std::string_view head = got.substr(0, end + 4);
      if (head.substr(0, 12) != "HTTP/1.1 101") return fail("upgrade refused: " + std::string(head.substr(0, 40)));
      if (head.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == std::string_view::npos) return fail("bad Sec-WebSocket-Accept");
      plain_off_ += end + 4;
      return flush(deadline);
    }
    if (notify_) return fail("close_notify before the 101");
    if (!pump(deadline)) return false;
  }
}

bool Client::send_frame(ws::Opcode op, std::span<const std::uint8_t> payload) {
  static constexpr std::uint8_t kKey[4] = {0x5a, 0x13, 0xc7, 0x8e};
  std::vector<std::uint8_t> f(ws::kMaxHeaderBytes + payload.size());
  const std::size_t h = ws::write_header(f.data(), op, true, payload.size(), kKey);
  for (std::size_t i = 0; i < payload.size(); ++i) f[h + i] = payload[i] ^ kKey[i & 3];
  f.resize(h + payload.size());
  if (!session_->write(f)) return fail("TLS write failed");
  return true;  // sent by the next pump()s
}

bool Client::take_frame(Frame& out) {
  const std::uint8_t* p = plain_.data() + plain_off_;
  const std::size_t avail = plain_.size() - plain_off_;
  if (avail < 2) return false;
  if (p[1] & 0x80) return fail("server frame is masked");
  std::uint64_t len = p[1] & 0x7f;
  std::size_t h = 2;
  if (len == 126) {
    if (avail < 4) return false;
    len = (std::uint64_t(p[2]) << 8) | p[3];
    h = 4;
  } else if (len == 127) {
    if (avail < 10) return false;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
    h = 10;
  }
  if (avail < h + len) return false;
  out.fin = (p[0] & 0x80) != 0;
  out.op = ws::Opcode(p[0] & 0x0f);
  out.payload.assign(p + h, p + h + len);
  plain_off_ += h + std::size_t(len);
  if (plain_off_ == plain_.size()) {
    plain_.clear();
    plain_off_ = 0;
  }
  return true;
}

bool Client::next_frame(Frame& out) {
  const long long deadline = now_ms() + kIoTimeoutMs;
  for (;;) {
    if (take_frame(out)) return true;
    if (!why_.empty()) return false;
    if (notify_) return fail("close_notify while a frame was expected");
    if (!pump(deadline)) return false;
  }
}

bool Client::echo(std::size_t n, std::uint32_t seed) {
  const std::vector<std::uint8_t> sent = pattern(n, seed);
  if (!send_frame(ws::Opcode::binary, sent)) return false;
  std::vector<std::uint8_t> got;
  ws::Opcode first = ws::Opcode::continuation;
  for (;;) {
    Frame f;
    if (!next_frame(f)) return false;
    if (f.op == ws::Opcode::ping) {
      if (!send_frame(ws::Opcode::pong, f.payload)) return false;
      continue;
    }
    if (f.op == ws::Opcode::close) return fail("close frame instead of the echo");
    if (f.op == ws::Opcode::pong) continue;
    if (first == ws::Opcode::continuation) first = f.op;
    got.insert(got.end(), f.payload.begin(), f.payload.end());
    if (f.fin) break;
  }
  if (first != ws::Opcode::binary) return fail("echo of " + std::to_string(n) + " B: not a binary message");
  if (got.size() != n) {
    return fail("echo of " + std::to_string(n) + " B came back with " + std::to_string(got.size()) + " B");
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (got[i] != sent[i]) return fail("echo of " + std::to_string(n) + " B differs at byte " + std::to_string(i));
  }
  return true;
}

bool Client::ping_pong() {
  static constexpr std::uint8_t kPing[] = {'k', 't', 'l', 's', '-', 'p', 'i', 'n', 'g'};
  if (!send_frame(ws::Opcode::ping, kPing)) return false;
  for (;;) {
    Frame f;
    if (!next_frame(f)) return false;
    if (f.op != ws::Opcode::pong) return fail("expected a pong, got opcode " + std::to_string(int(f.op)));
    if (f.payload != std::vector<std::uint8_t>(std::begin(kPing), std::end(kPing))) return fail("pong payload differs");
    return true;
  }
}

bool Client::ws_close() {
  const std::uint8_t code[2] = {0x03, 0xe8};  // 1000
  if (!send_frame(ws::Opcode::close, code)) return false;
  Frame f;
  if (!next_frame(f)) return false;
  if (f.op != ws::Opcode::close) return fail("expected the close frame, got opcode " + std::to_string(int(f.op)));
  if (f.payload.size() < 2 || ((f.payload[0] << 8) | f.payload[1]) != 1000) return fail("close code is not 1000");
  const long long deadline = now_ms() + kIoTimeoutMs;
  while (!notify_) {
    if (eof_) return fail("server closed TCP without close_notify after the WebSocket close");
    if (!pump(deadline)) return false;
  }
  if (plain_off_ != plain_.size()) return fail("bytes after the close frame");
  return true;
}

bool Client::tls_close_first(bool& answered) {
  answered = false;
  if (!session_->close_notify()) return fail("close_notify could not be queued");
  const long long deadline = now_ms() + kIoTimeoutMs;
  if (!flush(deadline)) return false;
  while (!eof_) {
    if (!pump(deadline)) return false;
    answered = answered || notify_;
  }
  if (plain_off_ != plain_.size()) return fail("data after our close_notify");
  return true;
}

}  // namespace ringgate::ktls_test
