// Masking throughput per kernel (scalar, AVX2, AVX-512BW) and through the dispatcher, at message
// sizes from a tiny chat frame to 1 MiB. Unsupported ISAs are skipped with an error line.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "ringgate/ws/mask.hpp"

namespace {

using Kernel = std::size_t (*)(std::uint8_t*, std::size_t, const std::uint8_t*, std::size_t) noexcept;

void run(benchmark::State& state, Kernel kernel, bool supported) {
  if (!supported) {
    state.SkipWithError("ISA not supported on this CPU");
    return;
  }
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  std::vector<std::uint8_t> buf(n + 1, 0x5A);
  const std::uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  std::uint8_t* p = buf.data() + 1;  // unaligned, as payload after a header usually is
  std::size_t phase = 0;
  for (auto _ : state) {
    phase = kernel(p, n, key, phase);
    benchmark::DoNotOptimize(p);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(n));
}

void BM_UnmaskScalar(benchmark::State& s) { run(s, &ringgate::ws::detail::unmask_scalar, true); }
void BM_UnmaskAvx2(benchmark::State& s) {
  run(s, &ringgate::ws::detail::unmask_avx2, ringgate::ws::detail::cpu_has_avx2());
}
void BM_UnmaskAvx512(benchmark::State& s) {
  run(s, &ringgate::ws::detail::unmask_avx512, ringgate::ws::detail::cpu_has_avx512());
}
void BM_UnmaskDispatch(benchmark::State& s) {
  s.SetLabel(ringgate::ws::unmask_isa());
  run(s, &ringgate::ws::unmask, true);
}

#define SIZES Arg(16)->Arg(1024)->Arg(64 << 10)->Arg(1 << 20)
BENCHMARK(BM_UnmaskScalar)->SIZES;
BENCHMARK(BM_UnmaskAvx2)->SIZES;
BENCHMARK(BM_UnmaskAvx512)->SIZES;
BENCHMARK(BM_UnmaskDispatch)->SIZES;

}  // namespace

BENCHMARK_MAIN();
