// Kernel TLS: moving an established session's record layer into the kernel (TCP_ULP "tls" +
// TLS_TX + TLS_RX), so wolfSSL leaves the data path and an idle connection costs what a plain one
// does. Sessions fill KtlsParams (session.hpp); install() does the setsockopt calls on an ordinary
// descriptor (for a direct descriptor the worker first installs a temporary one).
//
// Under kTLS RX, a record that is not application data (alert, KeyUpdate, NewSessionTicket,
// renegotiation) makes a plain recv fail with EIO; a recvmsg with a control-message buffer
// returns its type (TLS_GET_RECORD_TYPE) and its plaintext. Our own close_notify goes out as a
// sendmsg with a TLS_SET_RECORD_TYPE control message (type 21).
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ringgate::tls {

// Why a connection stays in user-space TLS; labels of ringgate_tls_ktls_total{result=...}
// next to "installed".
enum class KtlsFallback : std::uint8_t {
  none,
  disabled,        // --ktls off
  no_ulp,          // the kernel has no TLS ULP (setsockopt TCP_ULP: ENOENT)
  cipher,          // the negotiated suite cannot be offloaded
  partial_record,  // a partial record was already read into user space at the switch
  pending_output,  // (unused by the gateway; kept for the label set)
  kernel_refused,  // setsockopt TLS_TX/TLS_RX failed otherwise
  no_descriptor,   // a direct descriptor could not be turned into an ordinary one
};
std::string_view ktls_fallback_name(KtlsFallback f) noexcept;
inline constexpr int kKtlsFallbackCount = 8;

struct KtlsParams {
  // struct tls12_crypto_info_* for each direction, as bytes (the largest is 56 B).
  alignas(8) std::uint8_t tx[64];
  alignas(8) std::uint8_t rx[64];
  std::uint32_t len = 0;  // bytes used of tx and of rx
  std::uint16_t version = 0;
  std::uint16_t cipher = 0;  // TLS_CIPHER_* from linux/tls.h
};

// setsockopt(TCP_ULP "tls"), then TLS_TX and TLS_RX. 0 on success, else the failure reason.
KtlsFallback ktls_install(int fd, const KtlsParams& params) noexcept;

// Record types (RFC 8446 §5.1).
inline constexpr std::uint8_t kRecordAlert = 21;
inline constexpr std::uint8_t kRecordHandshake = 22;
inline constexpr std::uint8_t kRecordApplicationData = 23;

// Control-message space for one record type (recvmsg) and a builder for sendmsg.
inline constexpr std::size_t kRecordTypeCmsgSpace = CMSG_SPACE(sizeof(std::uint8_t));
// Fills `buf` (kRecordTypeCmsgSpace bytes) with a TLS_SET_RECORD_TYPE control message.
void ktls_set_record_type(void* buf, std::uint8_t type) noexcept;
// The record type in a recvmsg's control data; 0 when absent.
std::uint8_t ktls_record_type(const msghdr& msg) noexcept;

// What a record that kTLS RX would not hand to a plain recv is (labels of
// ringgate_tls_ktls_records_total, in this order), from its type and first plaintext bytes.
// KeyUpdate needs the new traffic secret, which Debian's wolfSSL does not expose, and a
// ClientHello would be a renegotiation: neither can continue under kTLS, so the caller closes.
// application_data (or no type at all) is data after all: a race with the EIO.
enum class ControlRecord : std::uint8_t { close_notify, alert, key_update, renegotiation, other, application_data };
ControlRecord classify_control_record(std::uint8_t type, const std::uint8_t* data, std::size_t len) noexcept;

// Whether this kernel has the TLS upper-layer protocol (kTLS), probed once at start-up.
bool ktls_probe() noexcept;

}  // namespace ringgate::tls
