// PROXY protocol v1 (text) and v2 (binary), as HAProxy specifies it: the header a load balancer
// in TCP mode (AWS NLB/ELB, HAProxy, nginx stream) puts before the client's first byte, carrying
// the client's real address. Sans-IO: bytes in, a verdict out. Versions are told apart by their
// signatures; anything else is "not a PROXY header" (for --proxy-protocol optional).
//
// Bounds: v1 is at most 107 bytes; v2 at most 16 + 65535, and we refuse v2 headers whose
// length exceeds kMaxV2Bytes (TLVs beyond a few hundred bytes have no legitimate use here).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ringgate::http {

inline constexpr std::size_t kMaxV1Bytes = 107;
inline constexpr std::size_t kMaxV2Bytes = 16 + 1024;

enum class ProxyStatus : std::uint8_t {
  need_more,   // a valid prefix; call again with more bytes
  done,        // header parsed: `consumed` bytes belong to it
  not_proxy,   // the bytes do not start a PROXY header (decided from the first bytes)
  invalid,     // malformed after a signature: version, command, family, length, address text
  too_large,   // longer than the bounds above
};
std::string_view proxy_status_name(ProxyStatus s) noexcept;

struct ProxyHeader {
  std::uint8_t version = 0;   // 1 or 2
  bool local = false;         // v2 LOCAL / v1 UNKNOWN: no address (health check); keep the peer's
  sockaddr_storage source{};  // the client (AF_INET / AF_INET6; AF_UNSPEC when local)
  sockaddr_storage destination{};
  // v2 TLVs we keep (views into the parsed bytes: copy before the buffer is reused).
  std::string_view alpn;       // PP2_TYPE_ALPN (0x01)
  std::string_view authority;  // PP2_TYPE_AUTHORITY (0x02): the SNI the balancer saw
  std::string_view aws_vpce;   // PP2_TYPE_AWS (0xEA) subtype 0x01: VPC endpoint id
};

struct ProxyResult {
  ProxyStatus status = ProxyStatus::need_more;
  std::size_t consumed = 0;
};

// Parses the start of a connection's byte stream. `data` holds everything received so far.
ProxyResult parse_proxy_header(std::string_view data, ProxyHeader& out) noexcept;

// An IPv4 ("192.0.2.1") or IPv6 ("2001:db8::1", "::ffff:192.0.2.1") literal, nothing else (no
// port, brackets, zone or surrounding space), into an AF_INET / AF_INET6 address with port 0.
// False (out unspecified) otherwise.
bool parse_ip_address(std::string_view text, sockaddr_storage& out) noexcept;

// A CIDR list for --trusted-proxies ("10.0.0.0/8,192.168.1.7,::1/128").
class CidrSet {
 public:
  // False (set unchanged) on a malformed entry; `bad` is the entry.
  bool parse(std::string_view list, std::string_view& bad) noexcept;
  bool contains(const sockaddr* addr) const noexcept;
  // The same for an address literal (parse_ip_address); false when `addr` is not one.
  bool contains(std::string_view addr) const noexcept;
  bool empty() const noexcept { return count_ == 0; }

  static constexpr std::size_t kMax = 64;

 private:
  struct Net {
    std::uint8_t family;  // AF_INET or AF_INET6
    std::uint8_t prefix;
    std::uint8_t addr[16];
  };
  Net nets_[kMax];
  std::size_t count_ = 0;
};

}  // namespace ringgate::http
