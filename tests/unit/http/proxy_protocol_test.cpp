// PROXY protocol v1/v2 parsing (every valid form, every split point, each refusal) and the CIDR
// set behind --trusted-proxies. Inputs are copied into exact-size heap blocks so ASan catches any
// read past the bytes "received".
#include "ringgate/http/proxy_protocol.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>

namespace ringgate::http {
namespace {

using namespace std::string_literals;

const std::string kV2Sig("\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A", 12);
const std::string kTail = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";

struct Parsed {
  ProxyResult r;
  ProxyHeader h;
};

// Parses from an exact-size copy. Views in `h` point into the copy, so compare them before the
// next call (each Parsed keeps its own copy alive).
struct Parser {
  std::unique_ptr<char[]> buf;
  Parsed run(const std::string& bytes) {
    buf.reset(new char[bytes.size() + 1]);
    std::memcpy(buf.get(), bytes.data(), bytes.size());
    Parsed p;
    p.r = parse_proxy_header(std::string_view(buf.get(), bytes.size()), p.h);
    return p;
  }
};

ProxyStatus status_of(const std::string& bytes) {
  Parser p;
  return p.run(bytes).r.status;
}

std::string v4_text(const sockaddr_storage& ss) {
  if (ss.ss_family != AF_INET) return "family " + std::to_string(ss.ss_family);
  sockaddr_in sin;
  std::memcpy(&sin, &ss, sizeof sin);
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &sin.sin_addr, buf, sizeof buf);
  return std::string(buf) + ":" + std::to_string(ntohs(sin.sin_port));
}

std::string v6_text(const sockaddr_storage& ss) {
  if (ss.ss_family != AF_INET6) return "family " + std::to_string(ss.ss_family);
  sockaddr_in6 sin6;
  std::memcpy(&sin6, &ss, sizeof sin6);
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, &sin6.sin6_addr, buf, sizeof buf);
  return "[" + std::string(buf) + "]:" + std::to_string(ntohs(sin6.sin6_port));
}

// ---- v2 builders ----------------------------------------------------------------------------

std::string be16(std::size_t v) { return std::string{char(v >> 8), char(v & 0xFF)}; }

std::string tlv(std::uint8_t type, const std::string& value) {
  return std::string(1, char(type)) + be16(value.size()) + value;
}

std::string v2(std::uint8_t ver_cmd, std::uint8_t fam, const std::string& body) {
  return kV2Sig + char(ver_cmd) + char(fam) + be16(body.size()) + body;
}

std::string v2_len(std::uint8_t ver_cmd, std::uint8_t fam, std::size_t len, const std::string& body) {
  return kV2Sig + char(ver_cmd) + char(fam) + be16(len) + body;
}

const std::string kV4Block = "\xC0\xA8\x00\x01"s "\x0A\x00\x00\x02"s "\xDC\x04"s "\x01\xBB"s;  // 192.168.0.1:56324 -> 10.0.0.2:443

std::string v6_block() {
  std::string b;
  b += "\x20\x01\x0d\xb8"s + std::string(11, '\0') + "\x01"s;  // 2001:db8::1
  b += std::string(15, '\0') + "\x01"s;                        // ::1
  b += "\x30\x39"s + "\x00\x50"s;                              // 12345 -> 80
  return b;
}

// Independent bitwise CRC32C (Castagnoli, reflected) for building checksummed headers.
std::uint32_t crc32c_bitwise(const std::string& s) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : s) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return crc ^ 0xFFFFFFFFu;
}

// A v4 PROXY header whose last TLV is a CRC32C over the whole header (checksum zeroed).
std::string v2_with_crc(const std::string& tlvs_before) {
  std::string h = v2(0x21, 0x11, kV4Block + tlvs_before + tlv(0x03, std::string(4, '\0')));
  const std::uint32_t crc = crc32c_bitwise(h);
  const std::size_t at = h.size() - 4;
  h[at] = char(crc >> 24);
  h[at + 1] = char(crc >> 16);
  h[at + 2] = char(crc >> 8);
  h[at + 3] = char(crc);
  return h;
}

