// Character classes and small ASCII helpers shared by the http parser, the upgrade validator and
// the response writers. Tables, not <cctype>: locale-free, branch-light, and usable on bytes >= 0x80
// (obs-text) without sign trouble. Everything here is constexpr and allocation-free.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ringgate::http::detail {

enum CharClass : std::uint8_t {
  kTchar = 1,   // RFC 9110 token character
  kVchar = 2,   // field-value character: VCHAR / obs-text / SP / HTAB
  kTarget = 4,  // request-target character: visible ASCII (0x21-0x7E)
  kBase64 = 8,  // standard base64 alphabet without '=' (RFC 4648 section 4)
};

constexpr std::array<std::uint8_t, 256> make_char_table() noexcept {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    std::uint8_t bits = 0;
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    if (alpha || digit || std::string_view("!#$%&'*+-.^_`|~").find(char(c)) != std::string_view::npos)
      bits |= kTchar;
    if ((c >= 0x21 && c <= 0x7E) || c >= 0x80 || c == ' ' || c == '\t') bits |= kVchar;
    if (c >= 0x21 && c <= 0x7E) bits |= kTarget;
    if (alpha || digit || c == '+' || c == '/') bits |= kBase64;
    t[std::size_t(c)] = bits;
  }
  return t;
}

inline constexpr std::array<std::uint8_t, 256> kCharTable = make_char_table();

constexpr bool is(char c, CharClass cls) noexcept {
  return (kCharTable[static_cast<unsigned char>(c)] & cls) != 0;
}

constexpr bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

constexpr char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? char(c + ('a' - 'A')) : c;
}

constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

constexpr std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

constexpr bool all_of(std::string_view s, CharClass cls) noexcept {
  for (char c : s)
    if (!is(c, cls)) return false;
  return true;
}

}  // namespace ringgate::http::detail
