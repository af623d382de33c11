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

// Wall-clock milliseconds since the Unix epoch: only for timestamps other machines read (broker
// envelopes), never for deadlines.
inline std::uint64_t realtime_ms() noexcept {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return std::uint64_t(ts.tv_sec) * 1000u + std::uint64_t(ts.tv_nsec) / 1'000'000u;
}

}  // namespace ringgate
