// PROXY protocol v1/v2 parser and the trusted-proxy CIDR set. Stateless: every call re-reads the
// bytes received so far, so a verdict other than need_more is final for every longer input.
//
// Choices where the spec leaves room (all strict, none allocate):
//   - Detection: any byte that diverges from both signatures gives not_proxy at once ("POST"
//     at byte 1, "\r\n\r\nGET" at byte 4); a v1 line that starts "PROXY " but is then malformed
//     is invalid, not not_proxy.
//   - v1 ports: 1-5 digits, <= 65535, no sign, no leading zero except "0" itself. Addresses go
//     through inet_pton after a charset check (so an embedded NUL cannot truncate them).
//     A bare LF or a CR not followed by LF is invalid. "UNKNOWN" may be followed by anything.
//   - v2 LOCAL: the block (family, addresses, TLVs) is skipped unread, as the spec says.
//   - v2 PROXY over UDP, UNIX or UNSPEC: accepted as local=true (addresses ignored: this is a
//     TCP gateway); the length must still cover the family's address block and TLVs must parse.
//     Unknown family/transport bytes are invalid.
//   - TLVs: CRC32C (0x03) is verified when present (wrong size or value -> invalid); a repeated
//     ALPN/AUTHORITY/AWS TLV overwrites the earlier one; unknown types are skipped.
#include "ringgate/http/proxy_protocol.hpp"

#include <arpa/inet.h>

#include <array>
#include <cstring>

