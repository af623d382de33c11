// Fanout wire format (see fanout_proto.hpp).
#include "fanout_proto.hpp"

#include <cstdio>
#include <cstring>

namespace ringgate::load {
namespace {

bool space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
void skip_ws(std::string_view s, std::size_t& i) noexcept {
  while (i < s.size() && space(s[i])) ++i;
}
// i at the opening quote; on success i is just past the closing quote.
bool skip_string(std::string_view s, std::size_t& i) noexcept {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      ++i;
      return true;
    }
  }
  return false;
}
// Skips one value starting at i (after whitespace); i ends just past it.
bool skip_value(std::string_view s, std::size_t& i) noexcept {
  if (i >= s.size()) return false;
  if (s[i] == '"') return skip_string(s, i);
  if (s[i] == '{' || s[i] == '[') {
    int depth = 0;
    while (i < s.size()) {
      char c = s[i];
      if (c == '"') {
        if (!skip_string(s, i)) return false;
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') {
        if (--depth == 0) {
          ++i;
          return true;
        }
        if (depth < 0) return false;
      }
      ++i;
    }
    return false;
  }
  std::size_t start = i;
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && !space(s[i])) ++i;
  return i > start;
}

}  // namespace

bool json_field(std::string_view obj, std::string_view key, std::string_view& value) noexcept {
  std::size_t i = 0;
  skip_ws(obj, i);
  if (i >= obj.size() || obj[i] != '{') return false;
  ++i;
  for (;;) {
    skip_ws(obj, i);
    if (i >= obj.size() || obj[i] != '"') return false;  // also the empty object / trailing comma
    std::size_t k0 = i;
    if (!skip_string(obj, i)) return false;
    std::string_view k = obj.substr(k0 + 1, i - k0 - 2);
    skip_ws(obj, i);
    if (i >= obj.size() || obj[i] != ':') return false;
    ++i;
    skip_ws(obj, i);
    std::size_t v0 = i;
    if (!skip_value(obj, i)) return false;
    if (k == key) {
      value = obj.substr(v0, i - v0);
      return true;
    }
    skip_ws(obj, i);
    if (i >= obj.size() || obj[i] != ',') return false;
    ++i;
  }
}

bool json_u64(std::string_view v, std::uint64_t& out) noexcept {
  if (v.empty() || v.size() > 19) return false;
  std::uint64_t x = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    x = x * 10 + std::uint64_t(c - '0');
  }
  out = x;
  return true;
}

bool topic_index(std::string_view v, std::uint32_t& k) noexcept {
  constexpr std::string_view kPrefix = "\"load.";
  if (v.size() < kPrefix.size() + 2 || v.substr(0, kPrefix.size()) != kPrefix || v.back() != '"') return false;
  std::uint64_t x = 0;
  if (!json_u64(v.substr(kPrefix.size(), v.size() - kPrefix.size() - 1), x) || x > 0xffffffffu) return false;
  k = std::uint32_t(x);
  return true;
}

namespace {
// The fixed part: everything except the pad characters and the closing `"}` / `"}}`.
int write_head(char* out, std::size_t cap, const PubFields& f, bool ws) noexcept {
  if (ws) {
    return std::snprintf(out, cap, "{\"op\":\"pub\",\"id\":%llu,\"topic\":\"load.%u\",\"data\":{\"t\":%llu,\"p\":%u,"
                         "\"n\":%llu,\"pad\":\"", (unsigned long long)f.id, f.topic, (unsigned long long)f.t_ns,
                         f.publisher, (unsigned long long)f.n);
  }
  return std::snprintf(out, cap, "{\"topic\":\"load.%u\",\"data\":{\"t\":%llu,\"p\":%u,\"n\":%llu,\"pad\":\"",
                       f.topic, (unsigned long long)f.t_ns, f.publisher, (unsigned long long)f.n);
}
// Length of the data object within the head (from its '{').
std::size_t data_head_len(const char* head, int len) noexcept {
  const char* d = std::strstr(head, "\"data\":{");
  return d ? std::size_t(head + len - d) - 7 : 0;
}
}  // namespace

std::size_t pub_size(const PubFields& f, bool ws) noexcept {
  char head[kPubOverhead];
  int len = write_head(head, sizeof head, f, ws);
  std::size_t data = data_head_len(head, len) + 2;  // + `"}`
  std::size_t pad = f.size > data ? f.size - data : 0;
  return std::size_t(len) + pad + 3;  // `"}}`
}

std::size_t write_pub(char* out, const PubFields& f, bool ws) noexcept {
  char head[kPubOverhead];
  int len = write_head(head, sizeof head, f, ws);
  std::size_t data = data_head_len(head, len) + 2;
  std::size_t pad = f.size > data ? f.size - data : 0;
  std::memcpy(out, head, std::size_t(len));
  std::memset(out + len, 'x', pad);
  std::memcpy(out + len + pad, "\"}}", 3);
  return std::size_t(len) + pad + 3;
}

}  // namespace ringgate::load
