#include "ringgate/core/log.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "ringgate/core/check.hpp"
#include "ringgate/core/result.hpp"

namespace ringgate {
namespace {
std::atomic<LogLevel> g_level{LogLevel::info};
std::atomic<std::uint64_t> g_bugs{0};

const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "?";
}
}  // namespace

void set_log_level(LogLevel level) noexcept { g_level.store(level, std::memory_order_relaxed); }
LogLevel log_level() noexcept { return g_level.load(std::memory_order_relaxed); }

void log(LogLevel level, const char* fmt, ...) noexcept {
  if (level < log_level()) return;
  char line[4096];
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t;
  gmtime_r(&ts.tv_sec, &t);
  int n = std::snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ", t.tm_year + 1900,
                        t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1000000,
                        level_name(level));
  va_list ap;
  va_start(ap, fmt);
  int m = std::vsnprintf(line + n, sizeof line - std::size_t(n) - 1, fmt, ap);
  va_end(ap);
  std::size_t len = std::size_t(n) + (m < 0 ? 0 : std::min<std::size_t>(std::size_t(m), sizeof line - std::size_t(n) - 2));
  line[len++] = '\n';
  ssize_t w = ::write(STDERR_FILENO, line, len);
  (void)w;
}

bool RateLimiter::allow(std::uint64_t now_s) noexcept {
  if (now_s != window_s_) {
    window_s_ = now_s;
    used_ = 0;
  }
  if (used_ < burst_) {
    ++used_;
    return true;
  }
  ++suppressed_;
  return false;
}

std::uint64_t RateLimiter::take_suppressed() noexcept {
  std::uint64_t s = suppressed_;
  suppressed_ = 0;
  return s;
}

void check_failed(const char* expr, const char* file, int line) noexcept {
  log(LogLevel::error, "fatal check failed: %s at %s:%d", expr, file, line);
  __builtin_trap();
}

void bug_seen(const char* expr, const char* file, int line) noexcept {
  g_bugs.fetch_add(1, std::memory_order_relaxed);
  log(LogLevel::error, "bug: %s at %s:%d", expr, file, line);
}

std::uint64_t bugs_seen() noexcept { return g_bugs.load(std::memory_order_relaxed); }

std::string_view errc_name(Errc e) noexcept {
  switch (e) {
    case Errc::ok: return "ok";
    case Errc::again: return "again";
    case Errc::no_buffers: return "no_buffers";
    case Errc::canceled: return "canceled";
    case Errc::closed: return "closed";
    case Errc::address_in_use: return "address_in_use";
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::not_supported: return "not_supported";
    case Errc::no_memory: return "no_memory";
    case Errc::too_many_files: return "too_many_files";
    case Errc::permission: return "permission";
    case Errc::io: return "io";
  }
  return "unknown";
}

Errc errc_from_errno(int err) noexcept {
  switch (err) {
    case 0: return Errc::ok;
    case EAGAIN: return Errc::again;
    case ENOBUFS: return Errc::no_buffers;
    case ECANCELED: return Errc::canceled;
    case ECONNRESET: case EPIPE: case ENOTCONN: case ESHUTDOWN: return Errc::closed;
    case EADDRINUSE: return Errc::address_in_use;
    case EINVAL: return Errc::invalid_argument;
    case EOPNOTSUPP: case ENOSYS: return Errc::not_supported;
    case ENOMEM: return Errc::no_memory;
    case EMFILE: case ENFILE: return Errc::too_many_files;
    case EPERM: case EACCES: return Errc::permission;
    default: return Errc::io;
  }
}

}  // namespace ringgate
