// The broker envelope and the payload normalizer.
//
// DataNormalizer validates with simdjson On-Demand over a scratch copy "[" payload "]" + padding:
// broker payloads sit in receive buffers without simdjson's padding, and the brackets turn every
// root (scalars included) into one array element, so one code path checks "exactly one value":
// the array must hold one element and nothing may follow it. As in the client codec
// (codec.cpp), On-Demand is lazy, so every value is read: numbers by their RFC 8259 syntax (never
// converted: 1e400 and 2^64 are valid JSON passed on verbatim), strings with get_string(), keys
// with unescaped_key(), literals with get_bool()/is_null(); stage 1 checks UTF-8 and unescaped
// control characters for the whole input. Depth is counted here, which also bounds the recursion.
#include "ringgate/pubsub/envelope.hpp"

#include <simdjson.h>

#include <charconv>
#include <cstring>
#include <new>
#include <utility>

#include "json_walk.hpp"
#include "ringgate/pubsub/codec.hpp"  // kMaxDepth, kPadding

namespace ringgate::pubsub {

namespace od = simdjson::ondemand;
using simdjson::error_code;

// ---------------------------------------------------------------------------------------------
// Envelope

namespace {

constexpr std::string_view kMagic = "GW1 ";

// Decimal without sign or leading zeros (except "0"), at most `max`. Advances `p`.
template <class T>
bool read_decimal(const char*& p, const char* end, T max, T& out) noexcept {
  const char* start = p;
  while (p < end && *p >= '0' && *p <= '9') ++p;
  if (p == start || (*start == '0' && p - start > 1)) return false;
  T v = 0;
  const auto r = std::from_chars(start, p, v);
  return r.ec == std::errc{} && r.ptr == p && v <= max && (out = v, true);
}

}  // namespace

std::size_t encode_envelope(char* out, std::size_t cap, std::uint64_t node, std::uint64_t ms,
                            std::uint32_t flags) noexcept {
  char buf[kEnvelopeMax];
  char* p = buf;
  std::memcpy(p, kMagic.data(), kMagic.size());
  p += kMagic.size();
  static constexpr char kHex[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4) *p++ = kHex[(node >> shift) & 0xF];
  *p++ = ' ';
  auto r = std::to_chars(p, buf + sizeof buf - 1, ms);  // (each leaves room for the byte after it)
  if (r.ec != std::errc{}) return 0;
  p = r.ptr;
  *p++ = ' ';
  r = std::to_chars(p, buf + sizeof buf - 1, flags);
  if (r.ec != std::errc{}) return 0;
  p = r.ptr;
  *p++ = '\n';
  const auto n = static_cast<std::size_t>(p - buf);  // at most 4 + 16 + 1 + 20 + 1 + 10 + 1 = 53
  if (n > cap) return 0;
  std::memcpy(out, buf, n);
  return n;
}

Envelope decode_envelope(std::string_view body) noexcept {
  Envelope raw;
  raw.payload = body;
  if (body.size() < kMagic.size() || body.substr(0, kMagic.size()) != kMagic) return raw;
  const char* p = body.data() + kMagic.size();
  const char* end = body.data() + body.size();
  if (end - p < 17) return raw;
  Envelope e;
  e.ours = true;
  for (int i = 0; i < 16; ++i, ++p) {
    const char c = *p;
    const int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (d < 0) return raw;
    e.node = (e.node << 4) | static_cast<std::uint64_t>(d);
  }
  if (*p++ != ' ') return raw;
  if (!read_decimal(p, end, ~std::uint64_t{0}, e.ms)) return raw;
  if (p == end || *p++ != ' ') return raw;
  if (!read_decimal(p, end, ~std::uint32_t{0}, e.flags)) return raw;
  if (p == end || *p++ != '\n') return raw;
  e.payload = std::string_view(p, static_cast<std::size_t>(end - p));
  return e;
}

// ---------------------------------------------------------------------------------------------
// JSON string escaping

namespace {

// Length of the valid UTF-8 sequence starting at p[0] (>= 0x80), or 0 (Unicode Table 3-7: no
// overlong forms, no surrogates, nothing above U+10FFFF).
std::size_t utf8_sequence(const unsigned char* p, std::size_t n) noexcept {
  const unsigned c = p[0];
  std::size_t len;
  unsigned lo = 0x80, hi = 0xBF;  // range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (n < len || p[1] < lo || p[1] > hi) return 0;
  for (std::size_t i = 2; i < len; ++i) {
    if (p[i] < 0x80 || p[i] > 0xBF) return 0;
  }
  return len;
}

// Writes `"` payload `"` escaped into out (capacity >= 6 * n + 2). Returns the bytes written.
std::size_t escape_json_string(const unsigned char* p, std::size_t n, char* out) noexcept {
  static constexpr char kHex[] = "0123456789abcdef";
  const bool valid_utf8 = simdjson::validate_utf8(reinterpret_cast<const char*>(p), n);
  char* o = out;
  *o++ = '"';
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    if (c == '"' || c == '\\') {
      *o++ = '\\';
      *o++ = static_cast<char>(c);
      ++i;
    } else if (c < 0x20) {
      std::memcpy(o, "\\u00", 4);
      o[4] = kHex[c >> 4];
      o[5] = kHex[c & 0xF];
      o += 6;
      ++i;
    } else if (c < 0x80 || valid_utf8) {
      *o++ = static_cast<char>(c);
      ++i;
    } else if (const std::size_t len = utf8_sequence(p + i, n - i)) {
      std::memcpy(o, p + i, len);
      o += len;
      i += len;
    } else {
      std::memcpy(o, "\xEF\xBF\xBD", 3);  // U+FFFD for this one byte
      o += 3;
      ++i;
    }
  }
  *o++ = '"';
  return static_cast<std::size_t>(o - out);
}

// A byte buffer that only grows (doubling), so steady traffic allocates nothing.
struct Buffer {
  std::unique_ptr<char[]> data;
  std::size_t cap = 0;
  bool reserve(std::size_t need) noexcept {
    if (need <= cap) return true;
    const std::size_t next = need > 2 * cap ? need : 2 * cap;
    std::unique_ptr<char[]> fresh(new (std::nothrow) char[next]);
    if (!fresh) return false;
    data = std::move(fresh);
    cap = next;
    return true;
  }
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// DataNormalizer

struct DataNormalizer::Impl {
  od::parser parser;
  std::size_t parser_cap = 0;
  Buffer scratch;  // "[" payload "]" + kPadding
  Buffer text;     // the escaped JSON string

