// UTF-8 validation. The streaming validator splits every piece into three parts: the completion
// of a sequence left over from the previous piece (checked byte by byte), the bulk up to the last
// sequence boundary (SIMD), and a cut-off sequence at the end, which is checked as a prefix and kept.
#include "ringgate/ws/utf8.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cstring>

namespace ringgate::ws {
namespace {

// simdjson costs ~15 ns per call before it looks at a byte (measured on this host), while the
// scalar loop skips ASCII at ~8 B/ns but decodes multi-byte text at only ~0.6 B/ns. So: long inputs
// go straight to SIMD; short ones skip their ASCII head in scalar and hand a non-ASCII rest of
// kSimdMinBytes or more to SIMD.
constexpr std::size_t kSimdAlwaysBytes = 128;
constexpr std::size_t kSimdMinBytes = 32;

// Total length of the sequence introduced by a lead byte; 0 when b cannot start a sequence
// (continuation bytes, C0/C1 which only encode overlongs, F5..FF beyond U+10FFFF).
inline std::size_t sequence_length(std::uint8_t b) noexcept {
  if (b < 0x80) return 1;
  if (b < 0xC2) return 0;
  if (b < 0xE0) return 2;
  if (b < 0xF0) return 3;
  if (b < 0xF5) return 4;
  return 0;
}

// Table 3-7: the second byte's range depends on the lead byte; it excludes overlongs (E0, F0),
// surrogates (ED) and code points above U+10FFFF (F4). Later bytes are always 80..BF.
inline bool second_byte_ok(std::uint8_t lead, std::uint8_t b) noexcept {
  switch (lead) {
    case 0xE0: return b >= 0xA0 && b <= 0xBF;
    case 0xED: return b >= 0x80 && b <= 0x9F;
    case 0xF0: return b >= 0x90 && b <= 0xBF;
    case 0xF4: return b >= 0x80 && b <= 0x8F;
    default: return b >= 0x80 && b <= 0xBF;
  }
}

inline bool is_continuation(std::uint8_t b) noexcept { return (b & 0xC0) == 0x80; }

// True when b[0..len) is a valid multi-byte sequence or a valid beginning of one.
bool valid_prefix(const std::uint8_t* b, std::size_t len) noexcept {
  const std::size_t need = sequence_length(b[0]);
  if (need < 2 || len > need) return false;
  if (len >= 2 && !second_byte_ok(b[0], b[1])) return false;
  for (std::size_t i = 2; i < len; ++i) {
    if (!is_continuation(b[i])) return false;
  }
  return true;
}

// Start of a multi-byte sequence that the end of p[0..n) cuts off, or n if there is none.
// Anything malformed near the end is left to the bulk check, which will reject it.
std::size_t cut_sequence_start(const std::uint8_t* p, std::size_t n) noexcept {
  const std::size_t look = std::min<std::size_t>(3, n);
  for (std::size_t back = 1; back <= look; ++back) {
    const std::uint8_t b = p[n - back];
    if (is_continuation(b)) continue;
    return sequence_length(b) > back ? n - back : n;
  }
  return n;
}

// Length of the all-ASCII head of p[0..n).
std::size_t ascii_prefix(const std::uint8_t* p, std::size_t n) noexcept {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    if ((w & 0x8080808080808080ull) != 0) break;
  }
  while (i < n && p[i] < 0x80) ++i;
  return i;
}

}  // namespace

bool validate_utf8_scalar(const std::uint8_t* p, std::size_t n) noexcept {
  std::size_t i = 0;
  while (i < n) {
    const std::uint8_t b = p[i];
    if (b < 0x80) {  // ASCII runs are the common case in text protocols
      i += ascii_prefix(p + i, n - i);
      continue;
    }
    const std::size_t need = sequence_length(b);
    if (need == 0 || n - i < need || !valid_prefix(p + i, need)) return false;
    i += need;
  }
  return true;
}

bool validate_utf8(const std::uint8_t* p, std::size_t n) noexcept {
  if (n >= kSimdAlwaysBytes) return simdjson::validate_utf8(reinterpret_cast<const char*>(p), n);
  const std::size_t head = ascii_prefix(p, n);  // ends on a sequence boundary
  if (n - head >= kSimdMinBytes) return simdjson::validate_utf8(reinterpret_cast<const char*>(p + head), n - head);
  return validate_utf8_scalar(p + head, n - head);
}

bool Utf8Stream::feed(const std::uint8_t* p, std::size_t n) noexcept {
  if (len_ == kFailed) return false;
  if (n == 0) return true;
  if (len_ != 0) {
    std::uint8_t seq[4];
    std::memcpy(seq, pending_, len_);
    const std::size_t need = sequence_length(seq[0]);
    const std::size_t take = std::min(need - len_, n);
    std::memcpy(seq + len_, p, take);
    const std::size_t have = len_ + take;
    if (!valid_prefix(seq, have)) return fail();
    if (have < need) {
      std::memcpy(pending_, seq, have);
      len_ = static_cast<std::uint8_t>(have);
      return true;
    }
    len_ = 0;
    p += take;
    n -= take;
  }
  const std::size_t cut = cut_sequence_start(p, n);
  if (cut != 0 && !validate_utf8(p, cut)) return fail();
  if (cut != n) {
    if (!valid_prefix(p + cut, n - cut)) return fail();
    std::memcpy(pending_, p + cut, n - cut);
    len_ = static_cast<std::uint8_t>(n - cut);
  }
  return true;
}

}  // namespace ringgate::ws
