// Sec-WebSocket-Accept: the RFC 6455 §1.3 example, SHA-1 padding boundaries (expected values
// computed with Python's hashlib), and the RFC 4648 base64 vectors.
#include "ringgate/ws/accept.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ringgate::ws {
namespace {

std::string accept_str(std::string_view key) {
  const auto a = accept_key(key);
  return std::string(a.data(), a.size());
}

TEST(WsAccept, Rfc6455Example) {
  EXPECT_EQ(accept_str("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WsAccept, Sha1BlockBoundaries) {
  // key + GUID (36 bytes) totals 55, 56, 63, 64 and 128 bytes: the padding edge cases.
  const std::pair<std::size_t, const char*> cases[] = {{0, "Kfh9QIsMVZcl6xEPYxPHzW8SZ8w="},
                                                       {19, "e5nfl7ayxOkM7i0NSGMv++0gU/w="},
                                                       {20, "AsD5pA85sKFU9jjywWADP+ER30s="},
                                                       {27, "rATCTJDiU5qTCEyzPV/GaCbPL9I="},
                                                       {28, "mUa44PUS+oPbzVDw4aabEEiHDgc="},
                                                       {92, "wTiInu6GEAaq4z5PzWJwyeAPq4o="}};
  for (const auto& [n, want] : cases) {
    std::string key;
    for (std::size_t i = 0; i < n; ++i) key.push_back(static_cast<char>('a' + i % 26));
    EXPECT_EQ(accept_str(key), want) << n;
  }
  EXPECT_NE(accept_str("dGhlIHNhbXBsZSBub25jZQ=="), accept_str("dGhlIHNhbXBsZSBub25jZR=="));
}

TEST(WsAccept, Base64Rfc4648Vectors) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [in, want] : cases) {
    char out[16] = {};
    const std::size_t n = base64_encode(reinterpret_cast<const std::uint8_t*>(in.data()), in.size(), out);
    EXPECT_EQ(std::string_view(out, n), want) << in;
  }
  const std::uint8_t high[3] = {0xFB, 0xFF, 0xBF};
  char out[4];
  ASSERT_EQ(base64_encode(high, 3, out), 4u);
  EXPECT_EQ(std::string_view(out, 4), "+/+/");
}

}  // namespace
}  // namespace ringgate::ws