  explicit Impl(std::size_t max_bytes) noexcept : parser(max_bytes + 2) {}

  bool reserve_parser(std::size_t len) noexcept {
    if (len <= parser_cap) return true;
    std::size_t next = parser_cap * 2 > len ? parser_cap * 2 : len;
    if (next > parser.max_capacity()) next = parser.max_capacity();
    // Depth room past ours (On-Demand checks its own only in development builds): we stop first.
    if (parser.allocate(next, kMaxDepth + 4) != simdjson::SUCCESS) return false;
    parser_cap = next;
    return true;
  }

  // True when the payload is exactly one JSON value, nested at most kMaxDepth deep.
  bool is_json(std::string_view payload, bool& failed) noexcept {
    const std::size_t len = payload.size() + 2;
    if (!scratch.reserve(len + kPadding) || !reserve_parser(len)) {
      failed = true;
      return false;
    }
    char* s = scratch.data.get();
    s[0] = '[';
    if (!payload.empty()) std::memcpy(s + 1, payload.data(), payload.size());
    s[len - 1] = ']';
    std::memset(s + len, ' ', kPadding);
    od::document doc;
    if (parser.iterate(s, len, len + kPadding).get(doc)) return false;
    od::array root;
    if (doc.get_array().get(root)) return false;
    std::size_t count = 0;
    for (auto er : root) {
      od::value v;
      if (std::move(er).get(v) || ++count > 1 || detail::walk_json(v, 1)) return false;
    }
    const char* rest = nullptr;  // 3.0.1 has no document::at_end(): past the last token is OUT_OF_BOUNDS
    return count == 1 && doc.current_location().get(rest) == simdjson::OUT_OF_BOUNDS;
  }
};

DataNormalizer::DataNormalizer(std::size_t max_bytes) noexcept
    : impl_(new (std::nothrow) Impl(max_bytes)), max_bytes_(max_bytes) {}

DataNormalizer::~DataNormalizer() = default;

bool DataNormalizer::ok() const noexcept { return impl_ != nullptr; }

bool DataNormalizer::to_data(std::string_view payload, std::string_view& out) noexcept {
  out = {};
  if (!impl_ || payload.size() > max_bytes_) return false;
  bool failed = false;
  if (impl_->is_json(payload, failed)) {
    out = payload;
    return true;
  }
  if (failed || !impl_->text.reserve(6 * payload.size() + 2)) return false;
  const std::size_t n = escape_json_string(reinterpret_cast<const unsigned char*>(payload.data()),
                                           payload.size(), impl_->text.data.get());
  out = std::string_view(impl_->text.data.get(), n);
  return true;
}

}  // namespace ringgate::pubsub
