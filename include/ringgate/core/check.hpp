// Three kinds of checks (never on peer input: bad input is an error value, a status or a close code):
//   RG_DEBUG_ASSERT(c)  debug-only invariant, compiled out in release builds;
//   RG_CHECK(c)         always-on fatal check for states that make continuing unsafe;
//   RG_BUG_IF(c)        "cannot happen" that is survivable: crash in debug, log + count in release.
#pragma once

#include <atomic>
#include <cstdint>

namespace ringgate {

[[noreturn]] void check_failed(const char* expr, const char* file, int line) noexcept;
void bug_seen(const char* expr, const char* file, int line) noexcept;
std::uint64_t bugs_seen() noexcept;

}  // namespace ringgate

#define RG_CHECK(c) \
  do { if (__builtin_expect(!(c), 0)) ::ringgate::check_failed(#c, __FILE__, __LINE__); } while (0)

#ifdef NDEBUG
#define RG_DEBUG_ASSERT(c) do { (void)sizeof(c); } while (0)
#define RG_BUG_IF(c) (__builtin_expect(!!(c), 0) ? (::ringgate::bug_seen(#c, __FILE__, __LINE__), true) : false)
#else
#define RG_DEBUG_ASSERT(c) RG_CHECK(c)
#define RG_BUG_IF(c) (__builtin_expect(!!(c), 0) ? (::ringgate::check_failed(#c, __FILE__, __LINE__), true) : false)
#endif