TEST(ProxyProtocol, StatusNames) {
  EXPECT_EQ(proxy_status_name(ProxyStatus::need_more), "need_more");
  EXPECT_EQ(proxy_status_name(ProxyStatus::done), "done");
  EXPECT_EQ(proxy_status_name(ProxyStatus::not_proxy), "not_proxy");
  EXPECT_EQ(proxy_status_name(ProxyStatus::invalid), "invalid");
  EXPECT_EQ(proxy_status_name(ProxyStatus::too_large), "too_large");
}

// ---- v1 -------------------------------------------------------------------------------------

TEST(ProxyV1, Tcp4) {
  const std::string line = "PROXY TCP4 192.168.0.1 10.0.0.2 56324 443\r\n";
  Parser p;
  const Parsed o = p.run(line + kTail);
  ASSERT_EQ(o.r.status, ProxyStatus::done);
  EXPECT_EQ(o.r.consumed, line.size());
  EXPECT_EQ(o.h.version, 1);
  EXPECT_FALSE(o.h.local);
  EXPECT_EQ(v4_text(o.h.source), "192.168.0.1:56324");
  EXPECT_EQ(v4_text(o.h.destination), "10.0.0.2:443");
  EXPECT_TRUE(o.h.alpn.empty() && o.h.authority.empty() && o.h.aws_vpce.empty());
}

TEST(ProxyV1, Tcp6AndPortBounds) {
  const std::string line = "PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 0 65535\r\n";
  Parser p;
  const Parsed o = p.run(line);
  ASSERT_EQ(o.r.status, ProxyStatus::done);
  EXPECT_EQ(o.r.consumed, line.size());
  EXPECT_EQ(v6_text(o.h.source), "[2001:db8::1]:0");
  EXPECT_EQ(v6_text(o.h.destination), "[::ffff:10.0.0.1]:65535");
}

TEST(ProxyV1, LongestTcp6Line) {
  const std::string a = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  const std::string line = "PROXY TCP6 " + a + " " + a + " 65535 65535\r\n";
  EXPECT_EQ(status_of(line), ProxyStatus::done);
}

TEST(ProxyV1, Unknown) {
  Parser p;
  Parsed o = p.run("PROXY UNKNOWN\r\nxyz");
  ASSERT_EQ(o.r.status, ProxyStatus::done);
  EXPECT_EQ(o.r.consumed, 15u);
  EXPECT_TRUE(o.h.local);
  EXPECT_EQ(o.h.version, 1);
  EXPECT_EQ(o.h.source.ss_family, AF_UNSPEC);

  // The rest of the line is ignored, whatever it holds.
  o = p.run("PROXY UNKNOWN ffff::1 whatever 1 2\r\n");
  ASSERT_EQ(o.r.status, ProxyStatus::done);
  EXPECT_TRUE(o.h.local);

  EXPECT_EQ(status_of("PROXY UNKNOWNX\r\n"), ProxyStatus::invalid);
}

TEST(ProxyV1, LengthLimitIs107WithCrlf) {
  const std::string at_limit = "PROXY UNKNOWN " + std::string(107 - 14 - 2, 'x') + "\r\n";
  ASSERT_EQ(at_limit.size(), kMaxV1Bytes);
  Parser p;
  const Parsed o = p.run(at_limit);
  EXPECT_EQ(o.r.status, ProxyStatus::done);
  EXPECT_EQ(o.r.consumed, kMaxV1Bytes);

  const std::string over = "PROXY UNKNOWN " + std::string(107 - 14 - 1, 'x') + "\r\n";
  EXPECT_EQ(status_of(over), ProxyStatus::too_large);
  EXPECT_EQ(status_of(over.substr(0, 107)), ProxyStatus::too_large);  // CR is byte 107: no room for LF

  const std::string no_crlf = "PROXY TCP4 " + std::string(200, '1');
  EXPECT_EQ(status_of(no_crlf.substr(0, 106)), ProxyStatus::need_more);
  EXPECT_EQ(status_of(no_crlf.substr(0, 107)), ProxyStatus::too_large);
  EXPECT_EQ(status_of(no_crlf), ProxyStatus::too_large);
}

