// User-space TLS (wolfSSL): the handshake always runs here; the records too until the connection
// moves to kTLS (ktls.cpp), or for its whole life when the kernel cannot take it. wolfSSL writes
// ciphertext into the connection's cipher queue (ConnExt::cipher), which is what goes on the wire
// while TLS runs in user space; plaintext queued by the layers above is encrypted at flush.
#include "transport.hpp"

namespace ringgate::gateway {
namespace {
bool write_cipher(void* ctx, const std::uint8_t* data, std::size_t len) noexcept {
  auto* ext = static_cast<ConnExt*>(ctx);
  return ext->cipher.write_stream(*ext->pool, data, len);
}
}  // namespace

bool Transport::start_tls(Connection& c, const std::shared_ptr<tls::ServerContext>& ctx) noexcept {
  if (!ctx) return false;
  ConnExt* ext = ext_of(c);
  if (ext == nullptr) return false;
  ext->session.reset(new (std::nothrow) tls::Session);
  if (!ext->session || !ext->session->init_server(ctx, tls::Output{ext, write_cipher})) {
    ext->session.reset();
    metrics_.tls_failures[std::size_t(tls::Failure::resources)].add();
    return false;
  }
  metrics_.tls_user_sessions.add(1);
  c.tls = kTlsHandshake;
  return true;
}

void Transport::secure_input(LinkIo& io, Connection& c, std::uint8_t* data, std::size_t len) noexcept {
  if (c.tls == kTlsHandshake || c.tls == kTlsUser || c.tls == kTlsSwitching) {
    tls_input(io, c, data, len);
  } else {
    io.deliver(data, len);
  }
}

void Transport::tls_input(LinkIo& io, Connection& c, std::uint8_t* data, std::size_t len) noexcept {
  if (!c.ext->fed) {
    c.ext->fed = true;
    const std::string_view first(reinterpret_cast<const char*>(data), len);
    // A TLS record starts with a content type (0x14-0x18): a first byte that is a capital letter
    // is an HTTP method, even when the segment is too short for looks_like_plain_http to tell.
    // Such a connection is not TLS after all (an http:// URL with the TLS port, a scanner): it is
    // answered as nginx does, with a plain-text 400 that says to use https:// or wss://.
    const bool letter = len != 0 && data[0] >= 'A' && data[0] <= 'Z';
    if (c.tls == kTlsHandshake && (http::looks_like_plain_http(first) || (letter && len < 4))) {
      c.ext->session.reset();
      metrics_.tls_user_sessions.add(-1);
      c.tls = kTlsNone;
      io.refuse(http::Reject::plain_http_on_tls, first);
      return;
    }
  }
  tls::Session& s = *c.ext->session;
  s.feed(std::span<const std::uint8_t>(data, len));
  if (c.tls == kTlsHandshake && !handshake(io, c)) return;
  // Decrypt everything fed (a client often sends its request in the segment with Finished).
  for (;;) {
    std::size_t produced = 0;
    const tls::Status st = s.read(std::span<std::uint8_t>(plain_.get(), kPlainBytes), produced);
    if (produced > 0) {
      io.deliver(plain_.get(), produced);
      if (c.phase == Phase::teardown) return;
    }
    if (st == tls::Status::done) continue;
    if (st == tls::Status::again) break;
    // close_notify from the peer: answer with ours, then close. A broken record: just close.
    if (st == tls::Status::closed) {
      on_close_notify(io, c);
    } else {
      io.peer_gone();
    }
    return;
  }
  if (!wire_queue(c).empty()) io.dirty();
  if (c.tls == kTlsUser && !(c.link & kTlsDecided)) begin_switch(io, c);
}

// True when the handshake is done and records may be read.
bool Transport::handshake(LinkIo& io, Connection& c) noexcept {
  tls::Session& s = *c.ext->session;
  const tls::Status st = s.handshake();
  if (!wire_queue(c).empty()) io.dirty();
  if (st == tls::Status::again) return false;
  if (st != tls::Status::done) {
    // A failed handshake: wolfSSL may have queued an alert; send it, then close.
    metrics_.tls_failures[std::size_t(s.failure() == tls::Failure::none ? tls::Failure::other : s.failure())].add();
    c.link |= kNotifySent;  // no close_notify after a failed handshake
    io.finish(false);
    return false;
  }
  (s.resumed() ? metrics_.tls_resumed : metrics_.tls_full).add();
  c.tls = kTlsUser;
  return true;
}

bool Transport::encrypt(LinkIo& io, Connection& c) noexcept {
  tls::Session& s = *c.ext->session;
  while (!c.out.empty() && c.ext->cipher.footprint() < kCipherHighWater) {
    const Chunk* h = c.out.head();
    const std::uint32_t n = h->size();
    if (n != 0 && !s.write(std::span<const std::uint8_t>(h->bytes() + h->begin, n))) {
      io.teardown();
      return false;
    }
    c.out.consume(pool_, n);
  }
  return true;
}

void Transport::on_close_notify(LinkIo& io, Connection& c) noexcept {
  // The peer ended TLS (RFC 8446 §6.1): send our close_notify, then close. A WebSocket that was
  // still open ended without a close frame (1006). Nothing more is read.
  if (c.phase == Phase::teardown) return;
  io.finish(true);
}

}  // namespace ringgate::gateway
