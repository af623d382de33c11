// Samples another process's CPU time and resident memory from /proc, for "server CPU per
// message" and "RSS per idle connection". Two CPU sources are kept because they disagree in
// resolution: schedstat (sum over /proc/PID/task/*/schedstat, nanoseconds, all live threads)
// and stat (utime+stime in clock ticks, includes exited threads). A sample with ok=false means
// the process was gone or unreadable; callers report that instead of a number.
#pragma once

#include <dirent.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace ringgate::load {

// This process's own CPU time (user + system), seconds.
inline double self_cpu_seconds() noexcept {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// CPUs this process may run on.
inline unsigned usable_cpus() noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  int n = CPU_COUNT(&set);
  return n > 0 ? unsigned(n) : 1u;
}

// Rings (one worker thread each) for `connections`: each ring's fixed-file table holds at most
// RLIMIT_NOFILE slots, so more connections need more rings. `requested` = --threads (0: one per
// usable CPU, or as many as the connections need). 0 after a message when `requested` is too few.
inline unsigned rings_for(unsigned connections, unsigned requested) noexcept {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  const unsigned slots = unsigned(rl.rlim_cur < (1u << 20) ? rl.rlim_cur : (1u << 20));
  const unsigned need = unsigned((std::uint64_t(connections) + slots - 1) / slots);
  unsigned threads = requested;
  if (threads == 0) threads = std::max(need, std::min(usable_cpus(), connections));
  if (threads < need) {
    std::fprintf(stderr, "ringgate-load: %u connections need at least %u rings of %u slots (--threads)\n",
                 connections, need, slots);
    return 0;
  }
  return threads;
}

struct ProcSample {
  bool ok = false;
  uint64_t sched_ns = 0;      // sum of on-CPU ns of all live threads (schedstat field 1)
  uint64_t stat_ticks = 0;    // utime + stime, clock ticks
  uint64_t rss_bytes = 0;     // VmRSS
  uint64_t threads = 0;
};

inline bool read_small_file(const std::string& path, char* buf, size_t cap) noexcept {
  FILE* f = std::fopen(path.c_str(), "re");
  if (!f) return false;
  size_t n = std::fread(buf, 1, cap - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  return n > 0;
}

// utime and stime are fields 14 and 15; field 2 (comm) may contain spaces, so parse after ')'.
inline bool read_stat_ticks(int pid, uint64_t& ticks) noexcept {
  char buf[2048];
  if (!read_small_file("/proc/" + std::to_string(pid) + "/stat", buf, sizeof buf)) return false;
  const char* p = std::strrchr(buf, ')');
  if (!p) return false;
  p += 2;  // skip ") "; now at field 3
  for (int field = 3; field < 14; ++field) {
    p = std::strchr(p, ' ');
    if (!p) return false;
    ++p;
  }
  char* end = nullptr;
  uint64_t ut = std::strtoull(p, &end, 10);
  uint64_t st = std::strtoull(end, nullptr, 10);
  ticks = ut + st;
  return true;
}

inline bool read_rss(int pid, uint64_t& rss) noexcept {
  char buf[4096];
  if (!read_small_file("/proc/" + std::to_string(pid) + "/status", buf, sizeof buf)) return false;
  const char* p = std::strstr(buf, "VmRSS:");
  if (!p) return false;
  rss = std::strtoull(p + 6, nullptr, 10) * 1024;
  return true;
}

inline bool read_sched_ns(int pid, uint64_t& ns, uint64_t& threads) noexcept {
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (!d) return false;
  ns = 0;
  threads = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char buf[256];
    if (!read_small_file(dir + "/" + e->d_name + "/schedstat", buf, sizeof buf)) continue;
    ns += std::strtoull(buf, nullptr, 10);
    ++threads;
  }
  closedir(d);
  return threads > 0;
}

inline ProcSample sample_proc(int pid) noexcept {
  ProcSample s;
  if (pid <= 0) return s;
  bool a = read_sched_ns(pid, s.sched_ns, s.threads);
  bool b = read_stat_ticks(pid, s.stat_ticks);
  bool c = read_rss(pid, s.rss_bytes);
  s.ok = a && b && c;
  return s;
}

// Sum over several processes (a multi-process server); ok only if every process was readable.
inline ProcSample sample_procs(const std::vector<int>& pids) noexcept {
  ProcSample sum;
  sum.ok = !pids.empty();
  for (int pid : pids) {
    ProcSample s = sample_proc(pid);
    sum.ok = sum.ok && s.ok;
    sum.sched_ns += s.sched_ns;
    sum.stat_ticks += s.stat_ticks;
    sum.rss_bytes += s.rss_bytes;
    sum.threads += s.threads;
  }
  return sum;
}

inline double ticks_to_ns(uint64_t ticks) noexcept {
  static const long hz = sysconf(_SC_CLK_TCK);
  return static_cast<double>(ticks) * 1e9 / static_cast<double>(hz > 0 ? hz : 100);
}

}  // namespace ringgate::load
