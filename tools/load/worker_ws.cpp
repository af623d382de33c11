// The WebSocket client of an echo/hold/fanout connection (see worker_impl.hpp): the upgrade request
// and the 101 check, masked frames for the Scenario, ping -> pong, the close handshake; with wss://
// the received bytes go through the connection's TlsConn first.
#include <cstring>
#include <string_view>

#include "ringgate/ws/accept.hpp"
#include "worker_impl.hpp"

namespace ringgate::load {

namespace {
constexpr std::size_t kMaxHead = 8192;
}  // namespace

// Outbox: a frame for the Scenario to fill, masked at commit.
std::uint8_t* Worker::Impl::begin(std::uint32_t c, ws::Opcode op, std::size_t size) noexcept {
  Conn& k = conns_[c];
  if (k.st != St::open || k.close_sent) return nullptr;
  return frame(c, op, size);
}

void Worker::Impl::commit(std::uint32_t c) noexcept {
  Conn& k = conns_[c];
  ws::unmask(k.out.data() + k.mask_at, k.out.size() - k.mask_at, k.key, 0);
  mark_dirty(c);
}

std::uint8_t* Worker::Impl::frame(std::uint32_t c, ws::Opcode op, std::size_t size) noexcept {
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

void Worker::Impl::control(std::uint32_t c, ws::Opcode op, std::span<const std::uint8_t> p) noexcept {
  Conn& k = conns_[c];
  if (k.close_sent || (k.st != St::open && k.st != St::closing)) return;
  std::uint8_t* dst = frame(c, op, p.size());
  if (!p.empty()) std::memcpy(dst, p.data(), p.size());
  commit(c);
}

void Worker::Impl::send_close(std::uint32_t c, std::uint16_t code) noexcept {
  Conn& k = conns_[c];
  if (k.close_sent) return;
  std::uint8_t payload[ws::kMaxControlPayload];
  std::size_t n = ws::write_close_payload(payload, code, "");
  control(c, ws::Opcode::close, {payload, n});
  k.close_sent = true;
  k.st = St::closing;
}

void Worker::Impl::on_close(std::uint32_t c, std::uint16_t code) noexcept {
  Conn& k = conns_[c];
  k.close_rcvd = true;
  if (!k.close_sent) {
    if (phase_ < Phase::closing) fail(c, Cause::closed_early, false);
    send_close(c, code == ws::close_code::no_status ? ws::close_code::normal : code);
  }
  // Our close is queued or answered: the slot is released once the send has left.
  maybe_release(c);
}

// The HTTP upgrade request, once the transport (TCP, or TCP + TLS) is up.
void Worker::Impl::send_upgrade(std::uint32_t c) noexcept {
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

void Worker::Impl::opened(std::uint32_t c) noexcept {
  Conn& k = conns_[c];
  std::uint64_t now = engine_.now();
  k.st = St::open;
  --pending_;
  w_.establish_ns_.record(now - k.started_ns);
  w_.progress_.established.fetch_add(1, std::memory_order_relaxed);
  w_.progress_.last_established_ns.store(now, std::memory_order_relaxed);
  k.wskey.reset();
  if (phase_ >= Phase::closing) {
    send_close(c, ws::close_code::normal);
  } else {
    scenario_->on_open(c, *this);
  }
}

void Worker::Impl::feed(std::uint32_t c, std::uint8_t* p, std::size_t n) noexcept {
  Conn& k = conns_[c];
  Sink sink{this, c};
  ws::FeedResult r = k.parser.feed(p, n, sink, limits_);
  if (r.close_code != 0 && !k.failed) {
    fail(c, Cause::protocol_error, true);
  }
}

void Worker::Impl::on_bytes(std::uint32_t c, std::uint8_t* p, std::size_t n) noexcept {
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

// The bytes of a recv completion: straight to HTTP/WebSocket, or through TLS first.
void Worker::Impl::on_data(std::uint32_t c, std::uint8_t* p, std::size_t n) noexcept {
  Conn& k = conns_[c];
  if (!k.tls) {
    on_bytes(c, p, n);
    return;
  }
  TlsConn* t = k.tls.get();
  auto alive = [&] { return k.st != St::done; };
  TlsConn::In r = t->receive(
      {p, n}, engine_.scratch(),
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

}  // namespace ringgate::load