namespace ringgate::http {
namespace {

constexpr std::string_view kV1Sig = "PROXY ";
constexpr std::string_view kV2Sig{"\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A", 12};
constexpr std::size_t kV2HeaderBytes = 16;

constexpr ProxyResult status(ProxyStatus s) noexcept { return ProxyResult{s, 0}; }

// True if `data` and `sig` agree on their common length.
constexpr bool agrees(std::string_view data, std::string_view sig) noexcept {
  const std::size_t n = data.size() < sig.size() ? data.size() : sig.size();
  return data.substr(0, n) == sig.substr(0, n);
}

// ---- v1 -------------------------------------------------------------------------------------

bool parse_port(std::string_view s, std::uint16_t& port) noexcept {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  std::uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + std::uint32_t(c - '0');
  }
  if (v > 65535) return false;
  port = std::uint16_t(v);
  return true;
}

// Only the characters an IPv4/IPv6 literal can hold; keeps NULs and junk away from inet_pton.
bool address_chars(std::string_view s) noexcept {
  for (char c : s) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                    c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

// inet_pton on a view: copies into a NUL-terminated buffer. `bytes` gets 4 or 16 bytes.
bool parse_address(int family, std::string_view s, std::uint8_t* bytes) noexcept {
  char buf[INET6_ADDRSTRLEN];
  if (s.empty() || s.size() >= sizeof buf || !address_chars(s)) return false;
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  return inet_pton(family, buf, bytes) == 1;
}

void store_v4(sockaddr_storage& out, const std::uint8_t* addr, std::uint16_t port_host) noexcept {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port_host);
  std::memcpy(&sin.sin_addr, addr, 4);
  std::memcpy(&out, &sin, sizeof sin);
}

void store_v6(sockaddr_storage& out, const std::uint8_t* addr, std::uint16_t port_host) noexcept {
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(port_host);
  std::memcpy(&sin6.sin6_addr, addr, 16);
  std::memcpy(&out, &sin6, sizeof sin6);
}

// `line` is the text between "PROXY " and CRLF.
bool parse_v1_fields(std::string_view line, ProxyHeader& out) noexcept {
  if (line.starts_with("UNKNOWN")) {
    const std::string_view after = line.substr(7);
    if (!after.empty() && after[0] != ' ') return false;
    out.local = true;
    return true;
  }
  std::string_view f[5];
  std::size_t n = 0;
  for (;;) {
    const std::size_t sp = line.find(' ');
    if (n == 5) return false;  // a sixth field (or a trailing space)
    f[n++] = line.substr(0, sp);
    if (f[n - 1].empty()) return false;  // double or leading space
    if (sp == std::string_view::npos) break;
    line.remove_prefix(sp + 1);
  }
  if (n != 5) return false;
  int family = 0;
  if (f[0] == "TCP4") {
    family = AF_INET;
  } else if (f[0] == "TCP6") {
    family = AF_INET6;
  } else {
    return false;
  }
  std::uint8_t src[16];
  std::uint8_t dst[16];
  std::uint16_t sport = 0;
  std::uint16_t dport = 0;
  if (!parse_address(family, f[1], src) || !parse_address(family, f[2], dst) ||
      !parse_port(f[3], sport) || !parse_port(f[4], dport)) {
    return false;
  }
  if (family == AF_INET) {
    store_v4(out.source, src, sport);
    store_v4(out.destination, dst, dport);
  } else {
    store_v6(out.source, src, sport);
    store_v6(out.destination, dst, dport);
  }
  return true;
}

ProxyResult parse_v1(std::string_view data, ProxyHeader& out) noexcept {
  const std::size_t scan = data.size() < kMaxV1Bytes ? data.size() : kMaxV1Bytes;
  for (std::size_t i = kV1Sig.size(); i < scan; ++i) {
    const char c = data[i];
    if (c == '\n') return status(ProxyStatus::invalid);  // LF without CR
    if (c != '\r') continue;
    if (i + 1 >= kMaxV1Bytes) return status(ProxyStatus::too_large);
    if (i + 1 >= data.size()) return status(ProxyStatus::need_more);
    if (data[i + 1] != '\n') return status(ProxyStatus::invalid);
    out.version = 1;
    if (!parse_v1_fields(data.substr(kV1Sig.size(), i - kV1Sig.size()), out)) {
      out = ProxyHeader{};
      return status(ProxyStatus::invalid);
    }
    return ProxyResult{ProxyStatus::done, i + 2};
  }
  return status(data.size() >= kMaxV1Bytes ? ProxyStatus::too_large : ProxyStatus::need_more);
}

// ---- v2 -------------------------------------------------------------------------------------

constexpr std::array<std::uint32_t, 256> make_crc32c_table() noexcept {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<std::uint32_t, 256> kCrc32c = make_crc32c_table();

std::uint32_t crc32c_update(std::uint32_t crc, const std::uint8_t* p, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) crc = kCrc32c[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return crc;
}

std::uint16_t be16(const std::uint8_t* p) noexcept { return std::uint16_t(p[0] << 8 | p[1]); }

// CRC32C over the whole header with the checksum field read as zero (spec section 2.2.5).
bool crc_matches(const std::uint8_t* header, std::size_t total, std::size_t value_at) noexcept {
  static constexpr std::uint8_t kZero[4] = {};
  std::uint32_t crc = 0xFFFFFFFFu;
  crc = crc32c_update(crc, header, value_at);
  crc = crc32c_update(crc, kZero, 4);
  crc = crc32c_update(crc, header + value_at + 4, total - value_at - 4);
  crc ^= 0xFFFFFFFFu;
  const std::uint8_t* v = header + value_at;
  const std::uint32_t want = std::uint32_t(v[0]) << 24 | std::uint32_t(v[1]) << 16 |
                             std::uint32_t(v[2]) << 8 | std::uint32_t(v[3]);
  return crc == want;
}

// TLVs from `at` to `total` (the end of the header). False on overrun or a bad CRC32C.
bool parse_tlvs(const std::uint8_t* h, std::size_t at, std::size_t total, ProxyHeader& out) noexcept {
  while (at < total) {
    if (total - at < 3) return false;
    const std::uint8_t type = h[at];
    const std::size_t len = be16(h + at + 1);
    const std::size_t value_at = at + 3;
    if (len > total - value_at) return false;
    const std::string_view value(reinterpret_cast<const char*>(h + value_at), len);
    switch (type) {
      case 0x01: out.alpn = value; break;
      case 0x02: out.authority = value; break;
      case 0x03:
        if (len != 4 || !crc_matches(h, total, value_at)) return false;
        break;
      case 0xEA:
        if (len >= 1 && h[value_at] == 0x01) out.aws_vpce = value.substr(1);
        break;
      default: break;  // NOOP, UNIQUE_ID, SSL, NETNS and unknown types
    }
    at = value_at + len;
  }
  return true;
}

// Address block size for a PROXY command's family/transport byte; -1 when unknown.
int address_block_bytes(std::uint8_t fam) noexcept {
  switch (fam) {
    case 0x00: return 0;                // UNSPEC
    case 0x11: case 0x12: return 12;    // INET stream / dgram
    case 0x21: case 0x22: return 36;    // INET6 stream / dgram
    case 0x31: case 0x32: return 216;   // UNIX stream / dgram
    default: return -1;
  }
}

ProxyResult parse_v2(std::string_view data, ProxyHeader& out) noexcept {
  const auto* h = reinterpret_cast<const std::uint8_t*>(data.data());
  // Decide from each header byte as soon as it arrives.
  if (data.size() > 12) {
    if ((h[12] >> 4) != 2) return status(ProxyStatus::invalid);
    if ((h[12] & 0x0F) > 1) return status(ProxyStatus::invalid);
  }
  const bool local = data.size() > 12 && (h[12] & 0x0F) == 0;
  int block = 0;
  if (data.size() > 13 && !local) {
    block = address_block_bytes(h[13]);
    if (block < 0) return status(ProxyStatus::invalid);
  }
  if (data.size() < kV2HeaderBytes) return status(ProxyStatus::need_more);
  const std::size_t len = be16(h + 14);
  if (len > kMaxV2Bytes - kV2HeaderBytes) return status(ProxyStatus::too_large);
  if (len < std::size_t(block)) return status(ProxyStatus::invalid);
  const std::size_t total = kV2HeaderBytes + len;
  if (data.size() < total) return status(ProxyStatus::need_more);

  out.version = 2;
  if (local) {
    out.local = true;
    return ProxyResult{ProxyStatus::done, total};
  }
  const std::uint8_t* a = h + kV2HeaderBytes;
  if (h[13] == 0x11) {
    store_v4(out.source, a, be16(a + 8));
    store_v4(out.destination, a + 4, be16(a + 10));
  } else if (h[13] == 0x21) {
    store_v6(out.source, a, be16(a + 32));
    store_v6(out.destination, a + 16, be16(a + 34));
  } else {
    out.local = true;
  }
  if (!parse_tlvs(h, kV2HeaderBytes + std::size_t(block), total, out)) {
    out = ProxyHeader{};
    return status(ProxyStatus::invalid);
  }
  return ProxyResult{ProxyStatus::done, total};
}

}  // namespace

std::string_view proxy_status_name(ProxyStatus s) noexcept {
  switch (s) {
    case ProxyStatus::need_more: return "need_more";
    case ProxyStatus::done: return "done";
    case ProxyStatus::not_proxy: return "not_proxy";
    case ProxyStatus::invalid: return "invalid";
    case ProxyStatus::too_large: return "too_large";
  }
  return "unknown";
}

ProxyResult parse_proxy_header(std::string_view data, ProxyHeader& out) noexcept {
  out = ProxyHeader{};
  if (data.empty()) return status(ProxyStatus::need_more);
  if (agrees(data, kV1Sig)) {
    if (data.size() < kV1Sig.size()) return status(ProxyStatus::need_more);
    return parse_v1(data, out);
  }
  if (agrees(data, kV2Sig)) {
    if (data.size() < kV2Sig.size()) return status(ProxyStatus::need_more);
    return parse_v2(data, out);
  }
  return status(ProxyStatus::not_proxy);
}

// ---- CidrSet --------------------------------------------------------------------------------

namespace {

constexpr std::uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};

constexpr bool is_ws(char c) noexcept { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
  return s;
}

// Whole-byte compare, then the remaining bits of the partial byte.
bool prefix_equal(const std::uint8_t* a, const std::uint8_t* b, unsigned bits) noexcept {
  const unsigned whole = bits / 8;
  if (std::memcmp(a, b, whole) != 0) return false;
  const unsigned rest = bits % 8;
  if (rest == 0) return true;
  const std::uint8_t mask = std::uint8_t(0xFF << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

void mask_host_bits(std::uint8_t* addr, unsigned bits, unsigned total_bytes) noexcept {
  for (unsigned i = 0; i < total_bytes; ++i) {
    const unsigned start = i * 8;
    if (start >= bits) {
      addr[i] = 0;
    } else if (bits - start < 8) {
      addr[i] &= std::uint8_t(0xFF << (8 - (bits - start)));
    }
  }
}

}  // namespace

bool CidrSet::parse(std::string_view list, std::string_view& bad) noexcept {
  Net parsed[kMax];
  std::size_t n = 0;
  if (!trim(list).empty()) {
    for (;;) {
      const std::size_t comma = list.find(',');
      const std::string_view entry = trim(list.substr(0, comma));
      bad = entry.empty() ? list.substr(0, comma) : entry;
      if (entry.empty() || n == kMax) return false;
      Net net{};
      const std::size_t slash = entry.find('/');
      const std::string_view addr_text = entry.substr(0, slash);
      const bool v6 = addr_text.find(':') != std::string_view::npos;
      net.family = v6 ? AF_INET6 : AF_INET;
      if (!parse_address(net.family, addr_text, net.addr)) return false;
      unsigned max_bits = v6 ? 128 : 32;
      unsigned bits = max_bits;
      if (slash != std::string_view::npos) {
        const std::string_view p = entry.substr(slash + 1);
        if (p.empty() || p.size() > 3 || (p.size() > 1 && p[0] == '0')) return false;
        bits = 0;
        for (char c : p) {
          if (c < '0' || c > '9') return false;
          bits = bits * 10 + unsigned(c - '0');
        }
        if (bits > max_bits) return false;
      }
      mask_host_bits(net.addr, bits, max_bits / 8);
      // ::ffff:a.b.c.d/96+ is an IPv4 net in disguise: store it as one so AF_INET peers match.
      if (v6 && bits >= 96 && std::memcmp(net.addr, kMappedPrefix, 12) == 0) {
        std::memmove(net.addr, net.addr + 12, 4);
        std::memset(net.addr + 4, 0, 12);
        net.family = AF_INET;
        bits -= 96;
      }
      net.prefix = std::uint8_t(bits);
      parsed[n++] = net;
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  bad = {};
  std::memcpy(nets_, parsed, n * sizeof(Net));
  count_ = n;
  return true;
}

bool CidrSet::contains(const sockaddr* addr) const noexcept {
  if (addr == nullptr) return false;
  std::uint8_t v4[4];
  std::uint8_t v6[16];
  bool have_v4 = false;
  bool have_v6 = false;
  if (addr->sa_family == AF_INET) {
    sockaddr_in sin;
    std::memcpy(&sin, addr, sizeof sin);
    std::memcpy(v4, &sin.sin_addr, 4);
    have_v4 = true;
  } else if (addr->sa_family == AF_INET6) {
    sockaddr_in6 sin6;
    std::memcpy(&sin6, addr, sizeof sin6);
    std::memcpy(v6, &sin6.sin6_addr, 16);
    have_v6 = true;
    if (std::memcmp(v6, kMappedPrefix, 12) == 0) {
      std::memcpy(v4, v6 + 12, 4);
      have_v4 = true;
    }
  }
  for (std::size_t i = 0; i < count_; ++i) {
    const Net& net = nets_[i];
    if (net.family == AF_INET && have_v4 && prefix_equal(net.addr, v4, net.prefix)) return true;
    if (net.family == AF_INET6 && have_v6 && prefix_equal(net.addr, v6, net.prefix)) return true;
  }
  return false;
}

bool parse_ip_address(std::string_view text, sockaddr_storage& out) noexcept {
  std::uint8_t bytes[16];
  out = sockaddr_storage{};
  if (text.find(':') == std::string_view::npos) {
    if (!parse_address(AF_INET, text, bytes)) return false;
    store_v4(out, bytes, 0);
  } else {
    if (!parse_address(AF_INET6, text, bytes)) return false;
    store_v6(out, bytes, 0);
  }
  return true;
}

bool CidrSet::contains(std::string_view addr) const noexcept {
  sockaddr_storage ss;
  return parse_ip_address(addr, ss) && contains(reinterpret_cast<const sockaddr*>(&ss));
}

}  // namespace ringgate::http