TEST(ProxyV1, RejectsMalformedLines) {
  const char* bad[] = {
      "PROXY TCP4 1.2.3.4 5.6.7.8 65536 80\r\n",   // port out of range
      "PROXY TCP4 1.2.3.4 5.6.7.8 80 99999\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 123456 80\r\n",  // six digits
      "PROXY TCP4 1.2.3.4 5.6.7.8 +80 80\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 -1 80\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 080 80\r\n",     // leading zero
      "PROXY TCP4 1.2.3.4 5.6.7.8 8a 80\r\n",
      "PROXY TCP4 ::1 ::1 1 2\r\n",                // TCP4 with IPv6 addresses
      "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",        // TCP6 with IPv4 addresses
      "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
      "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
      "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",       // zone ids are not addresses
      "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",       // double spaces
      "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",       // trailing space
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",      // extra field
      "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",          // missing field
      "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",          // bare LF
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX\n",       // CR not followed by LF
      "PROXY \r\n",
  };
  for (const char* line : bad) EXPECT_EQ(status_of(line), ProxyStatus::invalid) << line;

  // An embedded NUL must not cut the address short for inet_pton.
  EXPECT_EQ(status_of("PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n"s), ProxyStatus::invalid);
  EXPECT_EQ(status_of("PROXY TCP4 1.2.3.4\0.9 5.6.7.8 1 2\r\n"s), ProxyStatus::invalid);
}

TEST(ProxyV1, InvalidIsDecidedAtTheBadLineEnd) {
  // A bare LF is refused without waiting for more bytes.
  EXPECT_EQ(status_of("PROXY TCP4\n"), ProxyStatus::invalid);
  EXPECT_EQ(status_of("PROXY TCP4 1.2.3.4\r"), ProxyStatus::need_more);
  EXPECT_EQ(status_of("PROXY TCP4 1.2.3.4\rx"), ProxyStatus::invalid);
}

// ---- detection ------------------------------------------------------------------------------

TEST(ProxyDetect, NotProxyFromTheFirstDivergingByte) {
  EXPECT_EQ(status_of(""), ProxyStatus::need_more);
  EXPECT_EQ(status_of("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"s), ProxyStatus::not_proxy);
  EXPECT_EQ(status_of("\x16"), ProxyStatus::not_proxy);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\n"), ProxyStatus::not_proxy);
  EXPECT_EQ(status_of("G"), ProxyStatus::not_proxy);
  EXPECT_EQ(status_of("P"), ProxyStatus::need_more);
  EXPECT_EQ(status_of("PO"), ProxyStatus::not_proxy);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\n"), ProxyStatus::not_proxy);
  EXPECT_EQ(status_of("PROX"), ProxyStatus::need_more);
  EXPECT_EQ(status_of("PROXY"), ProxyStatus::need_more);
  EXPECT_EQ(status_of("PROXZ"), ProxyStatus::not_proxy);
  EXPECT_EQ(status_of("PROXY\t"), ProxyStatus::not_proxy);
  EXPECT_EQ(status_of("proxy "), ProxyStatus::not_proxy);
  EXPECT_EQ(status_of("PROXY "), ProxyStatus::need_more);
  // v2 signature prefixes; "\r\n\r\n" then a request line is an HTTP client's leading CRLFs.
  for (std::size_t k = 1; k < 12; ++k) EXPECT_EQ(status_of(kV2Sig.substr(0, k)), ProxyStatus::need_more) << k;
  EXPECT_EQ(status_of("\r\n\r\nGET / HTTP/1.1\r\n"), ProxyStatus::not_proxy);
  EXPECT_EQ(status_of(kV2Sig.substr(0, 11) + "X"), ProxyStatus::not_proxy);
  EXPECT_EQ(status_of("\r\n\r\n\x00\r\nQUIX"s), ProxyStatus::not_proxy);
}

