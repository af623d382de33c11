// The transport seam (see transport.hpp): where the worker's loop meets the PROXY and TLS layers.
#include "transport.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include "ringgate/net/listener.hpp"

namespace ringgate::gateway {

bool Transport::init() noexcept {
  plain_.reset(new (std::nothrow) std::uint8_t[kPlainBytes + 64]);
  return bool(plain_);
}

bool Transport::open(LinkIo& io, Connection& c, const std::shared_ptr<tls::ServerContext>* tls, bool proxy) noexcept {
  if (tls != nullptr && !start_tls(c, *tls)) return false;
  if (!proxy) {
    io.arm_recv();
    return true;
  }
  // The PROXY header is trusted only from --trusted-proxies: learn the TCP peer before reading.
  c.link |= kPeerPending | kProxyPending;
  io.set_deadline(std::min(cfg_.handshake_timeout_ms, cfg_.proxy_timeout_ms));
  if (io.direct()) {
    if (io.install_fd(false)) {
      c.link |= kInstalling;
    } else {
      on_peer_known(io, c, nullptr);
    }
  } else {
    auto peer = net::peer_address(io.fd());
    on_peer_known(io, c, peer ? peer->sa() : nullptr);
  }
  return true;
}

void Transport::input(LinkIo& io, Connection& c, std::uint8_t* data, std::size_t len) noexcept {
  if (c.link & kProxyPending) {
    proxy_input(io, c, data, len);
  } else {
    secure_input(io, c, data, len);
  }
}

bool Transport::on_recv_error(LinkIo& io, Connection& c, std::int32_t res) noexcept {
  if (res != -EIO || c.tls != kTlsKernel) return false;
  // kTLS: a record that is not application data (alert, KeyUpdate, renegotiation) is waiting.
  if (!arm_control_recv(io, c)) io.teardown();
  return true;
}

bool Transport::after_recv(LinkIo& io, Connection& c) noexcept {
  if (c.tls != kTlsSwitching) return false;
  try_switch(io, c);
  return true;
}

OutQueue* Transport::wire(LinkIo& io, Connection& c) noexcept {
  // User-space TLS encrypts only while little ciphertext waits, so queued messages stay plain
  // frames (the slow-consumer policies can still drop or conflate them).
  if (c.tls == kTlsUser && !c.out.empty() && c.ext->cipher.footprint() < kCipherHighWater && !encrypt(io, c)) {
    return nullptr;
  }
  return &wire_queue(c);
}

bool Transport::step(LinkIo& io, Connection& c) noexcept {
  if (c.tls != kTlsSwitching) return false;
  try_switch(io, c);
  return true;
}

Transport::CloseStep Transport::close(LinkIo& io, Connection& c) noexcept {
  // A TLS peer gets close_notify first (it is what lets clients keep their session).
  if ((c.tls != kTlsUser && c.tls != kTlsKernel) || (c.link & kNotifySent)) return CloseStep::done;
  return close_notify(io, c);
}

void Transport::sent(Connection& c, std::size_t bytes) noexcept {
  if (c.link & kNotifyInFlight) {
    c.link &= std::uint8_t(~kNotifyInFlight);  // the kTLS close_notify: nothing queued to drop
    return;
  }
  wire_queue(c).consume(pool_, bytes);
}

void Transport::on_fd(LinkIo& io, Connection& c, bool for_keys, std::int32_t res) noexcept {
  c.link &= std::uint8_t(~kInstalling);
  if (c.phase == Phase::teardown) {
    if (res >= 0) ::close(res);
    io.release_if_done();
    return;
  }
  if (for_keys) {
    if (res < 0) return finish_switch(io, c, tls::KtlsFallback::no_descriptor);
    const tls::KtlsFallback r = tls::ktls_install(res, c.ext->ktls);
    ::close(res);
    return finish_switch(io, c, r);
  }
  std::optional<net::SockAddr> peer;
  if (res >= 0) {
    auto a = net::peer_address(res);
    ::close(res);
    if (a) peer = *a;
  }
  on_peer_known(io, c, peer ? peer->sa() : nullptr);
}

void Transport::release(Connection& c, std::uint32_t slot) noexcept {
  free_ext(c);
  if (!control_recvs_.empty()) control_recvs_.erase(slot);
}

const sockaddr* Transport::proxy_client(const Connection& c) const noexcept {
  if (c.ext == nullptr || c.ext->client.ss_family == 0) return nullptr;
  return reinterpret_cast<const sockaddr*>(&c.ext->client);
}

ConnExt* Transport::ext_of(Connection& c) noexcept {
  if (c.ext == nullptr) {
    c.ext = new (std::nothrow) ConnExt;
    if (c.ext != nullptr) c.ext->pool = &pool_;
  }
  return c.ext;
}

void Transport::free_ext(Connection& c) noexcept {
  if (c.ext == nullptr) return;
  if (c.ext->session) metrics_.tls_user_sessions.add(-1);
  c.ext->cipher.clear(pool_);
  delete c.ext;
  c.ext = nullptr;
}

}  // namespace ringgate::gateway
