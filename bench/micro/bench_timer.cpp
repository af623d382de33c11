// Timer wheel micro-benchmarks with 100k armed entries (a worker's worth of idle connections):
// arm+cancel, eager re-arm, lazy push_later, and advance() in steady state, on an idle loop turn,
// with traffic pushing idle deadlines, and across a one-day jump.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>

#include "ringgate/timer/wheel.hpp"

namespace {

using ringgate::timer::Entry;
using ringgate::timer::Wheel;

constexpr std::uint64_t kStartMs = 1'000'000;
constexpr std::uint64_t kIdleMs = 60'000;

// Entries first: the wheel is destroyed first and disarms them.
struct Armed {
  explicit Armed(std::size_t n, std::uint64_t spread_ms = kIdleMs)
      : entries(std::make_unique<Entry[]>(n)), count(n), wheel(kStartMs) {
    for (std::size_t i = 0; i < n; ++i) wheel.arm(entries[i], kStartMs + 1 + i * spread_ms / n);
  }
  // Round-robin over the entries without a division in the measured loop.
  Entry& next() noexcept {
    if (++cursor == count) cursor = 0;
    return entries[cursor];
  }
  std::unique_ptr<Entry[]> entries;
  std::size_t count;
  std::size_t cursor = 0;
  Wheel wheel;
};

void BM_ArmCancel(benchmark::State& state) {
  Armed a(std::size_t(state.range(0)));
  Entry e;
  std::uint64_t i = 0;
  for (auto _ : state) {
    a.wheel.arm(e, kStartMs + 30'000 + (++i & 4095));
    a.wheel.cancel(e);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ArmCancel)->Arg(100'000);

// Eager re-arm to a later deadline: the entry moves to another slot every time.
void BM_ReArmMove(benchmark::State& state) {
  Armed a(std::size_t(state.range(0)));
  std::uint64_t i = 0;
  for (auto _ : state) {
    a.wheel.arm(a.next(), kStartMs + kIdleMs + i);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ReArmMove)->Arg(100'000);

// Lazy re-arm ("last traffic" pushes the idle deadline): stores the deadline, no list work.
void BM_PushLater(benchmark::State& state) {
  Armed a(std::size_t(state.range(0)));
  std::uint64_t i = 0;
  for (auto _ : state) {
    a.wheel.push_later(a.next(), kStartMs + kIdleMs + i);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PushLater)->Arg(100'000);

// One loop turn per 10 ms tick; every fired entry re-arms for another idle period, so the wheel
// stays at 100k entries and ~17 fire per tick. Items = entries fired.
void BM_AdvanceSteady(benchmark::State& state) {
  Armed a(std::size_t(state.range(0)));
  std::uint64_t now = kStartMs;
  std::size_t fired = 0;
  for (auto _ : state) {
    now += a.wheel.tick_ms();
    fired += a.wheel.advance(now, [&](Entry& e) { a.wheel.arm(e, now + kIdleMs); });
    benchmark::DoNotOptimize(a.wheel.next_deadline_ms());
  }
  state.SetItemsProcessed(std::int64_t(fired));
  state.counters["fired_per_advance"] = double(fired) / double(state.iterations());
}
BENCHMARK(BM_AdvanceSteady)->Arg(100'000);

// The common loop turn: time moved less than a tick, nothing due.
void BM_AdvanceIdleTurn(benchmark::State& state) {
  Armed a(std::size_t(state.range(0)));
  a.wheel.advance(kStartMs, [](Entry&) {});
  for (auto _ : state) {
    benchmark::DoNotOptimize(a.wheel.advance(kStartMs, [](Entry&) {}));
    benchmark::DoNotOptimize(a.wheel.next_deadline_ms());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AdvanceIdleTurn)->Arg(100'000);

// Idle connections with traffic: per 10 ms tick, 1% of connections see traffic and push their
// idle deadline; slots that come due re-link the pushed entries instead of firing them.
void BM_AdvanceWithTraffic(benchmark::State& state) {
  Armed a(std::size_t(state.range(0)));
  std::uint64_t now = kStartMs;
  std::size_t idx = 0;
  std::size_t fired = 0;
  const std::size_t per_tick = a.count / 100;
  for (auto _ : state) {
    now += a.wheel.tick_ms();
    for (std::size_t k = 0; k < per_tick; ++k) {
      idx += 7919;  // scattered connections, as traffic would touch them
      if (idx >= a.count) idx -= a.count;
      a.wheel.push_later(a.entries[idx], now + kIdleMs);
    }
    fired += a.wheel.advance(now, [&](Entry& e) { a.wheel.arm(e, now + kIdleMs); });
  }
  state.SetItemsProcessed(state.iterations() * std::int64_t(per_tick));
  state.counters["fired_per_advance"] = double(fired) / double(state.iterations());
  state.counters["relinked_per_advance"] =
      double(a.wheel.stats().relinked) / double(state.iterations());
}
BENCHMARK(BM_AdvanceWithTraffic)->Arg(100'000);

// 100k entries spread over a day, then one advance across the whole day. Items = entries fired.
void BM_AdvanceDayJump(benchmark::State& state) {
  const std::size_t n = std::size_t(state.range(0));
  constexpr std::uint64_t kDayMs = 86'400'000;
  auto entries = std::make_unique<Entry[]>(n);
  for (auto _ : state) {
    state.PauseTiming();
    Wheel wheel(kStartMs);
    for (std::size_t i = 0; i < n; ++i) wheel.arm(entries[i], kStartMs + 1 + i * kDayMs / n);
    state.ResumeTiming();
    benchmark::DoNotOptimize(wheel.advance(kStartMs + kDayMs, [](Entry&) {}));
  }
  state.SetItemsProcessed(state.iterations() * std::int64_t(n));
}
BENCHMARK(BM_AdvanceDayJump)->Arg(100'000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
