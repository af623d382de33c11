// The move to kernel TLS, and what TLS needs once it is there.
//
// The switch happens only at a quiet point: the multishot receive is canceled and its last
// completion seen (nothing more is being read into user space), every ciphertext byte wolfSSL
// wrote has been sent (the kernel would encrypt anything sent later), and the bytes taken off the
// socket end on a record boundary (a partial record cannot be handed to the kernel). Then the keys
// go into the socket and wolfSSL's session is freed: the data path is the plain one.
//
// Under kTLS a record that is not application data fails a plain receive with EIO; one recvmsg
// with room for its type reads it (tls::classify_control_record says what it is). Our own
// close_notify is an alert record sent aside from the queue with TLS_SET_RECORD_TYPE.
#include <unistd.h>

#include "transport.hpp"

namespace ringgate::gateway {
namespace {
constexpr std::uint8_t kCloseNotify[2] = {1, 0};  // alert level warning, description close_notify
}  // namespace

void Transport::begin_switch(LinkIo& io, Connection& c) noexcept {
  // Called once, after the first user-space reads that completed the handshake.
  c.link |= kTlsDecided;
  ConnExt& ext = *c.ext;
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
  c.tls = kTlsSwitching;
  // Stop reading into user space; the cancellation's completion brings us back here.
  io.cancel_recv();
  try_switch(io, c);
}

void Transport::try_switch(LinkIo& io, Connection& c) noexcept {
  if (c.tls != kTlsSwitching || c.phase == Phase::teardown) return;
  if (c.io & (kRecvArmed | kSendInFlight)) return;  // still reading, or wolfSSL's bytes in flight
  if (c.link & kInstalling) return;
  ConnExt& ext = *c.ext;
  if (!ext.cipher.empty()) {
    io.dirty();  // send wolfSSL's last bytes (Finished, tickets) first
    return;
  }
  if (!ext.session->at_record_boundary() || ext.session->input_left() != 0) {
    return finish_switch(io, c, tls::KtlsFallback::partial_record);
  }
  // Keys again: reads during the switch may have moved the receive sequence number.
  tls::KtlsFallback why = tls::KtlsFallback::none;
  if (!ext.session->ktls_params(ext.ktls, why)) {
    return finish_switch(io, c, why == tls::KtlsFallback::none ? tls::KtlsFallback::cipher : why);
  }
  if (!io.direct()) return finish_switch(io, c, tls::ktls_install(io.fd(), ext.ktls));
  // A direct descriptor has no fd for setsockopt: install a temporary one (closed right after).
  if (io.install_fd(true)) {
    c.link |= kInstalling;
  } else {
    finish_switch(io, c, tls::KtlsFallback::no_descriptor);
  }
}

void Transport::finish_switch(LinkIo& io, Connection& c, tls::KtlsFallback result) noexcept {
  metrics_.ktls[std::size_t(result)].add();
  if (result == tls::KtlsFallback::kernel_refused) {
    // The socket may be half-configured (ULP attached): it cannot go back to user space.
    io.teardown();
    return;
  }
  if (result == tls::KtlsFallback::none) {
    c.tls = kTlsKernel;
    ConnExt& ext = *c.ext;
    ext.session.reset();  // wolfSSL leaves the data path: its buffers and keys are freed
    metrics_.tls_user_sessions.add(-1);
    ext.ktls = tls::KtlsParams{};  // the keys are not kept in user space
    if (ext.client.ss_family == 0) free_ext(c);
  } else {
    c.tls = kTlsUser;
  }
  io.arm_recv();
  io.dirty();  // plaintext queued meanwhile (e.g. the 101 response) goes out now
}

Transport::CloseStep Transport::close_notify(LinkIo& io, Connection& c) noexcept {
  c.link |= kNotifySent;
  if (c.tls == kTlsUser) {
    if (!c.ext->session->close_notify() || c.ext->cipher.empty()) return CloseStep::done;
    return CloseStep::send;
  }
  // kTLS: an alert record is a sendmsg with TLS_SET_RECORD_TYPE.
  alignas(8) std::uint8_t cmsg[tls::kRecordTypeCmsgSpace];
  tls::ktls_set_record_type(cmsg, tls::kRecordAlert);
  if (!io.send_aside(kCloseNotify, sizeof kCloseNotify, cmsg, sizeof cmsg)) {
    c.link &= std::uint8_t(~kNotifySent);
    io.dirty();  // try again next turn
    return CloseStep::wait;
  }
  c.link |= kNotifyInFlight;
  return CloseStep::wait;
}

bool Transport::arm_control_recv(LinkIo& io, Connection& c) noexcept {
  auto& slot = control_recvs_[io.slot()];
  if (!slot) slot.reset(new (std::nothrow) ControlRecv);
  if (!slot) return false;
  ControlRecv& r = *slot;
  r.iov.iov_base = r.data;
  r.iov.iov_len = sizeof r.data;
  r.msg = msghdr{};
  r.msg.msg_iov = &r.iov;
  r.msg.msg_iovlen = 1;
  r.msg.msg_control = r.cmsg;
  r.msg.msg_controllen = sizeof r.cmsg;
  if (!io.recvmsg(&r.msg)) return false;
  c.link |= kCtrlRecv;
  return true;
}

void Transport::on_recv(LinkIo& io, Connection& c, const net::Completion& cqe) noexcept {
  c.link &= std::uint8_t(~kCtrlRecv);
  auto it = control_recvs_.find(io.slot());
  if (cqe.res <= 0 || it == control_recvs_.end() || c.phase == Phase::teardown) {
    io.peer_gone();
    io.release_if_done();
    return;
  }
  ControlRecv& r = *it->second;
  const std::size_t n = std::size_t(cqe.res);
  const tls::ControlRecord kind = tls::classify_control_record(tls::ktls_record_type(r.msg), r.data, n);
  if (kind == tls::ControlRecord::application_data) {
    // Data after all (a race with the EIO): deliver it and go back to the multishot receive.
    metrics_.bytes_received.add(n);
    io.deliver(r.data, n);
    control_recvs_.erase(it);
    if (c.phase != Phase::teardown) io.arm_recv();
    io.release_if_done();
    return;
  }
  metrics_.ktls_records[std::size_t(kind)].add();
  control_recvs_.erase(it);
  if (kind == tls::ControlRecord::close_notify) {
    on_close_notify(io, c);
  } else {
    io.peer_gone();
  }
  io.release_if_done();
}

}  // namespace ringgate::gateway
