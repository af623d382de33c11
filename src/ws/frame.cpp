// Cold parts of the parser (lifetime, close payload checks, the split control buffer) and the
// frame writer.
#include "ringgate/ws/frame.hpp"

#include <cstring>
#include <new>
#include <utility>

namespace ringgate::ws {

bool is_valid_close_code(std::uint16_t code) noexcept {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

Parser::Parser(Role role) noexcept : flags_(role == Role::client ? kClient : 0) {}

Parser::~Parser() { free_control_buffer(); }

Parser::Parser(Parser&& other) noexcept
    : remaining_(other.remaining_),
      msg_bytes_(other.msg_bytes_),
      ctrl_(std::exchange(other.ctrl_, nullptr)),
      utf8_(other.utf8_),
      hdr_len_(other.hdr_len_),
      phase_(other.phase_),
      frame_op_(other.frame_op_),
      msg_op_(other.msg_op_),
      ctrl_len_(other.ctrl_len_),
      flags_(other.flags_) {
  std::memcpy(hdr_, other.hdr_, sizeof hdr_);
  other.ctrl_len_ = 0;
}

Parser& Parser::operator=(Parser&& other) noexcept {
  if (this != &other) {
    this->~Parser();
    new (this) Parser(std::move(other));
  }
  return *this;
}

void Parser::reset(Role role) noexcept { *this = Parser(role); }

void Parser::free_control_buffer() noexcept {
  delete[] ctrl_;
  ctrl_ = nullptr;
  ctrl_len_ = 0;
}

bool Parser::gather_control(const std::uint8_t* p, std::size_t n) noexcept {
  if (ctrl_ == nullptr) {
    ctrl_ = new (std::nothrow) std::uint8_t[kMaxControlPayload];
    if (ctrl_ == nullptr) return false;
  }
  std::uint8_t* dst = ctrl_ + ctrl_len_;
  std::memcpy(dst, p, n);
  if (server()) phase_ = static_cast<std::uint8_t>(unmask(dst, n, hdr_, phase_));
  ctrl_len_ = static_cast<std::uint8_t>(ctrl_len_ + n);
  return true;
}

Parser::Fault Parser::check_close(const std::uint8_t* p, std::size_t n, std::uint16_t& code) const noexcept {
  if (n == 0) {
    code = close_code::no_status;
    return {};
  }
  if (n == 1) return {close_code::protocol_error, "close payload of 1 byte"};
  code = static_cast<std::uint16_t>((p[0] << 8) | p[1]);
  if (!is_valid_close_code(code)) return {close_code::protocol_error, "invalid close code"};
  if (!validate_utf8(p + 2, n - 2)) return {close_code::invalid_payload, "invalid UTF-8 in close reason"};
  return {};
}

FeedResult Parser::fail(std::size_t consumed, Fault f) noexcept {
  flags_ |= kClosed;
  free_control_buffer();
  return {consumed, f.code, f.reason};
}

std::size_t write_header(std::uint8_t* out, Opcode op, bool fin, std::uint64_t payload_len,
                         const std::uint8_t* mask_key) noexcept {
  out[0] = static_cast<std::uint8_t>((fin ? 0x80 : 0) | static_cast<std::uint8_t>(op));
  const std::uint8_t mask_bit = mask_key != nullptr ? 0x80 : 0;
  std::size_t n;
  if (payload_len < 126) {
    out[1] = static_cast<std::uint8_t>(mask_bit | payload_len);
    n = 2;
  } else if (payload_len <= 0xFFFF) {
    out[1] = mask_bit | 126;
    out[2] = static_cast<std::uint8_t>(payload_len >> 8);
    out[3] = static_cast<std::uint8_t>(payload_len);
    n = 4;
  } else {
    out[1] = mask_bit | 127;
    for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<std::uint8_t>(payload_len >> (56 - 8 * i));
    n = 10;
  }
  if (mask_key != nullptr) {
    std::memcpy(out + n, mask_key, 4);
    n += 4;
  }
  return n;
}

std::size_t write_close_payload(std::uint8_t* out, std::uint16_t code, std::string_view reason) noexcept {
  constexpr std::size_t kMaxReason = kMaxControlPayload - 2;
  out[0] = static_cast<std::uint8_t>(code >> 8);
  out[1] = static_cast<std::uint8_t>(code);
  std::size_t n = reason.size();
  if (n > kMaxReason) {
    n = kMaxReason;
    // reason[n] is the first byte dropped; if it continues a sequence, drop that sequence too.
    while (n > 0 && (static_cast<std::uint8_t>(reason[n]) & 0xC0) == 0x80) --n;
  }
  if (n != 0) std::memcpy(out + 2, reason.data(), n);  // reason.data() may be null when empty
  return 2 + n;
}

}  // namespace ringgate::ws
