// Helpers shared by the ws unit tests: a sink that records parser events, a frame builder with an
// independent (byte-loop) masking reference, and a driver that feeds a byte stream in given pieces.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ringgate/ws/frame.hpp"

namespace ringgate::ws::test {

using Bytes = std::vector<std::uint8_t>;

inline Bytes bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// One completed event. Data chunks are joined per message, so the record does not depend on how
// the input was split; `chunks` keeps the raw count for the tests that care.
struct Event {
  enum Kind { message, ping, pong, close } kind;
  Opcode op = Opcode::continuation;
  Bytes payload;
  std::uint16_t code = 0;
  bool operator==(const Event&) const = default;
};

struct RecordingSink {
  std::vector<Event> events;
  Bytes partial;           // data of the message in progress
  Opcode partial_op = Opcode::continuation;
  std::size_t chunks = 0;  // on_data calls
  std::size_t empty_chunks = 0;
  bool op_mismatch = false;  // a chunk's opcode differed from its message's first chunk

  void on_data(Opcode op, std::span<std::uint8_t> chunk, bool end) {
    if (partial.empty() && partial_op == Opcode::continuation) partial_op = op;
    if (op != partial_op) op_mismatch = true;
    ++chunks;
    if (chunk.empty()) ++empty_chunks;
    partial.insert(partial.end(), chunk.begin(), chunk.end());
    if (end) {
      events.push_back({Event::message, op, partial, 0});
      partial.clear();
      partial_op = Opcode::continuation;
    }
  }
  void on_ping(std::span<const std::uint8_t> p) {
    events.push_back({Event::ping, Opcode::ping, Bytes(p.begin(), p.end()), 0});
  }
  void on_pong(std::span<const std::uint8_t> p) {
    events.push_back({Event::pong, Opcode::pong, Bytes(p.begin(), p.end()), 0});
  }
  void on_close(std::uint16_t code, std::string_view reason) {
    events.push_back({Event::close, Opcode::close, bytes(reason), code});
  }
};

// Reference masking, deliberately independent of unmask().
inline void xor_mask(std::uint8_t* p, std::size_t n, const std::uint8_t key[4], std::size_t phase = 0) {
  for (std::size_t i = 0; i < n; ++i) p[i] ^= key[(phase + i) & 3];
}

inline constexpr std::uint8_t kKey[4] = {0x37, 0xfa, 0x21, 0x3d};

// A frame as a client sends it (masked with kKey) unless masked = false. first_byte_extra ORs RSV
// bits or anything else into byte 0; the opcode is taken raw so reserved values can be built.
inline Bytes frame(std::uint8_t opcode, Bytes payload, bool fin = true, bool masked = true,
                   std::uint8_t first_byte_extra = 0) {
  Bytes out(14);
  const std::size_t h = write_header(out.data(), static_cast<Opcode>(opcode & 0x0F), fin, payload.size(),
                                     masked ? kKey : nullptr);
  out.resize(h);
  out[0] |= first_byte_extra;
  if (masked) xor_mask(payload.data(), payload.size(), kKey);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

inline Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

struct Outcome {
  std::vector<Event> events;
  std::uint16_t close_code = 0;
  std::string reason;
  std::size_t consumed = 0;  // total over all feeds
  std::size_t chunks = 0;
  bool op_mismatch = false;
  bool closed = false;
};

// Feeds `input` cut at the given positions (ascending, within the input); stops after an error.
inline Outcome run(Bytes input, const std::vector<std::size_t>& cuts, Role role = Role::server,
                   Limits limits = {}) {
  Parser parser(role);
  RecordingSink sink;
  Outcome out;
  std::size_t start = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(input.size());
  for (std::size_t end : ends) {
    const FeedResult r = parser.feed(input.data() + start, end - start, sink, limits);
    out.consumed += r.consumed;
    if (r.close_code != 0) {
      out.close_code = r.close_code;
      out.reason = r.reason;
      break;
    }
    start = end;
  }
  out.events = sink.events;
  out.chunks = sink.chunks;
  out.op_mismatch = sink.op_mismatch;
  out.closed = parser.closed();
  return out;
}

inline Outcome run_once(Bytes input, Role role = Role::server, Limits limits = {}) {
  return run(std::move(input), {}, role, limits);
}

}  // namespace ringgate::ws::test
