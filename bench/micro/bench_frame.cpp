// Parser throughput on a buffer of many masked client frames (binary, and ASCII text so UTF-8
// validation runs), plus write_header. The parser unmasks in place, so each pass flips the payload
// between masked and clear; with an ASCII key on ASCII text both states stay valid UTF-8.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "ringgate/ws/frame.hpp"

namespace {

using ringgate::ws::Opcode;

struct CountingSink {
  std::size_t bytes = 0, messages = 0, control = 0;
  void on_data(Opcode, std::span<std::uint8_t> c, bool end) {
    bytes += c.size();
    messages += end;
  }
  void on_ping(std::span<const std::uint8_t>) { ++control; }
  void on_pong(std::span<const std::uint8_t>) { ++control; }
  void on_close(std::uint16_t, std::string_view) { ++control; }
};

std::vector<std::uint8_t> make_frames(Opcode op, std::size_t payload, std::size_t total_bytes, std::size_t& frames) {
  const std::uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};  // ASCII bytes: masked ASCII stays ASCII
  std::vector<std::uint8_t> out;
  while (out.size() < total_bytes) {
    std::uint8_t h[ringgate::ws::kMaxHeaderBytes];
    const std::size_t hl = ringgate::ws::write_header(h, op, true, payload, key);
    out.insert(out.end(), h, h + hl);
    for (std::size_t i = 0; i < payload; ++i) out.push_back(static_cast<std::uint8_t>('a' + i % 26));
    ++frames;
  }
  return out;
}

void parse(benchmark::State& state, Opcode op) {
  const std::size_t payload = static_cast<std::size_t>(state.range(0));
  std::size_t frames = 0;
  std::vector<std::uint8_t> buf = make_frames(op, payload, 256 << 10, frames);
  const ringgate::ws::Limits limits;
  CountingSink sink;
  for (auto _ : state) {
    ringgate::ws::Parser parser;
    const auto r = parser.feed(buf.data(), buf.size(), sink, limits);
    if (r.close_code != 0 || r.consumed != buf.size()) {
      state.SkipWithError(r.reason);
      break;
    }
    benchmark::DoNotOptimize(sink);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * frames));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * buf.size()));
}

void BM_ParseBinary(benchmark::State& s) { parse(s, Opcode::binary); }
void BM_ParseText(benchmark::State& s) { parse(s, Opcode::text); }
BENCHMARK(BM_ParseBinary)->Arg(16)->Arg(1024);
BENCHMARK(BM_ParseText)->Arg(16)->Arg(1024);

void BM_WriteHeader(benchmark::State& state) {
  static constexpr std::uint64_t kLens[] = {16, 1024, 100, 70000};
  std::uint8_t out[ringgate::ws::kMaxHeaderBytes];
  std::size_t i = 0, total = 0;
  for (auto _ : state) {
    total += ringgate::ws::write_header(out, Opcode::binary, true, kLens[i++ & 3]);
    benchmark::DoNotOptimize(out);
  }
  benchmark::DoNotOptimize(total);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_WriteHeader);

}  // namespace

BENCHMARK_MAIN();