// ---- v2 -------------------------------------------------------------------------------------

TEST(ProxyV2, ProxyIpv4WithTlvs) {
  const std::string h = v2(0x21, 0x11,
                           kV4Block + tlv(0x04, "pad") + tlv(0x01, "h2") + tlv(0x02, "example.com") +
                               tlv(0xEA, "\x01vpce-0123456789abcdef") + tlv(0xEA, "\x02other") +
                               tlv(0x20, std::string(5, '\x07')) + tlv(0x77, ""));
  Parser p;
  const Parsed o = p.run(h + kTail);
  ASSERT_EQ(o.r.status, ProxyStatus::done);
  EXPECT_EQ(o.r.consumed, h.size());
  EXPECT_EQ(o.h.version, 2);
  EXPECT_FALSE(o.h.local);
  EXPECT_EQ(v4_text(o.h.source), "192.168.0.1:56324");
  EXPECT_EQ(v4_text(o.h.destination), "10.0.0.2:443");
  EXPECT_EQ(o.h.alpn, "h2");
  EXPECT_EQ(o.h.authority, "example.com");
  EXPECT_EQ(o.h.aws_vpce, "vpce-0123456789abcdef");
  // Views point into the parsed bytes.
  EXPECT_GE(o.h.alpn.data(), p.buf.get());
  EXPECT_LE(o.h.aws_vpce.data() + o.h.aws_vpce.size(), p.buf.get() + h.size());
}

TEST(ProxyV2, ProxyIpv6) {
  const std::string h = v2(0x21, 0x21, v6_block() + tlv(0x02, "ws.example"));
  Parser p;
  const Parsed o = p.run(h);
  ASSERT_EQ(o.r.status, ProxyStatus::done);
  EXPECT_EQ(o.r.consumed, h.size());
  EXPECT_FALSE(o.h.local);
  EXPECT_EQ(v6_text(o.h.source), "[2001:db8::1]:12345");
  EXPECT_EQ(v6_text(o.h.destination), "[::1]:80");
  EXPECT_EQ(o.h.authority, "ws.example");
}

TEST(ProxyV2, LocalSkipsTheBlock) {
  Parser p;
  Parsed o = p.run(v2(0x20, 0x00, "") + "x");
  ASSERT_EQ(o.r.status, ProxyStatus::done);
  EXPECT_EQ(o.r.consumed, 16u);
  EXPECT_TRUE(o.h.local);
  EXPECT_EQ(o.h.source.ss_family, AF_UNSPEC);

  // LOCAL ignores the family and whatever the block holds (here a TLV that would overrun).
  const std::string h = v2(0x20, 0x11, kV4Block + "\x01\xFF\xFF"s);
  o = p.run(h);
  ASSERT_EQ(o.r.status, ProxyStatus::done);
  EXPECT_EQ(o.r.consumed, h.size());
  EXPECT_TRUE(o.h.local);
  EXPECT_EQ(o.h.source.ss_family, AF_UNSPEC);
  EXPECT_TRUE(o.h.alpn.empty());
  EXPECT_EQ(status_of(v2(0x20, 0xFF, "abc")), ProxyStatus::done);
}

