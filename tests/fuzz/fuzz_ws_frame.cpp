// libFuzzer target for the ws codec. Input: [seed byte][wire bytes...].
//  1. The wire bytes go to a server-role Parser once whole and once cut into pieces whose sizes
//     come from the seed; both runs must give the same completed events, close code and, when
//     there is no error, the same consumed count and pending partial data. Delivered text must be
//     valid UTF-8 and control payloads at most 125 bytes.
//  2. unmask() (dispatched) and the AVX2 kernel must agree with the scalar kernel.
//  3. Utf8Stream over the same pieces and validate_utf8 must agree with validate_utf8_scalar.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "ringgate/ws/frame.hpp"
#include "ringgate/ws/mask.hpp"
#include "ringgate/ws/utf8.hpp"

#include "fuzz_check.hpp"

namespace {

using ringgate::ws::Opcode;
using Bytes = std::vector<std::uint8_t>;

struct Event {
  int kind;  // 0 data message, 1 ping, 2 pong, 3 close
  Opcode op;
  std::uint16_t code;
  Bytes payload;
  bool operator==(const Event&) const = default;
};

struct Sink {
  std::vector<Event> events;
  Bytes partial;
  bool have_partial_op = false;
  Opcode partial_op = Opcode::text;

  void on_data(Opcode op, std::span<std::uint8_t> chunk, bool end) {
    FUZZ_CHECK(op == Opcode::text || op == Opcode::binary);
    if (!have_partial_op) partial_op = op, have_partial_op = true;
    FUZZ_CHECK(op == partial_op);
    partial.insert(partial.end(), chunk.begin(), chunk.end());
    if (end) {
      if (op == Opcode::text) FUZZ_CHECK(ringgate::ws::validate_utf8_scalar(partial.data(), partial.size()));
      events.push_back({0, op, 0, partial});
      partial.clear();
      have_partial_op = false;
    }
  }
  void on_ping(std::span<const std::uint8_t> p) {
    FUZZ_CHECK(p.size() <= ringgate::ws::kMaxControlPayload);
    events.push_back({1, Opcode::ping, 0, Bytes(p.begin(), p.end())});
  }
  void on_pong(std::span<const std::uint8_t> p) {
    FUZZ_CHECK(p.size() <= ringgate::ws::kMaxControlPayload);
    events.push_back({2, Opcode::pong, 0, Bytes(p.begin(), p.end())});
  }
  void on_close(std::uint16_t code, std::string_view reason) {
    FUZZ_CHECK(code == 1005 || ringgate::ws::is_valid_close_code(code));
    FUZZ_CHECK(ringgate::ws::validate_utf8_scalar(reinterpret_cast<const std::uint8_t*>(reason.data()), reason.size()));
    events.push_back({3, Opcode::close, code, Bytes(reason.begin(), reason.end())});
  }
};

struct Run {
  Sink sink;
  std::uint16_t close_code = 0;
  std::size_t consumed = 0;
};

// Piece ends for the input, from a small xorshift generator seeded by the seed byte and length.
std::vector<std::size_t> piece_ends(std::uint8_t seed, std::size_t n) {
  std::vector<std::size_t> ends;
  std::uint32_t x = 0x9E3779B9u ^ (seed * 0x01000193u) ^ static_cast<std::uint32_t>(n);
  const std::size_t max_piece = (seed & 0x3F) + 1;
  for (std::size_t pos = 0; pos < n;) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    pos = std::min(n, pos + 1 + x % max_piece);
    ends.push_back(pos);
  }
  return ends;
}

Run parse(Bytes wire, const std::vector<std::size_t>& ends, const ringgate::ws::Limits& limits) {
  ringgate::ws::Parser parser(ringgate::ws::Role::server);
  Run run;
  std::size_t start = 0;
  for (std::size_t end : ends) {
    const auto r = parser.feed(wire.data() + start, end - start, run.sink, limits);
    run.consumed += r.consumed;
    FUZZ_CHECK(r.consumed <= end - start);
    if (r.close_code != 0) {
      FUZZ_CHECK(r.close_code == 1002 || r.close_code == 1007 || r.close_code == 1009);
      FUZZ_CHECK(parser.closed() && r.reason != nullptr && std::strlen(r.reason) <= 123);
      run.close_code = r.close_code;
      break;
    }
    if (parser.closed()) break;
    FUZZ_CHECK(r.consumed == end - start);
    start = end;
  }
  return run;
}

void check_parser(std::uint8_t seed, const Bytes& wire) {
  const ringgate::ws::Limits limits{(seed & 0x40) ? 300u : 16u << 20};
  const Run once = parse(wire, {wire.size()}, limits);
  const Run split = parse(wire, piece_ends(seed, wire.size()), limits);
  FUZZ_CHECK(once.sink.events == split.sink.events);
  FUZZ_CHECK(once.close_code == split.close_code);
  if (once.close_code == 0) {
    FUZZ_CHECK(once.consumed == split.consumed);
    FUZZ_CHECK(once.sink.partial == split.sink.partial);
  }
}

void check_unmask(std::uint8_t seed, const Bytes& data) {
  if (data.size() < 4) return;
  const std::uint8_t key[4] = {data[0], data[1], data[2], data[3]};
  const std::size_t phase = seed & 3;
  const std::size_t offset = (seed >> 2) & 31;  // unaligned starts
  Bytes ref(offset + data.size() + 64, 0x5A);
  std::memcpy(ref.data() + offset, data.data(), data.size());
  Bytes dispatched = ref, avx2 = ref;
  const std::size_t p1 = ringgate::ws::detail::unmask_scalar(ref.data() + offset, data.size(), key, phase);
  const std::size_t p2 = ringgate::ws::unmask(dispatched.data() + offset, data.size(), key, phase);
  FUZZ_CHECK(p1 == p2 && p1 == ((phase + data.size()) & 3));
  FUZZ_CHECK(ref == dispatched);
  static const bool has_avx2 = ringgate::ws::detail::cpu_has_avx2();
  if (has_avx2) {
    ringgate::ws::detail::unmask_avx2(avx2.data() + offset, data.size(), key, phase);
    FUZZ_CHECK(ref == avx2);
  }
}

void check_utf8(std::uint8_t seed, const Bytes& data) {
  const bool want = ringgate::ws::validate_utf8_scalar(data.data(), data.size());
  FUZZ_CHECK(ringgate::ws::validate_utf8(data.data(), data.size()) == want);
  ringgate::ws::Utf8Stream stream;
  bool ok = true;
  std::size_t start = 0;
  for (std::size_t end : piece_ends(static_cast<std::uint8_t>(seed ^ 0xA5), data.size())) {
    ok = stream.feed(data.data() + start, end - start);
    if (!ok) break;
    start = end;
  }
  FUZZ_CHECK((ok && stream.complete()) == want);
  if (ok && !stream.complete()) {  // all accepted: only a cut-off sequence (1..3 bytes) may be missing
    bool valid_before_cut = false;
    for (std::size_t k = 1; k <= 3 && k <= data.size(); ++k) {
      valid_before_cut |= ringgate::ws::validate_utf8_scalar(data.data(), data.size() - k);
    }
    FUZZ_CHECK(valid_before_cut);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t seed = data[0];
  const Bytes wire(data + 1, data + size);
  check_parser(seed, wire);
  check_unmask(seed, wire);
  check_utf8(seed, wire);
  return 0;
}
