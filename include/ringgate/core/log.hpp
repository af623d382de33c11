// Logging: one line per event to stderr, written with a single write(2) so lines from several
// workers never interleave. RateLimiter keeps a flood of bad peers from turning into a flood of
// log lines: at most `burst` lines per second per limiter, and a count of what was suppressed.
#pragma once

#include <cstdarg>
#include <cstdint>

namespace ringgate {

enum class LogLevel : std::uint8_t { debug, info, warn, error };

void set_log_level(LogLevel level) noexcept;
LogLevel log_level() noexcept;
void log(LogLevel level, const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3)));

class RateLimiter {
 public:
  explicit RateLimiter(std::uint32_t per_second = 10) noexcept : burst_(per_second) {}
  // True when a line may be written now; `now_s` is a coarse monotonic second count.
  bool allow(std::uint64_t now_s) noexcept;
  // Lines refused since the last allowed one (reset when read).
  std::uint64_t take_suppressed() noexcept;

 private:
  std::uint32_t burst_;
  std::uint32_t used_ = 0;
  std::uint64_t window_s_ = 0;
  std::uint64_t suppressed_ = 0;
};

}  // namespace ringgate

#define RG_LOG_INFO(...) ::ringgate::log(::ringgate::LogLevel::info, __VA_ARGS__)
#define RG_LOG_WARN(...) ::ringgate::log(::ringgate::LogLevel::warn, __VA_ARGS__)
#define RG_LOG_ERROR(...) ::ringgate::log(::ringgate::LogLevel::error, __VA_ARGS__)
#define RG_LOG_DEBUG(...) \
  do { if (::ringgate::log_level() == ::ringgate::LogLevel::debug) ::ringgate::log(::ringgate::LogLevel::debug, __VA_ARGS__); } while (0)