TEST(ProxyV2, UdpUnixUnspecAreLocal) {
  struct Case {
    std::uint8_t fam;
    std::size_t block;
  } cases[] = {{0x00, 0}, {0x12, 12}, {0x22, 36}, {0x31, 216}, {0x32, 216}};
  for (const Case& c : cases) {
    const std::string h = v2(0x21, c.fam, std::string(c.block, '\x01') + tlv(0x01, "x"));
    Parser p;
    const Parsed o = p.run(h);
    ASSERT_EQ(o.r.status, ProxyStatus::done) << int(c.fam);
    EXPECT_EQ(o.r.consumed, h.size());
    EXPECT_TRUE(o.h.local);
    EXPECT_EQ(o.h.source.ss_family, AF_UNSPEC);
    EXPECT_EQ(o.h.alpn, "x");
    if (c.block > 0) {
      EXPECT_EQ(status_of(v2(0x21, c.fam, std::string(c.block - 1, '\x01'))), ProxyStatus::invalid);
    }
  }
}

TEST(ProxyV2, BadVersionCommandFamilyDecidedEarly) {
  // Decided from byte 13 / 14 alone.
  EXPECT_EQ(status_of(kV2Sig + "\x11"), ProxyStatus::invalid);  // version 1
  EXPECT_EQ(status_of(kV2Sig + "\x31"), ProxyStatus::invalid);  // version 3
  EXPECT_EQ(status_of(kV2Sig + "\x01"), ProxyStatus::invalid);  // version 0
  EXPECT_EQ(status_of(kV2Sig + "\x22"), ProxyStatus::invalid);  // command 2
  EXPECT_EQ(status_of(kV2Sig + "\x2F"), ProxyStatus::invalid);
  EXPECT_EQ(status_of(kV2Sig + "\x21"), ProxyStatus::need_more);
  EXPECT_EQ(status_of(kV2Sig + "\x21\x13"), ProxyStatus::invalid);  // INET + transport 3
  EXPECT_EQ(status_of(kV2Sig + "\x21\x10"), ProxyStatus::invalid);  // INET + UNSPEC transport
  EXPECT_EQ(status_of(kV2Sig + "\x21\x41"), ProxyStatus::invalid);  // family 4
  EXPECT_EQ(status_of(kV2Sig + "\x21\x11"), ProxyStatus::need_more);
  // Full headers too.
  EXPECT_EQ(status_of(v2(0x11, 0x11, kV4Block)), ProxyStatus::invalid);
  EXPECT_EQ(status_of(v2(0x23, 0x11, kV4Block)), ProxyStatus::invalid);
}

TEST(ProxyV2, LengthMustCoverTheAddressBlock) {
  EXPECT_EQ(status_of(v2_len(0x21, 0x11, 11, "")), ProxyStatus::invalid);  // decided at byte 16
  EXPECT_EQ(status_of(v2(0x21, 0x11, kV4Block.substr(0, 11))), ProxyStatus::invalid);
  EXPECT_EQ(status_of(v2(0x21, 0x21, v6_block().substr(0, 35))), ProxyStatus::invalid);
  EXPECT_EQ(status_of(v2(0x21, 0x21, kV4Block)), ProxyStatus::invalid);  // v4-sized block for INET6
  EXPECT_EQ(status_of(v2_len(0x21, 0x11, 12, "")), ProxyStatus::need_more);
}

TEST(ProxyV2, TlvOverrunIsInvalid) {
  // Value runs past the end.
  EXPECT_EQ(status_of(v2(0x21, 0x11, kV4Block + "\x01\x00\x05" "abcd"s)), ProxyStatus::invalid);
  // Fewer than 3 bytes left for a TLV header.
  EXPECT_EQ(status_of(v2(0x21, 0x11, kV4Block + "\x01\x00"s)), ProxyStatus::invalid);
  EXPECT_EQ(status_of(v2(0x21, 0x11, kV4Block + "\x04"s)), ProxyStatus::invalid);
  // A good TLV then an overrunning one: the good one must not leak out.
  Parser p;
  const Parsed o = p.run(v2(0x21, 0x11, kV4Block + tlv(0x01, "h2") + "\x02\x00\x09xx"s));
  EXPECT_EQ(o.r.status, ProxyStatus::invalid);
  EXPECT_TRUE(o.h.alpn.empty());
  EXPECT_EQ(o.h.source.ss_family, AF_UNSPEC);
  // Zero-length TLVs and an exact fit are fine.
  EXPECT_EQ(status_of(v2(0x21, 0x11, kV4Block + tlv(0x04, "") + tlv(0x01, "abcd"))), ProxyStatus::done);
}

