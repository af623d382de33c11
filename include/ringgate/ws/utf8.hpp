// UTF-8 validation for text messages and close reasons (RFC 6455 §8.1, Unicode Table 3-7:
// no overlong forms, no surrogates, nothing above U+10FFFF).
// validate_utf8 is the bulk path (simdjson's SIMD kernel); validate_utf8_scalar is the reference
// used for tiny inputs and by the tests. Utf8Stream validates a message that arrives in pieces and
// fails on the first piece that cannot be the start of valid UTF-8, as Autobahn's "fail fast"
// cases (6.4.x) require: a sequence cut at a piece boundary is checked as far as it goes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ringgate::ws {

bool validate_utf8(const std::uint8_t* p, std::size_t n) noexcept;
bool validate_utf8_scalar(const std::uint8_t* p, std::size_t n) noexcept;

// Four bytes of state: at most 3 bytes of a sequence cut at the end of the previous piece.
// A failure is sticky until reset(): feed() keeps returning false and complete() is false.
class Utf8Stream {
 public:
  // Validates the next piece. False as soon as the bytes seen so far cannot be valid UTF-8.
  bool feed(const std::uint8_t* p, std::size_t n) noexcept;
  // True when no sequence is pending (and no failure): check it at the end of the message.
  bool complete() const noexcept { return len_ == 0; }
  void reset() noexcept { len_ = 0; }

 private:
  static constexpr std::uint8_t kFailed = 0xFF;
  bool fail() noexcept {
    len_ = kFailed;
    return false;
  }
  std::uint8_t pending_[3] = {};
  std::uint8_t len_ = 0;  // bytes in pending_, or kFailed
};

}  // namespace ringgate::ws
