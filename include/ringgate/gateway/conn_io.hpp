// ConnIo: everything a route may do to its connection, and nothing more. Routes (routes/*.cpp)
// hold no Worker, see no ring and no Connection struct: they write messages and bytes, close,
// pause or resume reading, move a deadline, and name the connection by an opaque token. The
// worker implements it (Worker::Port, worker_port.cpp) over the connection's output queue; the
// unit tests implement it with a recorder (tests/unit/gateway/routes_test.cpp).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <span>
#include <string_view>

#include "ringgate/ws/frame.hpp"

namespace ringgate::gateway {

class ConnIo {
 public:
  // The one way a WebSocket message leaves: a data message or a control frame, written whole
  // (write_message(), message_writer.cpp). A payload that is the connection's assembled input
  // message (on_message's data) may be queued in place instead of copied. False: out of memory
  // (the caller stops; the worker closes the connection with 1011).
  virtual bool send(ws::Opcode op, std::span<const std::uint8_t> payload) noexcept = 0;
  // Raw bytes (HTTP responses; any size).
  virtual bool write(std::string_view bytes) noexcept = 0;
  // WebSocket close with a code and reason; then the connection lingers until the peer's close.
  virtual void close(std::uint16_t code, std::string_view reason) noexcept = 0;
  // HTTP: the response is written; close once it is out (keep_alive false), or wait for the next
  // request within the keep-alive deadline.
  virtual void end_response(bool keep_alive) noexcept = 0;
  // Close at once, nothing more sent (out of memory).
  virtual void abort() noexcept = 0;
  // The connection gave its final answer or is closing: nothing more is read or answered.
  virtual bool ended() const noexcept = 0;
  // The route stops reading (its requests pile up) and starts again; independent of the worker's
  // own backpressure pause. Resuming a connection the route did not pause does nothing.
  virtual void pause_reading() noexcept = 0;
  virtual void resume_reading() noexcept = 0;
  // The connection's single deadline, `ms` from now (what happens then is the phase's timeout).
  virtual void arm_deadline(std::uint64_t ms) noexcept = 0;
  // (generation << 32) | slot: stable for the connection's life, never reused while it matters.
  virtual std::uint64_t token() const noexcept = 0;
  // Queued output plus what the peer's requests in flight hold, against --max-outbound-bytes.
  virtual std::uint64_t held_bytes() const noexcept = 0;
  // Four bits the route keeps in the connection (e.g. "a request is in flight"), zero at accept.
  virtual std::uint8_t route_state() const noexcept = 0;
  virtual void set_route_state(std::uint8_t bits) noexcept = 0;
  // The bytes a stream route (HTTP API) keeps between reads: append (false: over `limit` or out
  // of memory), look at, drop the first n.
  virtual bool stash(std::span<const std::uint8_t> bytes, std::size_t limit, std::size_t padding) noexcept = 0;
  virtual std::span<std::uint8_t> stashed() noexcept = 0;
  virtual void unstash(std::size_t n) noexcept = 0;
  // True while the gateway drains (a response should not offer keep-alive).
  virtual bool draining() const noexcept = 0;

 protected:
  ~ConnIo() = default;
};

}  // namespace ringgate::gateway