TEST(ProxyV2, Crc32cVerified) {
  const std::string good = v2_with_crc(tlv(0x02, "example.com"));
  Parser p;
  const Parsed o = p.run(good);
  ASSERT_EQ(o.r.status, ProxyStatus::done);
  EXPECT_EQ(o.h.authority, "example.com");

  std::string flipped = good;
  flipped[20] ^= 0x01;  // an address byte
  EXPECT_EQ(status_of(flipped), ProxyStatus::invalid);
  std::string bad_crc = good;
  bad_crc.back() ^= 0x80;
  EXPECT_EQ(status_of(bad_crc), ProxyStatus::invalid);
  EXPECT_EQ(status_of(v2(0x21, 0x11, kV4Block + tlv(0x03, "abc"))), ProxyStatus::invalid);  // size != 4
  // Sanity of the test's own CRC: the standard check value.
  EXPECT_EQ(crc32c_bitwise("123456789"), 0xE3069283u);
}

TEST(ProxyV2, TooLargeDecidedFromTheHeader) {
  const std::size_t max_len = kMaxV2Bytes - 16;
  EXPECT_EQ(status_of(v2_len(0x21, 0x11, max_len + 1, "")), ProxyStatus::too_large);
  EXPECT_EQ(status_of(v2_len(0x21, 0x11, 0xFFFF, "")), ProxyStatus::too_large);
  EXPECT_EQ(status_of(v2_len(0x20, 0x00, max_len + 1, "")), ProxyStatus::too_large);  // LOCAL too
  // Exactly at the limit: waits, then parses.
  const std::string body = kV4Block + tlv(0x04, std::string(max_len - 12 - 3, 'n'));
  const std::string h = v2(0x21, 0x11, body);
  ASSERT_EQ(h.size(), kMaxV2Bytes);
  EXPECT_EQ(status_of(h.substr(0, h.size() - 1)), ProxyStatus::need_more);
  Parser p;
  const Parsed o = p.run(h);
  EXPECT_EQ(o.r.status, ProxyStatus::done);
  EXPECT_EQ(o.r.consumed, kMaxV2Bytes);
}

// ---- every split point ----------------------------------------------------------------------

TEST(ProxySplit, EveryPrefixNeedsMoreThenDoneWithExactCount) {
  const std::string headers[] = {
      "PROXY TCP4 192.168.0.1 10.0.0.2 56324 443\r\n",
      "PROXY TCP6 2001:db8::1 ::1 12345 80\r\n",
      "PROXY UNKNOWN\r\n",
      "PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n",
      v2(0x21, 0x11, kV4Block + tlv(0x01, "http/1.1") + tlv(0xEA, "\x01vpce-1")),
      v2(0x21, 0x21, v6_block() + tlv(0x02, "a.example")),
      v2(0x20, 0x00, ""),
      v2(0x20, 0x21, v6_block()),
      v2_with_crc(tlv(0x01, "h2")),
  };
  const std::string tails[] = {"", kTail, "\x16\x03\x01"s, "PROXY TCP4 9.9.9.9 9.9.9.9 9 9\r\n"};
  for (const std::string& h : headers) {
    for (std::size_t k = 0; k < h.size(); ++k) {
      ASSERT_EQ(status_of(h.substr(0, k)), ProxyStatus::need_more) << k << " of " << h.size();
    }
    for (const std::string& tail : tails) {
      for (std::size_t extra = 0; extra <= tail.size(); ++extra) {
        const std::string bytes = h + tail.substr(0, extra);
        Parser p;
        const Parsed o = p.run(bytes);
        ASSERT_EQ(o.r.status, ProxyStatus::done) << extra;
        ASSERT_EQ(o.r.consumed, h.size());
        // The bytes after the header are left for the next layer, unread and unchanged.
        ASSERT_EQ(std::string(p.buf.get() + o.r.consumed, bytes.size() - o.r.consumed),
                  tail.substr(0, extra));
      }
    }
  }
}

