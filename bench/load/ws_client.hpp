// Minimal client-side WebSocket pieces for the load client: upgrade request with a random key,
// 101 response check (status + Sec-WebSocket-Accept = base64(sha1(key + GUID))), masked frame
// encoding and unmasked server frame header parsing. Self-contained (no project libraries) so the
// client can be built and trusted independently of the server it measures.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace load::ws {

enum Opcode : uint8_t { kCont = 0x0, kText = 0x1, kBinary = 0x2, kClose = 0x8, kPing = 0x9, kPong = 0xA };

// ---- SHA-1 (only for the accept key; not performance critical) ----
inline void sha1(const uint8_t* data, size_t len, uint8_t out[20]) noexcept {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  auto rol = [](uint32_t x, int n) { return (x << n) | (x >> (32 - n)); };
  uint64_t bit_len = static_cast<uint64_t>(len) * 8;
  size_t padded = ((len + 8) / 64 + 1) * 64;
  uint8_t block[64];
  for (size_t off = 0; off < padded; off += 64) {
    for (size_t i = 0; i < 64; ++i) {
      size_t k = off + i;
      uint8_t b = 0;
      if (k < len) b = data[k];
      else if (k == len) b = 0x80;
      else if (k >= padded - 8) b = static_cast<uint8_t>(bit_len >> (8 * (padded - 1 - k)));
      block[i] = b;
    }
    uint32_t w[80];
    for (int i = 0; i < 16; ++i)
      w[i] = (uint32_t(block[4 * i]) << 24) | (uint32_t(block[4 * i + 1]) << 16) |
             (uint32_t(block[4 * i + 2]) << 8) | uint32_t(block[4 * i + 3]);
    for (int i = 16; i < 80; ++i) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; ++i) {
      uint32_t f, k;
      if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999; }
      else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1; }
      else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDC; }
      else { f = b ^ c ^ d; k = 0xCA62C1D6; }
      uint32_t t = rol(a, 5) + f + e + k + w[i];
      e = d; d = c; c = rol(b, 30); b = a; a = t;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
  }
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 4; ++j) out[4 * i + j] = static_cast<uint8_t>(h[i] >> (24 - 8 * j));
}

inline std::string base64(const uint8_t* p, size_t n) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string s;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = uint32_t(p[i]) << 16;
    if (i + 1 < n) v |= uint32_t(p[i + 1]) << 8;
    if (i + 2 < n) v |= p[i + 2];
    s += t[(v >> 18) & 63];
    s += t[(v >> 12) & 63];
    s += i + 1 < n ? t[(v >> 6) & 63] : '=';
    s += i + 2 < n ? t[v & 63] : '=';
  }
  return s;
}

inline std::string accept_for(std::string_view key) {
  std::string in(key);
  in += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  uint8_t d[20];
  sha1(reinterpret_cast<const uint8_t*>(in.data()), in.size(), d);
  return base64(d, 20);
}

inline std::string upgrade_request(std::string_view host_port, std::string_view path, std::string_view key) {
  std::string r;
  r.reserve(256);
  r += "GET "; r += path; r += " HTTP/1.1\r\nHost: "; r += host_port;
  r += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "; r += key;
  r += "\r\nSec-WebSocket-Version: 13\r\n\r\n";
  return r;
}

// Case-insensitive header lookup within a response head (first line excluded).
inline std::string_view header_value(std::string_view head, std::string_view name) noexcept {
  size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    size_t start = pos + 2;
    size_t end = head.find("\r\n", start);
    std::string_view line = head.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    size_t colon = line.find(':');
    if (colon == name.size()) {
      bool eq = true;
      for (size_t i = 0; i < colon && eq; ++i) eq = (line[i] | 0x20) == (name[i] | 0x20);
      if (eq) {
        std::string_view v = line.substr(colon + 1);
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
        while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
        return v;
      }
    }
    pos = end;
  }
  return {};
}

// head = bytes up to and including "\r\n\r\n". Returns nullptr on success, else a reason.
inline const char* check_upgrade_response(std::string_view head, std::string_view expected_accept) noexcept {
  if (head.substr(0, 13) != "HTTP/1.1 101 ") return "status_not_101";
  if (header_value(head, "Sec-WebSocket-Accept") != expected_accept) return "bad_accept";
  return nullptr;
}

// Writes a masked client frame (header + masked payload) into out; returns its size.
// out must hold payload_len + 14 bytes.
inline size_t encode_masked(uint8_t* out, uint8_t opcode, const uint8_t* payload, size_t payload_len,
                            uint32_t mask_key) noexcept {
  size_t h = 0;
  out[h++] = static_cast<uint8_t>(0x80 | opcode);
  if (payload_len < 126) {
    out[h++] = static_cast<uint8_t>(0x80 | payload_len);
  } else if (payload_len <= 0xFFFF) {
    out[h++] = 0x80 | 126;
    out[h++] = static_cast<uint8_t>(payload_len >> 8);
    out[h++] = static_cast<uint8_t>(payload_len);
  } else {
    out[h++] = 0x80 | 127;
    for (int i = 7; i >= 0; --i) out[h++] = static_cast<uint8_t>(uint64_t(payload_len) >> (8 * i));
  }
  uint8_t m[4];
  std::memcpy(m, &mask_key, 4);
  std::memcpy(out + h, m, 4);
  h += 4;
  for (size_t i = 0; i < payload_len; ++i) out[h + i] = payload[i] ^ m[i & 3];
  return h + payload_len;
}

struct FrameHeader {
  bool fin = false;
  uint8_t rsv = 0;
  uint8_t opcode = 0;
  bool masked = false;
  uint64_t payload_len = 0;
  size_t header_len = 0;  // including the mask key when present
};

// Returns 0 if more bytes are needed, else the header length (and fills h).
inline size_t parse_header(const uint8_t* p, size_t n, FrameHeader& h) noexcept {
  if (n < 2) return 0;
  h.fin = p[0] & 0x80;
  h.rsv = (p[0] >> 4) & 7;
  h.opcode = p[0] & 0x0F;
  h.masked = p[1] & 0x80;
  uint64_t len = p[1] & 0x7F;
  size_t off = 2;
  if (len == 126) {
    if (n < 4) return 0;
    len = (uint64_t(p[2]) << 8) | p[3];
    off = 4;
  } else if (len == 127) {
    if (n < 10) return 0;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
    off = 10;
  }
  if (h.masked) off += 4;
  if (n < off) return 0;
  h.payload_len = len;
  h.header_len = off;
  return off;
}

}  // namespace load::ws
