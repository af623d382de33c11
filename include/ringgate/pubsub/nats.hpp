// NATS core protocol (https://docs.nats.io/reference/reference-protocols/nats-protocol), sans-IO
// and without a library: the server -> client parser and the client -> server command builders.
//
// NatsParser buffers what it is fed in one reused string and yields one event per protocol
// message; consumed bytes are dropped (compacted) at the next feed(), so event views stay valid
// until the next feed()/next()/reset(). Peer input never asserts: unknown ops, bad argument counts,
// sizes that are not plain decimals (or exceed max_payload), a payload not followed by CRLF and
// control lines over kMaxControlLine bytes (INFO: kMaxInfoLine, as a cluster's INFO lists every
// server URL) are protocol errors (-1), sticky until reset().
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringgate::pubsub {

enum class NatsKind : std::uint8_t { info, msg, ping, pong, ok, err };

struct NatsEvent {
  NatsKind kind = NatsKind::ok;
  std::string_view subject, reply;  // msg
  std::uint64_t sid = 0;            // msg
  std::string_view payload;         // msg: the payload (HMSG: after the headers)
  std::string_view text;            // info: the JSON object; err: the message without quotes
};

class NatsParser {  // server -> client protocol; case-insensitive op names, as the NATS docs allow
 public:
  static constexpr std::size_t kMaxControlLine = 4096;   // bytes before CRLF (the server's default)
  static constexpr std::size_t kMaxInfoLine = 64u << 10;

  explicit NatsParser(std::size_t max_payload = 64u << 20) noexcept;
  bool feed(const char* data, std::size_t len) noexcept;  // false: out of memory / over limits
  // 1 = ev filled / 0 need more / -1 protocol error (bad op, bad sizes, control line > 4 KiB,
  // payload > max)
  int next(NatsEvent& ev) noexcept;
  void reset() noexcept;

 private:
  int fail() noexcept {
    failed_ = true;
    return -1;
  }
  int parse_line(std::string_view line, std::size_t line_bytes, NatsEvent& ev) noexcept;

  std::string buf_;
  std::size_t head_ = 0;  // bytes of buf_ already returned as events
  std::size_t max_payload_;
  bool failed_ = false;
};

// Builders append to `out`.
// CONNECT {"verbose":false,"pedantic":false,"echo":true,"headers":true,"no_responders":false,
//          "lang":"c++","version":"0.7","protocol":1,"name":...}\r\n   (name JSON-escaped)
void nats_connect(std::string& out, std::string_view name) noexcept;
void nats_sub(std::string& out, std::string_view subject, std::uint64_t sid) noexcept;
void nats_unsub(std::string& out, std::uint64_t sid) noexcept;
void nats_pub(std::string& out, std::string_view subject, std::string_view head, std::string_view data) noexcept;  // payload = head + data
void nats_ping(std::string& out) noexcept;
void nats_pong(std::string& out) noexcept;
std::uint64_t nats_max_payload(std::string_view info_json) noexcept;  // from INFO; 0 when absent

}  // namespace ringgate::pubsub