// ---- CidrSet --------------------------------------------------------------------------------

sockaddr_storage addr(const char* text) {
  sockaddr_storage ss{};
  sockaddr_in sin{};
  sockaddr_in6 sin6{};
  if (inet_pton(AF_INET, text, &sin.sin_addr) == 1) {
    sin.sin_family = AF_INET;
    std::memcpy(&ss, &sin, sizeof sin);
  } else if (inet_pton(AF_INET6, text, &sin6.sin6_addr) == 1) {
    sin6.sin6_family = AF_INET6;
    std::memcpy(&ss, &sin6, sizeof sin6);
  } else {
    ADD_FAILURE() << "bad test address " << text;
  }
  return ss;
}

bool has(const CidrSet& set, const char* text) {
  const sockaddr_storage ss = addr(text);
  return set.contains(reinterpret_cast<const sockaddr*>(&ss));
}

TEST(CidrSet, ParsesAndMatches) {
  CidrSet set;
  EXPECT_TRUE(set.empty());
  std::string_view bad = "untouched";
  ASSERT_TRUE(set.parse("10.0.0.0/8,192.168.1.7,::1/128, 2001:db8::/32", bad));
  EXPECT_TRUE(bad.empty());
  EXPECT_FALSE(set.empty());
  EXPECT_TRUE(has(set, "10.0.0.0"));
  EXPECT_TRUE(has(set, "10.255.255.255"));
  EXPECT_FALSE(has(set, "11.0.0.0"));
  EXPECT_FALSE(has(set, "9.255.255.255"));
  EXPECT_TRUE(has(set, "192.168.1.7"));
  EXPECT_FALSE(has(set, "192.168.1.8"));
  EXPECT_FALSE(has(set, "192.168.1.6"));
  EXPECT_TRUE(has(set, "::1"));
  EXPECT_FALSE(has(set, "::2"));
  EXPECT_TRUE(has(set, "2001:db8:ffff::5"));
  EXPECT_FALSE(has(set, "2001:db9::"));
  // IPv4-mapped peers (dual-stack sockets) match IPv4 nets.
  EXPECT_TRUE(has(set, "::ffff:10.1.2.3"));
  EXPECT_TRUE(has(set, "::ffff:192.168.1.7"));
  EXPECT_FALSE(has(set, "::ffff:11.1.2.3"));
  // ...but an IPv4 net does not match an IPv6 address with the same low bytes.
  EXPECT_FALSE(has(set, "::10.1.2.3"));
  EXPECT_FALSE(set.contains(nullptr));
  sockaddr_storage unix_addr{};
  unix_addr.ss_family = AF_UNIX;
  EXPECT_FALSE(set.contains(reinterpret_cast<const sockaddr*>(&unix_addr)));
}

