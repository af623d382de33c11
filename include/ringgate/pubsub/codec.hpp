// The client protocol codec (docs/protocol.md): JSON text frames on /ws and the HTTP publish body.
// Decoding uses simdjson On-Demand over the caller's bytes, which must be followed by kPadding
// readable bytes (the worker's receive buffers and message chunks carry them). Nothing here
// allocates per message: the Decoder owns its parser, sized once for the largest message allowed.
//
// A request's topic and data are views into the input; `data` is the publisher's JSON value,
// validated and passed on byte for byte. Peer input never asserts: every malformed input is a
// DecodeError with a code the server sends back in an "err" frame (or an HTTP 400).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace ringgate::pubsub {

inline constexpr std::size_t kPadding = 64;             // = SIMDJSON_PADDING
inline constexpr std::size_t kMaxTopicBytes = 200;
inline constexpr std::uint64_t kMaxId = (1ull << 53) - 1;  // ids must survive a JavaScript number
inline constexpr std::size_t kMaxDepth = 64;

enum class Op : std::uint8_t { sub, unsub, pub, ping };

enum class ErrorCode : std::uint8_t {
  bad_request,     // malformed JSON, wrong types, missing fields, nesting too deep
  unknown_op,
  bad_topic,       // topic name not valid
  unknown_topic,   // unsub of a topic the connection is not subscribed to
  too_large,       // message larger than the decoder's limit
  forbidden,       // client publish disabled
  rate_limited,
  unavailable,     // broker down
  limit_exceeded,  // too many subscriptions on one connection
};
inline constexpr std::size_t kErrorCodes = 9;
std::string_view error_name(ErrorCode c) noexcept;  // "bad_request", ... (the wire names)

// 1..kMaxTopicBytes of [A-Za-z0-9_.:/@=+-], no empty '.'-separated token.
bool valid_topic(std::string_view topic) noexcept;

struct Request {
  Op op = Op::ping;
  std::uint64_t id = 0;
  // Views valid until the input is released or this Decoder decodes again. topic points into the
  // input, except when its JSON string used escapes ("a\/b"): then into the Decoder's buffer.
  std::string_view topic;  // sub, unsub, pub
  std::string_view data;   // pub: the raw JSON text of "data", always inside the input
  bool has_since = false;  // sub: recovery from this sequence number
  std::uint64_t since = 0;
};

struct DecodeError {
  ErrorCode code = ErrorCode::bad_request;
  bool has_id = false;  // the request's id was readable (the err frame echoes it)
  std::uint64_t id = 0;
  const char* message = "";  // static text, safe to put in a JSON string unescaped
};

class Decoder {
 public:
  // max_bytes: the largest message accepted (larger -> too_large, without parsing).
  explicit Decoder(std::size_t max_bytes = 65536) noexcept;
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;
  bool ok() const noexcept;  // false when the parser's memory could not be reserved

  // One client request (a whole text message). data[len .. len+kPadding) must be readable.
  bool decode(const std::uint8_t* data, std::size_t len, Request& out, DecodeError& err) noexcept;
  // The HTTP API body {"topic":..,"data":..}: fills topic and data of `out` (op = pub, id = 0).
  bool decode_publish(const std::uint8_t* data, std::size_t len, Request& out, DecodeError& err) noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::size_t max_bytes_;
};

// Encoders: JSON text without a WebSocket header. Each returns the bytes written, or 0 when `cap`
// is too small. Topics passed in are valid topics (no escaping needed); messages are escaped.
std::size_t encode_ack(char* out, std::size_t cap, std::uint64_t id) noexcept;            // {"op":"ack","id":1}
std::size_t encode_ack_seq(char* out, std::size_t cap, std::uint64_t id, std::uint64_t seq) noexcept;
std::size_t encode_ack_pub(char* out, std::size_t cap, std::uint64_t id, std::uint64_t seq,
                           std::uint64_t delivered) noexcept;
std::size_t encode_err(char* out, std::size_t cap, bool has_id, std::uint64_t id, ErrorCode code,
                       std::string_view message) noexcept;
// {"op":"msg","topic":T,"seq":S,"data":D}: msg_bytes() is the exact size encode_msg() writes.
std::size_t msg_bytes(std::string_view topic, std::uint64_t seq, std::size_t data_len) noexcept;
std::size_t encode_msg(char* out, std::size_t cap, std::string_view topic, std::uint64_t seq,
                       std::string_view data) noexcept;
std::size_t encode_gap(char* out, std::size_t cap, std::string_view topic) noexcept;  // {"op":"gap","topic":T}

}  // namespace ringgate::pubsub
