// The layers under HTTP, in the order bytes meet them: the PROXY header (only from trusted
// proxies), then TLS. TLS runs in wolfSSL while the handshake lasts; then, when the kernel can take
// the session (kTLS), the keys move into the socket and wolfSSL's session is freed, so the data
// path is the plain one. Otherwise wolfSSL decrypts what the ring received and encrypts the
// connection's queue once per loop turn (one record per flush for small messages).
//
// The move to kTLS happens only at a quiet point: the multishot receive is canceled and its last
// completion seen (nothing more is being read into user space), every ciphertext byte wolfSSL
// wrote has been sent (the kernel would encrypt anything sent later), and the bytes taken off the
// socket end on a record boundary (a partial record cannot be handed to the kernel).
#include <netinet/in.h>
#include <unistd.h>

#include <cstring>
#include <optional>

#include "ringgate/gateway/worker.hpp"
#include "ringgate/net/listener.hpp"
#include "user_data.hpp"

namespace ringgate::gateway {
namespace {
bool write_cipher(void* ctx, const std::uint8_t* data, std::size_t len) noexcept {
  auto* ext = static_cast<ConnExt*>(ctx);
  return ext->cipher.write_stream(*ext->pool, data, len);
}

constexpr std::uint8_t kCloseNotify[2] = {1, 0};  // alert level warning, description close_notify
}  // namespace

ConnExt* Worker::ext_of(Connection& conn) noexcept {
  if (conn.ext == nullptr) {
    conn.ext = new (std::nothrow) ConnExt;
    if (conn.ext != nullptr) conn.ext->pool = &chunks_;
  }
  return conn.ext;
}

void Worker::free_ext(Connection& conn) noexcept {
  if (conn.ext == nullptr) return;
  if (conn.ext->session) metrics_.tls_user_sessions.add(-1);
  conn.ext->cipher.clear(chunks_);
  delete conn.ext;
  conn.ext = nullptr;
}

// ---- PROXY protocol ----

void Worker::on_peer_fd(std::uint32_t index, Connection& conn, std::int32_t res) noexcept {
  conn.flags2 &= std::uint8_t(~kInstalling);
  if (conn.phase == Phase::teardown) {
    if (res >= 0) ::close(res);
    maybe_release(index, conn);
    return;
  }
  std::optional<net::SockAddr> peer;
  if (res >= 0) {
    auto a = net::peer_address(res);
    ::close(res);
    if (a) peer = *a;
  }
  on_peer_known(index, conn, peer ? peer->sa() : nullptr);
}

void Worker::on_peer_known(std::uint32_t index, Connection& conn, const sockaddr* peer) noexcept {
  conn.flags2 &= std::uint8_t(~kPeerPending);
  const bool trusted = peer != nullptr && cfg_.trusted_proxies.contains(peer);
  if (trusted) conn.flags2 |= kProxyTrusted;
  if (!trusted && cfg_.proxy_protocol == ProxyMode::required) {
    // Only proxies may connect to a listener that requires the header.
    metrics_.proxy_headers[std::size_t(ProxyResult::untrusted)].add();
    log_proxy_refusal(index, conn, ProxyResult::untrusted, peer);
    teardown(index, conn);
    return;
  }
  arm_recv(index, conn);
}

void Worker::proxy_input(std::uint32_t index, Connection& conn, std::uint8_t* data, std::size_t len) noexcept {
  std::string_view bytes(reinterpret_cast<const char*>(data), len);
  if (conn.in != nullptr) {
    // Earlier bytes were a prefix: append (the chunk holds a maximal header plus one buffer).
    Chunk* c = conn.in;
    const std::size_t n = std::min<std::size_t>(len, c->room());
    std::memcpy(c->data + c->end, data, n);
    c->end += std::uint32_t(n);
    bytes = std::string_view(reinterpret_cast<const char*>(c->data), c->end);
  }
  http::ProxyHeader header;
  const http::ProxyResult r = http::parse_proxy_header(bytes, header);
  const bool trusted = conn.flags2 & kProxyTrusted;
  auto reject = [&](ProxyResult why) {
    metrics_.proxy_headers[std::size_t(why)].add();
    log_proxy_refusal(index, conn, why, nullptr);
    release_in(conn);
    teardown(index, conn);
  };
  switch (r.status) {
    case http::ProxyStatus::need_more:
      if (conn.in == nullptr) {
        conn.in = chunks_.get(http::kMaxV2Bytes + cfg_.recv_buffer_bytes);
        if (conn.in == nullptr) return reject(ProxyResult::too_large);
        std::memcpy(conn.in->data, data, len);
        conn.in->end = std::uint32_t(len);
      }
      return;
    case http::ProxyStatus::invalid:
      return reject(trusted ? ProxyResult::invalid : ProxyResult::untrusted);
    case http::ProxyStatus::too_large:
      return reject(trusted ? ProxyResult::too_large : ProxyResult::untrusted);
    case http::ProxyStatus::not_proxy:
      if (cfg_.proxy_protocol == ProxyMode::required) return reject(ProxyResult::missing);
      metrics_.proxy_headers[std::size_t(ProxyResult::absent)].add();
      break;
    case http::ProxyStatus::done:
      if (!trusted) return reject(ProxyResult::untrusted);
      if (header.local || header.source.ss_family == AF_UNSPEC) {
        metrics_.proxy_headers[std::size_t(ProxyResult::local)].add();
      } else {
        ConnExt* ext = ext_of(conn);
        if (ext == nullptr) return reject(ProxyResult::invalid);
        ext->client = header.source;
        // v2 TLVs: the protocol and server name the balancer negotiated, the AWS endpoint id.
        const std::pair<const char*, std::string_view> tlvs[] = {
            {" proxy_alpn=", header.alpn}, {" proxy_authority=", header.authority}, {" aws_vpce=", header.aws_vpce}};
        for (const auto& [label, value] : tlvs) {
          if (value.empty()) continue;
          ext->proxy_tlvs += label;
          for (char ch : value.substr(0, 255)) ext->proxy_tlvs += ch > 0x20 && ch < 0x7f && ch != '"' ? ch : '?';
        }
        metrics_.proxy_headers[std::size_t(ProxyResult::accepted)].add();
      }
      break;
  }
  conn.flags2 &= std::uint8_t(~kProxyPending);
  // From here the ordinary handshake deadline applies (counted from the accept).
  const std::uint64_t spent = now32() - conn.since_ms;
  wheel_.arm(conn.timer, now_ms_ + (cfg_.handshake_timeout_ms > spent ? cfg_.handshake_timeout_ms - spent : 0));
  const std::size_t skip = r.status == http::ProxyStatus::done ? r.consumed : 0;
  if (conn.in == nullptr) {
    if (len > skip) secure_input(index, conn, data + skip, len - skip);
    return;
  }
  // The bytes were buffered: go on from the buffer (taken out of conn.in, which the HTTP layer uses).
  Chunk* c = conn.in;
  conn.in = nullptr;
  if (c->end > skip) secure_input(index, conn, c->data + skip, c->end - skip);
  chunks_.put(c);
}

void Worker::secure_input(std::uint32_t index, Connection& conn, std::uint8_t* data, std::size_t len) noexcept {
  if (conn.tls == kTlsHandshake || conn.tls == kTlsUser || conn.tls == kTlsSwitching) {
    tls_input(index, conn, data, len);
  } else {
    on_bytes(index, conn, data, len);
  }
}

// ---- TLS ----

// Plain HTTP on a TLS port (an http:// URL with the TLS port, a scanner): this connection is not
// TLS after all, so it is answered as nginx does, with a plain-text 400 that says to use https://
// or wss://, counted and logged like any refusal, instead of a handshake failure in silence.
void Worker::refuse_plain_http(std::uint32_t index, Connection& conn, std::string_view first) noexcept {
  conn.ext->session.reset();
  metrics_.tls_user_sessions.add(-1);
  conn.tls = kTlsNone;
  refuse(index, conn, http::Reject::plain_http_on_tls, nullptr, first);
}

bool Worker::start_tls(std::uint32_t index, Connection& conn) noexcept {
  (void)index;
  Listener& l = listeners_[conn.listener];
  if (l.spec.tls == nullptr) return false;
  if (l.generation != l.spec.tls->generation() || !l.ctx) {
    // Certificates were reloaded (SIGHUP): take the new context for new connections.
    l.generation = l.spec.tls->generation();
    l.ctx = l.spec.tls->get();
  }
  ConnExt* ext = ext_of(conn);
  if (ext == nullptr) return false;
  ext->session.reset(new (std::nothrow) tls::Session);
  if (!ext->session || !ext->session->init_server(l.ctx, tls::Output{ext, write_cipher})) {
    ext->session.reset();
    metrics_.tls_failures[std::size_t(tls::Failure::resources)].add();
    return false;
  }
  metrics_.tls_user_sessions.add(1);
  conn.tls = kTlsHandshake;
  return true;
}

void Worker::on_wire_bytes(std::uint32_t index, Connection& conn, std::uint8_t* data, std::size_t len) noexcept {
  if (conn.flags2 & kProxyPending) {
    proxy_input(index, conn, data, len);
  } else {
    secure_input(index, conn, data, len);
  }
}

void Worker::tls_input(std::uint32_t index, Connection& conn, std::uint8_t* data, std::size_t len) noexcept {
  if (!conn.ext->fed) {
    conn.ext->fed = true;
    const std::string_view first(reinterpret_cast<const char*>(data), len);
    // A TLS record starts with a content type (0x14-0x18): a first byte that is a capital letter
    // is an HTTP method, even when the segment is too short for looks_like_plain_http to tell.
    const bool letter = len != 0 && data[0] >= 'A' && data[0] <= 'Z';
    if (conn.tls == kTlsHandshake && (http::looks_like_plain_http(first) || (letter && len < 4))) {
      return refuse_plain_http(index, conn, first);
    }
  }
  tls::Session& s = *conn.ext->session;
  s.feed(std::span<const std::uint8_t>(data, len));
  if (conn.tls == kTlsHandshake) {
    const tls::Status st = s.handshake();
    if (!wire_queue(conn).empty()) mark_dirty(index, conn);
    if (st == tls::Status::again) return;
    if (st != tls::Status::done) {
      // A failed handshake: wolfSSL may have queued an alert; send it, then close.
      metrics_.tls_failures[std::size_t(s.failure() == tls::Failure::none ? tls::Failure::other : s.failure())].add();
      conn.phase = Phase::finish;
      conn.flags2 |= kNotifySent;  // no close_notify after a failed handshake
      wheel_.arm(conn.timer, now_ms_ + cfg_.close_timeout_ms);
      mark_dirty(index, conn);
      return;
    }
    (s.resumed() ? metrics_.tls_resumed : metrics_.tls_full).add();
    conn.tls = kTlsUser;
  }
  // Decrypt everything fed (a client often sends its request in the segment with Finished).
  for (;;) {
    std::size_t produced = 0;
    const tls::Status st = s.read(std::span<std::uint8_t>(plain_.get(), kPlainBytes), produced);
    if (produced > 0) {
      on_bytes(index, conn, plain_.get(), produced);
      if (conn.phase == Phase::teardown) return;
    }
    if (st == tls::Status::done) continue;
    if (st == tls::Status::again) break;
    // close_notify from the peer: answer with ours, then close. A broken record: just close.
    if (st == tls::Status::closed) {
      on_close_notify(index, conn);
    } else {
      on_peer_gone(index, conn);
    }
    return;
  }
  if (!wire_queue(conn).empty()) mark_dirty(index, conn);
  if (conn.tls == kTlsUser && !(conn.flags2 & kTlsDecided)) begin_ktls_switch(index, conn);
}

bool Worker::tls_encrypt(std::uint32_t index, Connection& conn) noexcept {
  tls::Session& s = *conn.ext->session;
  while (!conn.out.empty() && conn.ext->cipher.footprint() < kCipherHighWater) {
    const Chunk* h = conn.out.head();
    const std::uint32_t n = h->size();
    if (n != 0 && !s.write(std::span<const std::uint8_t>(h->bytes() + h->begin, n))) {
      teardown(index, conn);
      return false;
    }
    conn.out.consume(chunks_, n);
  }
  return true;
}

void Worker::begin_ktls_switch(std::uint32_t index, Connection& conn) noexcept {
  // Called once, after the first user-space reads that completed the handshake.
  conn.flags2 |= kTlsDecided;
  ConnExt& ext = *conn.ext;
  tls::KtlsFallback why = tls::KtlsFallback::none;
  if (cfg_.ktls == KtlsMode::off) {
    why = tls::KtlsFallback::disabled;
  } else if (!ktls_available_) {
    why = tls::KtlsFallback::no_ulp;
  } else if (!ext.session->ktls_params(ext.ktls, why)) {
    if (why == tls::KtlsFallback::none) why = tls::KtlsFallback::cipher;
  }
  if (why != tls::KtlsFallback::none) {
    metrics_.ktls[std::size_t(why)].add();
    return;
  }
  conn.tls = kTlsSwitching;
  // Stop reading into user space; the cancellation's completion brings us back here.
  if (conn.flags & kRecvArmed) (void)ring_.cancel(ud(kRecv, index), ud(kCancel, index));
  try_finish_switch(index, conn);
}

void Worker::try_finish_switch(std::uint32_t index, Connection& conn) noexcept {
  if (conn.tls != kTlsSwitching || conn.phase == Phase::teardown) return;
  if (conn.flags & (kRecvArmed | kSendInFlight)) return;  // still reading, or wolfSSL's bytes in flight
  if (conn.flags2 & kInstalling) return;
  ConnExt& ext = *conn.ext;
  if (!ext.cipher.empty()) {
    mark_dirty(index, conn);  // send wolfSSL's last bytes (Finished, tickets) first
    return;
  }
  if (!ext.session->at_record_boundary() || ext.session->input_left() != 0) {
    finish_switch(index, conn, tls::KtlsFallback::partial_record);
    return;
  }
  // Keys again: reads during the switch may have moved the receive sequence number.
  tls::KtlsFallback why = tls::KtlsFallback::none;
  if (!ext.session->ktls_params(ext.ktls, why)) {
    finish_switch(index, conn, why == tls::KtlsFallback::none ? tls::KtlsFallback::cipher : why);
    return;
  }
  if (!ring_.direct()) {
    finish_switch(index, conn, tls::ktls_install(conn.fd, ext.ktls));
    return;
  }
  // A direct descriptor has no fd for setsockopt: install a temporary one (closed right after).
  if (ring_.fd_install(conn.fd, ud(kKtlsFd, index))) {
    conn.flags2 |= kInstalling;
  } else {
    finish_switch(index, conn, tls::KtlsFallback::no_descriptor);
  }
}

void Worker::on_ktls_fd(std::uint32_t index, Connection& conn, std::int32_t res) noexcept {
  conn.flags2 &= std::uint8_t(~kInstalling);
  if (conn.phase == Phase::teardown) {
    if (res >= 0) ::close(res);
    maybe_release(index, conn);
    return;
  }
  if (res < 0) {
    finish_switch(index, conn, tls::KtlsFallback::no_descriptor);
    return;
  }
  const tls::KtlsFallback r = tls::ktls_install(res, conn.ext->ktls);
  ::close(res);
  finish_switch(index, conn, r);
}

void Worker::finish_switch(std::uint32_t index, Connection& conn, tls::KtlsFallback result) noexcept {
  metrics_.ktls[std::size_t(result)].add();
  if (result == tls::KtlsFallback::kernel_refused) {
    // The socket may be half-configured (ULP attached): it cannot go back to user space.
    teardown(index, conn);
    return;
  }
  if (result == tls::KtlsFallback::none) {
    conn.tls = kTlsKernel;
    ConnExt& ext = *conn.ext;
    ext.session.reset();  // wolfSSL leaves the data path: its buffers and keys are freed
    metrics_.tls_user_sessions.add(-1);
    ext.ktls = tls::KtlsParams{};  // the keys are not kept in user space
    if (ext.client.ss_family == 0) free_ext(conn);
  } else {
    conn.tls = kTlsUser;
  }
  arm_recv(index, conn);
  mark_dirty(index, conn);  // plaintext queued meanwhile (e.g. the 101 response) goes out now
}

bool Worker::send_close_notify(std::uint32_t index, Connection& conn) noexcept {
  conn.flags2 |= kNotifySent;
  if (conn.tls == kTlsUser) {
    if (!conn.ext->session->close_notify()) return false;
    if (conn.ext->cipher.empty()) return false;
    start_send(index, conn);
    return true;
  }
  // kTLS: an alert record is a sendmsg with TLS_SET_RECORD_TYPE.
  if (free_send_op_ == 0xffff) {
    conn.flags2 &= std::uint8_t(~kNotifySent);
    mark_dirty(index, conn);  // try again next turn
    return true;
  }
  const std::uint16_t op_index = free_send_op_;
  SendOp& op = send_ops_[op_index];
  static_assert(sizeof(op.cmsg) >= tls::kRecordTypeCmsgSpace);
  op.iov[0].iov_base = const_cast<std::uint8_t*>(kCloseNotify);
  op.iov[0].iov_len = sizeof kCloseNotify;
  op.msg = msghdr{};
  op.msg.msg_iov = op.iov;
  op.msg.msg_iovlen = 1;
  tls::ktls_set_record_type(op.cmsg, tls::kRecordAlert);
  op.msg.msg_control = op.cmsg;
  op.msg.msg_controllen = tls::kRecordTypeCmsgSpace;
  if (!ring_.sendmsg(conn.fd, &op.msg, ud(kSend, index))) {
    conn.flags2 &= std::uint8_t(~kNotifySent);
    mark_dirty(index, conn);
    return true;
  }
  free_send_op_ = op.next_free;
  conn.send_op = op_index;
  conn.send_iov = 1;
  conn.flags |= kSendInFlight;
  conn.flags2 |= kNotifyInFlight;
  return true;
}

void Worker::arm_ctrl_recv(std::uint32_t index, Connection& conn) noexcept {
  auto& slot = ctrl_recvs_[index];
  if (!slot) slot.reset(new (std::nothrow) CtrlRecv);
  if (!slot) {
    teardown(index, conn);
    return;
  }
  CtrlRecv& r = *slot;
  r.iov.iov_base = r.data;
  r.iov.iov_len = sizeof r.data;
  r.msg = msghdr{};
  r.msg.msg_iov = &r.iov;
  r.msg.msg_iovlen = 1;
  r.msg.msg_control = r.cmsg;
  r.msg.msg_controllen = sizeof r.cmsg;
  if (!ring_.recvmsg(conn.fd, &r.msg, ud(kRecv, index))) {
    teardown(index, conn);
    return;
  }
  conn.flags |= kRecvArmed;
  conn.flags2 |= kCtrlRecv;
}

void Worker::on_ctrl_recv(std::uint32_t index, Connection& conn, const net::Completion& c) noexcept {
  conn.flags2 &= std::uint8_t(~kCtrlRecv);
  auto it = ctrl_recvs_.find(index);
  if (c.res <= 0 || it == ctrl_recvs_.end() || conn.phase == Phase::teardown) {
    on_peer_gone(index, conn);
    maybe_release(index, conn);
    return;
  }
  CtrlRecv& r = *it->second;
  const std::uint8_t type = tls::ktls_record_type(r.msg);
  if (type == tls::kRecordApplicationData || type == 0) {
    // Data after all (a race with the EIO): deliver it and go back to the multishot receive.
    metrics_.bytes_received.add(std::uint64_t(c.res));
    on_bytes(index, conn, r.data, std::size_t(c.res));
    ctrl_recvs_.erase(it);
    if (conn.phase != Phase::teardown) arm_recv(index, conn);
    maybe_release(index, conn);
    return;
  }
  KtlsRecord kind = KtlsRecord::other;
  if (type == tls::kRecordAlert) {
    kind = c.res >= 2 && r.data[1] == 0 ? KtlsRecord::close_notify : KtlsRecord::alert;
  } else if (type == tls::kRecordHandshake && c.res >= 1) {
    // KeyUpdate (24) needs the traffic secret, which Debian's wolfSSL does not expose; a
    // ClientHello (1) would be a renegotiation. Neither can continue under kTLS: close.
    kind = r.data[0] == 24 ? KtlsRecord::key_update : r.data[0] == 1 ? KtlsRecord::renegotiation : KtlsRecord::other;
  }
  metrics_.ktls_records[std::size_t(kind)].add();
  ctrl_recvs_.erase(it);
  if (kind == KtlsRecord::close_notify) {
    on_close_notify(index, conn);
  } else {
    on_peer_gone(index, conn);
  }
  maybe_release(index, conn);
}

void Worker::on_close_notify(std::uint32_t index, Connection& conn) noexcept {
  // The peer ended TLS (RFC 8446 §6.1): send our close_notify, then close. A WebSocket that was
  // still open ended without a close frame (1006). Nothing more is read.
  if (conn.phase == Phase::teardown) return;
  if (conn.phase == Phase::open || conn.phase == Phase::close_sent) conn.close_code = ws::close_code::abnormal;
  conn.phase = Phase::finish;
  wheel_.arm(conn.timer, now_ms_ + cfg_.close_timeout_ms);
  mark_dirty(index, conn);
}

}  // namespace ringgate::gateway
