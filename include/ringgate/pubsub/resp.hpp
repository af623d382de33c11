// RESP2 for the Redis broker connections, sans-IO: commands are appended to an output string, and
// bytes read from the socket go into a RespReader that yields one classified event per reply.
// hiredis 0.14.1 does the framing (redisReader, redisFormatCommandArgv, linked privately); its
// async context is not used (it does its own I/O and aborts on smessage).
//
// Peer input never asserts: hiredis's own checks plus ours (array sizes, a bound on buffered bytes)
// turn every malformed or oversized stream into a protocol error (-1). hiredis allocates each
// reply object (and each formatted command); everything else here is reused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace ringgate::pubsub {

// Appends one RESP command built by hiredis's redisFormatCommandArgv. False = out of memory.
bool resp_append(std::string& out, std::initializer_list<std::string_view> args) noexcept;
// PUBLISH/SPUBLISH with the payload given as two pieces (envelope head + data), without joining
// them first. False = out of memory.
bool resp_append_publish(std::string& out, bool sharded, std::string_view channel, std::string_view head,
                         std::string_view data) noexcept;

enum class RespKind : std::uint8_t { message, subscribed, unsubscribed, pong, integer, status, error, other };

struct RespEvent {
  RespKind kind = RespKind::other;
  bool sharded = false;      // smessage / ssubscribe / sunsubscribe
  std::string_view channel;  // message, subscribed, unsubscribed (empty for a nil channel)
  std::string_view text;     // message: the payload; status/error: the text; pong: "PONG" or x of ["pong", x]
  long long integer = 0;     // integer reply; (un)subscribed: the count
};

// pong = the status reply "PONG" (a normal connection) or the push ["pong", x] (a subscribed one).
// Push kinds are matched exactly as Redis sends them (lowercase); pmessage and the like are other.
class RespReader {  // wraps redisReader
 public:
  // Bytes buffered but not yet returned as replies beyond this (Redis's largest bulk string,
  // proto-max-bulk-len, plus room) make feed() fail.
  static constexpr std::size_t kMaxBuffered = (512u << 20) + (64u << 10);
  // Arrays announcing more elements than this are a protocol error (hiredis would calloc them).
  static constexpr int kMaxArray = 1 << 20;

  RespReader() noexcept;
  ~RespReader();
  RespReader(const RespReader&) = delete;
  RespReader& operator=(const RespReader&) = delete;
  bool ok() const noexcept;
  bool feed(const char* data, std::size_t len) noexcept;  // false: protocol error or out of memory
  // 1 = ev filled (views valid until the next next()/feed()/reset()), 0 = need more bytes,
  // -1 = protocol error (sticky until reset()).
  int next(RespEvent& ev) noexcept;
  void reset() noexcept;  // a new connection

 private:
  void release() noexcept;
  void* reader_ = nullptr;  // redisReader
  void* reply_ = nullptr;   // redisReply behind the last event
  bool failed_ = false;     // a protocol error or an over-limit feed: sticky until reset()
};

}  // namespace ringgate::pubsub
