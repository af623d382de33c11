// The opening handshake's Sec-WebSocket-Accept value (RFC 6455 §4.2.2):
// base64(SHA-1(Sec-WebSocket-Key + GUID)). SHA-1 is used here only as the RFC's fixed function,
// not for security, so a small self-contained implementation is enough.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ringgate::ws {

inline constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// The 28-character accept value (no terminator) for the client's key, taken as given: the caller
// validates the key (24 base64 characters decoding to 16 bytes) before calling.
std::array<char, 28> accept_key(std::string_view client_key) noexcept;

// Standard base64 with '=' padding; out must hold 4 * ((n + 2) / 3) chars. Returns chars written.
std::size_t base64_encode(const std::uint8_t* in, std::size_t n, char* out) noexcept;

}  // namespace ringgate::ws
