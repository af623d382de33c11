// Kernel TLS installation and the record-type control messages (see ktls.hpp).
#include "ringgate/tls/ktls.hpp"

#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <unistd.h>

#include <cerrno>
#include <cstring>

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

namespace ringgate::tls {

std::string_view ktls_fallback_name(KtlsFallback f) noexcept {
  switch (f) {
    case KtlsFallback::none: return "none";
    case KtlsFallback::disabled: return "disabled";
    case KtlsFallback::no_ulp: return "no_ulp";
    case KtlsFallback::cipher: return "cipher";
    case KtlsFallback::partial_record: return "partial_record";
    case KtlsFallback::pending_output: return "pending_output";
    case KtlsFallback::kernel_refused: return "kernel_refused";
    case KtlsFallback::no_descriptor: return "no_descriptor";
  }
  return "kernel_refused";
}

KtlsFallback ktls_install(int fd, const KtlsParams& params) noexcept {
  if (params.len == 0 || params.len > sizeof params.tx) return KtlsFallback::cipher;
  if (::setsockopt(fd, SOL_TCP, TCP_ULP, "tls", 4) != 0) {
    // ENOENT: no tls module (CONFIG_TLS unset). Anything else (EEXIST, ENOTCONN, ...) is a
    // refusal for this socket, not a property of the kernel.
    return errno == ENOENT ? KtlsFallback::no_ulp : KtlsFallback::kernel_refused;
  }
  // The ULP cannot be removed again; a failure below leaves a TLS socket without keys, which
  // the caller must close (it cannot go back to user-space records on it either way).
  if (::setsockopt(fd, SOL_TLS, TLS_TX, params.tx, params.len) != 0) return KtlsFallback::kernel_refused;
  if (::setsockopt(fd, SOL_TLS, TLS_RX, params.rx, params.len) != 0) return KtlsFallback::kernel_refused;
  return KtlsFallback::none;
}

void ktls_set_record_type(void* buf, std::uint8_t type) noexcept {
  std::memset(buf, 0, kRecordTypeCmsgSpace);
  msghdr msg{};
  msg.msg_control = buf;
  msg.msg_controllen = kRecordTypeCmsgSpace;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_TLS;
  c->cmsg_type = TLS_SET_RECORD_TYPE;
  c->cmsg_len = CMSG_LEN(sizeof type);
  std::memcpy(CMSG_DATA(c), &type, sizeof type);
}

std::uint8_t ktls_record_type(const msghdr& msg) noexcept {
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(const_cast<msghdr*>(&msg), c)) {
    if (c->cmsg_level == SOL_TLS && c->cmsg_type == TLS_GET_RECORD_TYPE && c->cmsg_len >= CMSG_LEN(1)) {
      std::uint8_t type;
      std::memcpy(&type, CMSG_DATA(c), 1);
      return type;
    }
  }
  return 0;
}

ControlRecord classify_control_record(std::uint8_t type, const std::uint8_t* data, std::size_t len) noexcept {
  if (type == kRecordApplicationData || type == 0) return ControlRecord::application_data;
  if (type == kRecordAlert) {
    // An alert is level + description; description 0 is close_notify.
    return len >= 2 && data[1] == 0 ? ControlRecord::close_notify : ControlRecord::alert;
  }
  if (type == kRecordHandshake && len >= 1) {
    return data[0] == 24 ? ControlRecord::key_update : data[0] == 1 ? ControlRecord::renegotiation : ControlRecord::other;
  }
  return ControlRecord::other;
}

// Attaching the ULP to an unconnected socket fails with ENOTCONN when it exists and ENOENT when it
// does not (module missing or not built).
bool ktls_probe() noexcept {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const int rc = ::setsockopt(fd, SOL_TCP, TCP_ULP, "tls", 3);
  const int err = errno;
  ::close(fd);
  return rc == 0 || err != ENOENT;
}

}  // namespace ringgate::tls
