// Monotonic time. Workers read the clock once per loop turn and pass the value down, so code
// below the loop is deterministic and testable with a manual clock.
#pragma once

#include <cstdint>
#include <ctime>

namespace ringgate {

inline std::uint64_t monotonic_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000u + std::uint64_t(ts.tv_nsec);
}

inline std::uint64_t monotonic_ms() noexcept { return monotonic_ns() / 1'000'000u; }

}  // namespace ringgate
