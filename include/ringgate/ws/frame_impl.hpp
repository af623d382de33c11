// Parser::feed and its hot helpers, included by frame.hpp (templates on the sink type, so they
// live in a header). Cold paths (close payload checks, the split control buffer) are in frame.cpp.
// The loop alternates two states told apart by remaining_: 0 = reading a header, > 0 = payload.
// A complete header is parsed straight from the input; only a header cut by the end of the input
// is gathered in hdr_. Zero-length frames are finished as soon as their header is parsed.
#pragma once

#include <algorithm>
#include <cstring>

namespace ringgate::ws {

namespace frame_detail {

inline bool is_control(std::uint8_t op) noexcept { return (op & 0x8) != 0; }

// Header length implied by the second header byte: 2 + extended length + mask key.
inline std::size_t header_length(std::uint8_t b1) noexcept {
  const std::uint8_t len7 = b1 & 0x7F;
  return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((b1 & 0x80) ? 4 : 0);
}

inline std::uint64_t load_be(const std::uint8_t* p, std::size_t n) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

}  // namespace frame_detail

// Everything that can be judged from the first two bytes, so a bad frame fails before the rest of
// its header arrives.
inline Parser::Fault Parser::check_start(std::uint8_t b0, std::uint8_t b1) const noexcept {
  const std::uint8_t op = b0 & 0x0F;
  if (b0 & 0x70) return {close_code::protocol_error, "reserved bits set"};
  if ((op >= 0x3 && op <= 0x7) || op >= 0xB) return {close_code::protocol_error, "reserved opcode"};
  if (frame_detail::is_control(op)) {
    if (!(b0 & 0x80)) return {close_code::protocol_error, "fragmented control frame"};
    if ((b1 & 0x7F) > kMaxControlPayload) return {close_code::protocol_error, "control frame payload over 125 bytes"};
  } else if (op == 0) {
    if (msg_op_ == 0) return {close_code::protocol_error, "continuation frame without a message in progress"};
  } else if (msg_op_ != 0) {
    return {close_code::protocol_error, "new data frame inside a fragmented message"};
  }
  const bool masked = (b1 & 0x80) != 0;
  if (masked != server()) {
    return {close_code::protocol_error, masked ? "masked frame from a server" : "unmasked frame from a client"};
  }
  return {};
}

// Takes a complete, start-checked header and sets up the frame.
inline Parser::Fault Parser::begin_frame(const std::uint8_t* h, std::size_t header_len,
                                         const Limits& limits) noexcept {
  const std::uint8_t len7 = h[1] & 0x7F;
  std::uint64_t len = len7;
  if (len7 == 126) {
    len = frame_detail::load_be(h + 2, 2);
  } else if (len7 == 127) {
    len = frame_detail::load_be(h + 2, 8);
    if (len >> 63) return {close_code::protocol_error, "64-bit payload length with the top bit set"};
  }
  const std::uint8_t op = h[0] & 0x0F;
  const bool fin = (h[0] & 0x80) != 0;
  if (!frame_detail::is_control(op)) {
    if (op != 0) {  // first frame of a message
      msg_bytes_ = 0;
      if (op == static_cast<std::uint8_t>(Opcode::text)) utf8_.reset();
      if (!fin) msg_op_ = op;
    }
    if (len > limits.max_message_bytes || msg_bytes_ > limits.max_message_bytes - len) {
      return {close_code::too_big, "message too big"};
    }
    msg_bytes_ += len;
  }
  if (server()) std::memmove(hdr_, h + header_len - 4, 4);  // h may be hdr_ itself
  frame_op_ = op;
  flags_ = static_cast<std::uint8_t>(fin ? (flags_ | kFin) : (flags_ & ~kFin));
  phase_ = 0;
  remaining_ = len;
  return {};
}

inline Parser::Fault Parser::check_text(const std::uint8_t* p, std::size_t n, bool message_end) noexcept {
  if (!utf8_.feed(p, n)) return {close_code::invalid_payload, "invalid UTF-8 in text message"};
  if (message_end && !utf8_.complete()) {
    return {close_code::invalid_payload, "text message ends inside a UTF-8 sequence"};
  }
  return {};
}

template <class Sink>
Parser::Fault Parser::data_payload(std::uint8_t* p, std::size_t n, Sink& sink) noexcept {
  const std::uint8_t op = frame_op_ != 0 ? frame_op_ : msg_op_;
  if (server()) phase_ = static_cast<std::uint8_t>(unmask(p, n, hdr_, phase_));
  const bool message_end = remaining_ == 0 && (flags_ & kFin);
  if (op == static_cast<std::uint8_t>(Opcode::text)) {
    if (Fault f = check_text(p, n, message_end)) return f;
  }
  if (message_end) msg_op_ = 0;
  sink.on_data(static_cast<Opcode>(op), std::span<std::uint8_t>(p, n), message_end);
  return {};
}

template <class Sink>
Parser::Fault Parser::dispatch_control(std::uint8_t* p, std::size_t n, Sink& sink) noexcept {
  const std::span<const std::uint8_t> payload(p, n);
  switch (static_cast<Opcode>(frame_op_)) {
    case Opcode::ping:
      sink.on_ping(payload);
      return {};
    case Opcode::pong:
      sink.on_pong(payload);
      return {};
    default: {
      std::uint16_t code = 0;
      if (Fault f = check_close(p, n, code)) return f;
      flags_ |= kClosed;
      const std::string_view reason = n > 2 ? std::string_view(reinterpret_cast<const char*>(p + 2), n - 2)
                                            : std::string_view();
      sink.on_close(code, reason);
      return {};
    }
  }
}

// p[0..n) is the next piece of a control frame's payload (remaining_ already excludes it).
template <class Sink>
Parser::Fault Parser::control_payload(std::uint8_t* p, std::size_t n, Sink& sink) noexcept {
  if (ctrl_len_ == 0 && remaining_ == 0) {  // whole payload in this input: dispatch in place
    if (server()) unmask(p, n, hdr_, phase_);
    return dispatch_control(p, n, sink);
  }
  if (!gather_control(p, n)) return {close_code::internal_error, "out of memory"};
  if (remaining_ != 0) return {};
  const Fault f = dispatch_control(ctrl_, ctrl_len_, sink);
  free_control_buffer();
  return f;
}

template <class Sink>
FeedResult Parser::feed(std::uint8_t* data, std::size_t len, Sink& sink, const Limits& limits) noexcept {
  if (flags_ & kClosed) return {0, 0, ""};
  std::size_t pos = 0;
  while (pos < len) {
    if (remaining_ != 0) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, len - pos));
      std::uint8_t* chunk = data + pos;
      pos += n;
      remaining_ -= n;
      const Fault f = frame_detail::is_control(frame_op_) ? control_payload(chunk, n, sink)
                                                          : data_payload(chunk, n, sink);
      if (f) return fail(pos, f);
      if (flags_ & kClosed) return {pos, 0, ""};
      continue;
    }

    const std::uint8_t* h;
    std::size_t header_len;
    if (hdr_len_ == 0 && len - pos >= 2) {  // common case: header starts in this input
      if (Fault f = check_start(data[pos], data[pos + 1])) return fail(pos + 2, f);
      header_len = frame_detail::header_length(data[pos + 1]);
      if (len - pos < header_len) {
        std::memcpy(hdr_, data + pos, len - pos);
        hdr_len_ = static_cast<std::uint8_t>(len - pos);
        return {len, 0, ""};
      }
      h = data + pos;
      pos += header_len;
    } else {  // gather a header cut by the end of an input
      const std::size_t want = hdr_len_ < 2 ? 2 : frame_detail::header_length(hdr_[1]);
      const std::size_t take = std::min(want - hdr_len_, len - pos);
      std::memcpy(hdr_ + hdr_len_, data + pos, take);
      hdr_len_ = static_cast<std::uint8_t>(hdr_len_ + take);
      pos += take;
      if (hdr_len_ < 2) break;
      if (Fault f = check_start(hdr_[0], hdr_[1])) return fail(pos, f);
      header_len = frame_detail::header_length(hdr_[1]);
      if (hdr_len_ < header_len) continue;  // loop again: takes the rest or ends the input
      h = hdr_;
    }
    hdr_len_ = 0;
    if (Fault f = begin_frame(h, header_len, limits)) return fail(pos, f);
    if (remaining_ == 0) {  // empty frame: finish it now
      const Fault f = frame_detail::is_control(frame_op_) ? control_payload(data + pos, 0, sink)
                      : (flags_ & kFin)                   ? data_payload(data + pos, 0, sink)
                                                          : Fault{};
      if (f) return fail(pos, f);
      if (flags_ & kClosed) return {pos, 0, ""};
    }
  }
  return {pos, 0, ""};
}

static_assert(sizeof(Parser) <= 48, "per-connection parser state must stay small");

}  // namespace ringgate::ws
