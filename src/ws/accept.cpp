// SHA-1 (FIPS 180-4) over the key and GUID, then base64. Streaming so that the key and GUID need
// not be concatenated into a buffer first.
#include "ringgate/ws/accept.hpp"

#include <algorithm>
#include <cstring>

namespace ringgate::ws {
namespace {

inline std::uint32_t rotl(std::uint32_t x, int n) noexcept { return (x << n) | (x >> (32 - n)); }

class Sha1 {
 public:
  void update(const std::uint8_t* p, std::size_t n) noexcept {
    total_bytes_ += n;
    while (n != 0) {
      const std::size_t take = std::min<std::size_t>(64 - fill_, n);
      std::memcpy(block_ + fill_, p, take);
      fill_ += take;
      p += take;
      n -= take;
      if (fill_ == 64) {
        compress(block_);
        fill_ = 0;
      }
    }
  }

  std::array<std::uint8_t, 20> finish() noexcept {
    const std::uint64_t bits = total_bytes_ * 8;
    const std::uint8_t one = 0x80;
    update(&one, 1);
    const std::uint8_t zero = 0;
    while (fill_ != 56) update(&zero, 1);
    std::uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<std::uint8_t>(bits >> (56 - 8 * i));
    update(len, 8);
    std::array<std::uint8_t, 20> out;
    for (int i = 0; i < 5; ++i) {
      for (int j = 0; j < 4; ++j) out[4 * i + j] = static_cast<std::uint8_t>(h_[i] >> (24 - 8 * j));
    }
    return out;
  }

 private:
  void compress(const std::uint8_t* b) noexcept {
    std::uint32_t w[80];
    for (int i = 0; i < 16; ++i) {
      w[i] = (std::uint32_t{b[4 * i]} << 24) | (std::uint32_t{b[4 * i + 1]} << 16) |
             (std::uint32_t{b[4 * i + 2]} << 8) | std::uint32_t{b[4 * i + 3]};
    }
    for (int i = 16; i < 80; ++i) w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    std::uint32_t a = h_[0], b2 = h_[1], c = h_[2], d = h_[3], e = h_[4];
    for (int i = 0; i < 80; ++i) {
      std::uint32_t f, k;
      if (i < 20) {
        f = (b2 & c) | (~b2 & d);
        k = 0x5A827999;
      } else if (i < 40) {
        f = b2 ^ c ^ d;
        k = 0x6ED9EBA1;
      } else if (i < 60) {
        f = (b2 & c) | (b2 & d) | (c & d);
        k = 0x8F1BBCDC;
      } else {
        f = b2 ^ c ^ d;
        k = 0xCA62C1D6;
      }
      const std::uint32_t t = rotl(a, 5) + f + e + k + w[i];
      e = d;
      d = c;
      c = rotl(b2, 30);
      b2 = a;
      a = t;
    }
    h_[0] += a;
    h_[1] += b2;
    h_[2] += c;
    h_[3] += d;
    h_[4] += e;
  }

  std::uint32_t h_[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  std::uint8_t block_[64];
  std::size_t fill_ = 0;
  std::uint64_t total_bytes_ = 0;
};

}  // namespace

std::size_t base64_encode(const std::uint8_t* in, std::size_t n, char* out) noexcept {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char* o = out;
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const std::uint32_t v = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8) | in[i + 2];
    *o++ = kAlphabet[v >> 18];
    *o++ = kAlphabet[(v >> 12) & 63];
    *o++ = kAlphabet[(v >> 6) & 63];
    *o++ = kAlphabet[v & 63];
  }
  if (i < n) {
    const bool two = n - i == 2;
    const std::uint32_t v = (std::uint32_t{in[i]} << 16) | (two ? std::uint32_t{in[i + 1]} << 8 : 0);
    *o++ = kAlphabet[v >> 18];
    *o++ = kAlphabet[(v >> 12) & 63];
    *o++ = two ? kAlphabet[(v >> 6) & 63] : '=';
    *o++ = '=';
  }
  return static_cast<std::size_t>(o - out);
}

std::array<char, 28> accept_key(std::string_view client_key) noexcept {
  Sha1 sha;
  sha.update(reinterpret_cast<const std::uint8_t*>(client_key.data()), client_key.size());
  sha.update(reinterpret_cast<const std::uint8_t*>(kGuid.data()), kGuid.size());
  const std::array<std::uint8_t, 20> digest = sha.finish();
  std::array<char, 28> out;
  base64_encode(digest.data(), digest.size(), out.data());
  return out;
}

}  // namespace ringgate::ws
