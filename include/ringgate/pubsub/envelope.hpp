// What travels through an external broker (Redis, NATS): our own publishes carry a one-line
// envelope "GW1 <node> <ms> <flags>\n<payload>" (node: 16 lowercase hex digits; ms, flags: decimal
// without leading zeros), so a gateway can tell them from raw external publishes
// (`redis-cli PUBLISH t hello`), whose whole body is the payload. Decoding is strict: anything that
// is not exactly the header our encoder writes is a raw publish.
//
// DataNormalizer turns a broker payload into the `data` of a msg frame: the payload byte for byte
// when it is one valid JSON value (checked with simdjson, as strictly as the client codec: every
// value read, nesting <= kMaxDepth, numbers by their RFC 8259 syntax so 1e400 passes), otherwise the
// payload as a JSON string. Its buffers grow to the largest payload seen, then stay.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace ringgate::pubsub {

inline constexpr std::size_t kEnvelopeMax = 64;

// "GW1 <node as 16 hex> <ms> <flags>\n"; returns bytes written (0 if cap too small).
std::size_t encode_envelope(char* out, std::size_t cap, std::uint64_t node, std::uint64_t ms,
                            std::uint32_t flags) noexcept;

struct Envelope {
  bool ours = false;  // a well-formed GW1 header was present
  std::uint64_t node = 0, ms = 0;
  std::uint32_t flags = 0;
  std::string_view payload;  // after the header (or the whole body when !ours)
};
Envelope decode_envelope(std::string_view body) noexcept;

// Turns a broker payload into the `data` of a msg frame: the payload itself when it is exactly one
// valid JSON value (RFC 8259, optional surrounding whitespace, nesting <= kMaxDepth), else a JSON
// string of it (escaped per RFC 8259; bytes that are not valid UTF-8 become U+FFFD, one per byte).
class DataNormalizer {
 public:
  explicit DataNormalizer(std::size_t max_bytes) noexcept;  // payloads larger than this: to_data fails
  ~DataNormalizer();
  DataNormalizer(const DataNormalizer&) = delete;
  DataNormalizer& operator=(const DataNormalizer&) = delete;
  bool ok() const noexcept;
  // Returns false when the payload is larger than max_bytes or memory ran out. `out` stays valid
  // until the next call (when the payload is returned verbatim, `out` views `payload` itself).
  bool to_data(std::string_view payload, std::string_view& out) noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::size_t max_bytes_;
};

}  // namespace ringgate::pubsub