TEST(CidrSet, PrefixEdges) {
  CidrSet set;
  std::string_view bad;
  ASSERT_TRUE(set.parse("0.0.0.0/0", bad));
  EXPECT_TRUE(has(set, "1.2.3.4"));
  EXPECT_TRUE(has(set, "255.255.255.255"));
  EXPECT_TRUE(has(set, "::ffff:8.8.8.8"));
  EXPECT_FALSE(has(set, "::1"));

  ASSERT_TRUE(set.parse("::/0", bad));
  EXPECT_TRUE(has(set, "::1"));
  EXPECT_TRUE(has(set, "ffff::"));
  EXPECT_FALSE(has(set, "1.2.3.4"));

  // Partial-byte prefixes; host bits beyond the prefix are masked off.
  ASSERT_TRUE(set.parse("172.16.5.5/12\t, fe80::1/10", bad));
  EXPECT_TRUE(has(set, "172.16.0.0"));
  EXPECT_TRUE(has(set, "172.31.255.255"));
  EXPECT_FALSE(has(set, "172.32.0.0"));
  EXPECT_FALSE(has(set, "172.15.255.255"));
  EXPECT_TRUE(has(set, "febf::1"));
  EXPECT_FALSE(has(set, "fec0::1"));

  // A mapped-IPv6 net is an IPv4 net: it matches AF_INET peers too.
  ASSERT_TRUE(set.parse("::ffff:10.0.0.0/104", bad));
  EXPECT_TRUE(has(set, "10.9.9.9"));
  EXPECT_TRUE(has(set, "::ffff:10.9.9.9"));
  EXPECT_FALSE(has(set, "11.0.0.0"));

  ASSERT_TRUE(set.parse("1.2.3.4/32,::1/128", bad));
  EXPECT_TRUE(has(set, "1.2.3.4"));
  EXPECT_FALSE(has(set, "1.2.3.5"));
}

TEST(CidrSet, RejectsBadEntriesAndKeepsTheOldSet) {
  CidrSet set;
  std::string_view bad;
  ASSERT_TRUE(set.parse("10.0.0.0/8", bad));
  struct Case {
    const char* list;
    const char* bad;
  } cases[] = {
      {"10.0.0.0/33", "10.0.0.0/33"},
      {"::1/129", "::1/129"},
      {"1.2.3.4/", "1.2.3.4/"},
      {"1.2.3.4/-1", "1.2.3.4/-1"},
      {"1.2.3.4/+8", "1.2.3.4/+8"},
      {"1.2.3.4/08", "1.2.3.4/08"},
      {"1.2.3.4/1000", "1.2.3.4/1000"},
      {"1.2.3.4/8/8", "1.2.3.4/8/8"},
      {"1.2.3.4 /8", "1.2.3.4 /8"},
      {"host.example", "host.example"},
      {"1.2.3", "1.2.3"},
      {"1.2.3.4, bogus ,5.6.7.8", "bogus"},
      {"1.2.3.4,,5.6.7.8", ""},
      {"1.2.3.4,", ""},
      {"fe80::1%eth0", "fe80::1%eth0"},
  };
  for (const Case& c : cases) {
    bad = {};
    EXPECT_FALSE(set.parse(c.list, bad)) << c.list;
    EXPECT_EQ(bad, c.bad) << c.list;
    EXPECT_TRUE(has(set, "10.1.1.1")) << c.list;  // unchanged
  }
  // An empty list clears the set.
  EXPECT_TRUE(set.parse("  ", bad));
  EXPECT_TRUE(set.empty());
  EXPECT_FALSE(has(set, "10.1.1.1"));
}

TEST(CidrSet, AtMostKMaxEntries) {
  std::string list;
  for (std::size_t i = 0; i < CidrSet::kMax; ++i) list += (i ? "," : "") + ("10.0." + std::to_string(i) + ".0/24");
  CidrSet set;
  std::string_view bad;
  ASSERT_TRUE(set.parse(list, bad));
  EXPECT_TRUE(has(set, "10.0.63.9"));
  EXPECT_FALSE(has(set, "10.0.64.9"));
  const std::string over = list + ",10.0.64.0/24";
  EXPECT_FALSE(set.parse(over, bad));
  EXPECT_EQ(bad, "10.0.64.0/24");
  EXPECT_TRUE(has(set, "10.0.63.9"));
}

}  // namespace
}  // namespace ringgate::http
