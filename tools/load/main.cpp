// ringgate-load: io_uring WebSocket load generator (echo, hold over ws:// or wss://; handshake:
// TLS handshakes per second, see handshake.hpp; fanout: pub/sub delivery, see fanout_run.hpp). The main thread sets the run's
// phases, samples progress once per second (live line on a TTY, plain lines otherwise), samples
// the server from /proc around the measured window, and renders the results; workers do all I/O.
// Exit code: 0 = no errors, 1 = the run completed with errors, 2 = bad usage or set-up failure.
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "fanout_run.hpp"
#include "handshake.hpp"
#include "options.hpp"
#include "proc_sample.hpp"
#include "report.hpp"
#include "tls_conn.hpp"
#include "worker.hpp"

namespace ringgate::load {
namespace {

volatile sig_atomic_t g_interrupted = 0;
void on_signal(int) { g_interrupted = 1; }

// Handshake mode: C slots over min(CPUs, C) workers; warm-up, measured window, then the slots
// finish their cycle and stop.
class HandshakeRun {
 public:
  HandshakeRun(const Options& o, std::shared_ptr<tls::ClientContext> ctx) : o_(o) { shared_.tls = std::move(ctx); }

  int execute() {
    unsigned threads = o_.threads ? o_.threads : std::min(usable_cpus(), o_.connections);
    threads = std::min(threads, o_.connections);
    shared_.opts = &o_;
    shared_.workers = threads;
    shared_.phase.store(Phase::warmup, std::memory_order_release);
    r_.threads = threads;
    ProcSample s0, s1;
    if (o_.server_pid) {
      if (!sample_procs(o_.server_pids).ok) {
        std::fprintf(stderr, "ringgate-load: cannot read /proc/PID for every --server-pid\n");
        return 2;
      }
      r_.server = true;
    }
    shared_.start_ns = now_ns();
    for (unsigned i = 0; i < threads; ++i) {
      std::uint32_t n = o_.connections / threads + (i < o_.connections % threads ? 1 : 0);
      workers_.push_back(std::make_unique<HandshakeWorker>(shared_, i, n));
    }
    for (auto& w : workers_) w->start();
    sleep_for(o_.warmup_s, "warm-up");
    shared_.phase.store(Phase::measure, std::memory_order_release);
    std::uint64_t t0 = now_ns();
    double cpu0 = self_cpu_seconds();
    if (r_.server) s0 = sample_procs(o_.server_pids);
    sleep_for(o_.duration_s, "measure");
    shared_.phase.store(Phase::closing, std::memory_order_release);
    std::uint64_t t1 = now_ns();
    r_.client_cpu_s = self_cpu_seconds() - cpu0;
    if (r_.server) s1 = sample_procs(o_.server_pids);
    r_.window_s = double(t1 - t0) / 1e9;
    double end = double(now_ns()) / 1e9 + o_.close_timeout_s;
    while (!g_interrupted && live() > 0 && double(now_ns()) / 1e9 < end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    shared_.phase.store(Phase::done, std::memory_order_release);
    for (auto& w : workers_) w->join();
    for (auto& w : workers_) {
      if (!w->fatal().empty()) std::fprintf(stderr, "ringgate-load: %s\n", w->fatal().c_str());
      r_.stats.merge(w->stats());
    }
    if (!o_.quiet && isatty(STDERR_FILENO)) std::fputc('\n', stderr);
    return collect(s0, s1);
  }

 private:
  std::uint64_t live() const {
    std::uint64_t n = 0;
    for (auto& w : workers_) n += w->progress().live.load(std::memory_order_relaxed);
    return n;
  }
  void sleep_for(double seconds, const char* label) {
    double start = double(now_ns()) / 1e9, next = start + 1;
    std::uint64_t last = 0;
    for (;;) {
      double now = double(now_ns()) / 1e9;
      if (g_interrupted || now >= start + seconds) break;
      std::this_thread::sleep_for(std::chrono::duration<double>(std::min(0.05, start + seconds - now)));
      if (double(now_ns()) / 1e9 < next || o_.quiet) continue;
      next += 1;
      std::uint64_t hs = 0, failed = 0;
      for (auto& w : workers_) {
        hs += w->progress().handshakes.load(std::memory_order_relaxed);
        failed += w->progress().failed.load(std::memory_order_relaxed);
      }
      bool tty = isatty(STDERR_FILENO);
      std::fprintf(stderr, "%s[%6.1fs] %-8s handshakes %llu (%llu/s) failed %llu%s", tty ? "\r\033[K" : "",
                   double(now_ns() - shared_.start_ns) / 1e9, label, (unsigned long long)hs,
                   (unsigned long long)(hs - last), (unsigned long long)failed, tty ? "" : "\n");
      std::fflush(stderr);
      last = hs;
    }
  }

  int collect(const ProcSample& s0, const ProcSample& s1) {
    const HandshakeStats& s = r_.stats;
    for (int i = 0; i < kCauses; ++i) {
      if (Cause(i) == Cause::tls_handshake || s.causes[i] == 0) continue;
      r_.causes.emplace_back(cause_name(Cause(i)), s.causes[i]);
    }
    for (int i = 0; i < tls::kFailureCount; ++i) {
      if (s.tls_failures[i]) {
        r_.causes.emplace_back("tls_" + std::string(tls::failure_name(tls::Failure(i))), s.tls_failures[i]);
      }
    }
    r_.handshakes_per_s = r_.window_s > 0 ? double(s.handshakes) / r_.window_s : 0;
    if (r_.server && s0.ok && s1.ok) {
      double ns = double(s1.sched_ns - s0.sched_ns);
      r_.server_cpu_cores = r_.window_s > 0 ? ns / 1e9 / r_.window_s : 0;
      if (s.handshakes > 0) r_.server_cpu_ns_per_handshake = ns / double(s.handshakes);
    }
    print_handshake_summary(o_, r_);
    int rc = s.failures == 0 && s.handshakes > 0 ? 0 : 1;
    if (o_.resume != "none" && s.resumed == 0 && s.handshakes > 0) {
      std::fprintf(stderr, "ringgate-load: --resume %s but no handshake resumed\n", o_.resume.c_str());
      rc = 1;
    }
    std::string why;
    if (!o_.json.empty() && !write_handshake_json(o_, r_, why)) {
      std::fprintf(stderr, "ringgate-load: %s\n", why.c_str());
      rc = 2;
    }
    return rc;
  }

  const Options& o_;
  WorkerShared shared_;
  std::vector<std::unique_ptr<HandshakeWorker>> workers_;
  HandshakeResults r_;
};

class Run {
 public:
  Run(const Options& o, std::shared_ptr<tls::ClientContext> ctx) : o_(o) { shared_.tls = std::move(ctx); }

  int execute() {
    const unsigned threads = rings_for(o_.connections, o_.threads);
    if (threads == 0) return 2;
    shared_.opts = &o_;
    shared_.workers = threads;
    std::uint32_t per = (o_.connections + threads - 1) / threads;
    shared_.slots = std::max<unsigned>(per, 16);
    r_.threads = threads;
    r_.slots_per_ring = shared_.slots;
    if (o_.server_pid) {
      before_ = sample_procs(o_.server_pids);
      if (!before_.ok) {
        std::fprintf(stderr, "ringgate-load: cannot read /proc/PID for every --server-pid\n");
        return 2;
      }
      r_.server = true;
      r_.server_rss_before = before_.rss_bytes;
    }
    shared_.start_ns = now_ns();
    for (unsigned i = 0; i < threads; ++i) {
      std::uint32_t n = o_.connections / threads + (i < o_.connections % threads ? 1 : 0);
      workers_.push_back(std::make_unique<Worker>(shared_, i, n));
    }
    for (auto& w : workers_) w->start();
    cpu0_ = self_cpu_seconds();
    connect_phase();
    if (o_.mode == "echo") {
      echo_phases();
    } else {
      hold_phase();
    }
    close_phase();
    for (auto& w : workers_) w->join();
    return collect();
  }

 private:
  std::uint64_t sum(std::atomic<std::uint64_t> WorkerProgress::*f) const {
    std::uint64_t s = 0;
    for (auto& w : workers_) s += (w->progress().*f).load(std::memory_order_relaxed);
    return s;
  }
  double elapsed() const { return double(now_ns() - shared_.start_ns) / 1e9; }

  // Sleeps up to `seconds` in 1 s ticks (progress), returning early when `until` says so.
  template <class Pred>
  void tick_for(double seconds, const char* label, Pred until) {
    double end = elapsed() + seconds;
    while (!g_interrupted && !until()) {
      double left = end - elapsed();
      if (left <= 0) break;
      double step = std::min(left, std::min(0.05, next_tick_ - elapsed()));
      if (step > 0) std::this_thread::sleep_for(std::chrono::duration<double>(step));
      if (elapsed() >= next_tick_) progress(label);
    }
  }

  void progress(const char* label) {
    double t = elapsed();
    std::uint64_t msgs = sum(&WorkerProgress::messages), est = sum(&WorkerProgress::established);
    double dt = t - last_t_;
    double mps = dt > 0 ? double(msgs - last_msgs_) / dt : 0;
    double cps = dt > 0 ? double(est - last_est_) / dt : 0;
    r_.series.push_back({t, mps, est - sum_closed_guard()});
    last_t_ = t, last_msgs_ = msgs, last_est_ = est;
    next_tick_ = std::floor(t) + 1.0;
    if (o_.quiet) return;
    bool tty = isatty(STDERR_FILENO);
    std::fprintf(stderr, "%s[%6.1fs] %-9s established %llu (%+.0f/s) failed %llu live %llu  messages/s %.0f%s",
                 tty ? "\r\033[K" : "", t, label, (unsigned long long)est, cps,
                 (unsigned long long)sum(&WorkerProgress::failed), (unsigned long long)sum(&WorkerProgress::live), mps,
                 tty ? "" : "\n");
    std::fflush(stderr);
  }
  std::uint64_t sum_closed_guard() const { return 0; }

  void connect_phase() {
    const double limit = o_.connect_timeout_s + (o_.rate > 0 ? o_.connections / o_.rate : 0) + 5;
    tick_for(limit, "connect", [&] {
      return sum(&WorkerProgress::established) + sum(&WorkerProgress::failed) >= o_.connections;
    });
    std::uint64_t last = 0;
    for (auto& w : workers_) last = std::max<std::uint64_t>(last, w->progress().last_established_ns.load());
    r_.time_to_establish_s = last > shared_.start_ns ? double(last - shared_.start_ns) / 1e9 : 0;
  }

  void window_begin() {
    t0_ = now_ns();
    cpu_w0_ = self_cpu_seconds();
    m0_ = sum(&WorkerProgress::measured);
    if (r_.server) s0_ = sample_procs(o_.server_pids);
  }
  void window_end(bool count_messages) {
    std::uint64_t t1 = now_ns();
    r_.window_s = double(t1 - t0_) / 1e9;
    double cpu = self_cpu_seconds() - cpu_w0_;
    r_.client_cpu_cores = r_.window_s > 0 ? cpu / r_.window_s : 0;
    if (count_messages) r_.messages = sum(&WorkerProgress::measured) - m0_;
    if (r_.server) {
      ProcSample s1 = sample_procs(o_.server_pids);
      if (s0_.ok && s1.ok) {
        double ns = double(s1.sched_ns - s0_.sched_ns);
        r_.server_cpu_cores = r_.window_s > 0 ? ns / 1e9 / r_.window_s : 0;
        if (r_.messages > 0) r_.server_cpu_ns_per_message = ns / double(r_.messages);
        r_.server_rss_after = s1.rss_bytes;
      }
    }
  }

  void echo_phases() {
    shared_.phase.store(Phase::warmup, std::memory_order_release);
    tick_for(o_.warmup_s, "warm-up", [] { return false; });
    shared_.phase.store(Phase::measure, std::memory_order_release);
    window_begin();
    tick_for(o_.duration_s, "measure", [] { return false; });
    window_end(true);
    shared_.phase.store(Phase::drain, std::memory_order_release);
    tick_for(2.0, "drain", [&] { return sum(&WorkerProgress::inflight) == 0; });
  }

  void hold_phase() {
    // Client CPU while connecting is what matters for hold; the held window is idle.
    double setup = elapsed();
    r_.client_cpu_cores = setup > 0 ? (self_cpu_seconds() - cpu0_) / setup : 0;
    double setup_cores = r_.client_cpu_cores;
    shared_.phase.store(Phase::measure, std::memory_order_release);
    window_begin();
    tick_for(o_.duration_s, "hold", [] { return false; });
    window_end(false);
    r_.client_cpu_cores = std::max(setup_cores, r_.client_cpu_cores);
  }

  void close_phase() {
    shared_.phase.store(Phase::closing, std::memory_order_release);
    tick_for(o_.close_timeout_s, "close", [&] { return sum(&WorkerProgress::live) == 0; });
    shared_.phase.store(Phase::done, std::memory_order_release);
    progress("done");
    if (!o_.quiet && isatty(STDERR_FILENO)) std::fputc('\n', stderr);
  }

  int collect() {
    for (auto& w : workers_) {
      if (!w->fatal().empty()) std::fprintf(stderr, "ringgate-load: %s\n", w->fatal().c_str());
    }
    std::uint64_t causes[kCauses] = {};
    std::uint64_t mismatches = 0;
    for (auto& w : workers_) {
      for (int i = 0; i < kCauses; ++i) causes[i] += w->causes()[i];
      const ScenarioStats& s = w->stats();
      r_.latency_ns.merge(s.latency_ns);
      mismatches += s.mismatches;
      r_.establish_ns.merge(w->establish_ns());
      r_.established += w->progress().established.load();
      r_.failed += w->progress().failed.load();
      r_.closed_cleanly += w->closed_cleanly();
    }
    causes[int(Cause::payload_mismatch)] += mismatches;
    for (int i = 0; i < kCauses; ++i) {
      if (causes[i]) r_.causes.emplace_back(cause_name(Cause(i)), causes[i]);
      r_.errors += causes[i];
    }
    if (r_.window_s > 0) {
      r_.messages_per_s = double(r_.messages) / r_.window_s;
      r_.bytes_per_s = r_.messages_per_s * double(o_.size);
    }
    r_.client_cpu_limit = double(std::min(usable_cpus(), r_.threads));
    r_.client_saturated = r_.client_cpu_cores >= 0.9 * r_.client_cpu_limit;
    if (r_.server && r_.established > 0) {
      if (o_.mode == "hold" || r_.server_rss_after == 0) {
        // the RSS sampled while every connection was held (window_end) is the one that counts
      }
      r_.server_rss_per_connection =
          r_.server_rss_after > r_.server_rss_before
              ? double(r_.server_rss_after - r_.server_rss_before) / double(r_.established)
              : 0;
    }
    print_summary(o_, r_);
    std::string why;
    int rc = r_.errors == 0 && r_.established == o_.connections ? 0 : 1;
    if (!o_.json.empty() && !write_json(o_, r_, why)) {
      std::fprintf(stderr, "ringgate-load: %s\n", why.c_str());
      rc = 2;
    }
    if (!o_.plot.empty() && !write_plot(o_, r_, why)) {
      std::fprintf(stderr, "ringgate-load: %s\n", why.c_str());
      rc = 2;
    }
    return rc;
  }

  const Options& o_;
  WorkerShared shared_;
  std::vector<std::unique_ptr<Worker>> workers_;
  Results r_;
  ProcSample before_, s0_;
  std::uint64_t t0_ = 0, m0_ = 0, last_msgs_ = 0, last_est_ = 0;
  double cpu0_ = 0, cpu_w0_ = 0, last_t_ = 0, next_tick_ = 1.0;
};

}  // namespace
}  // namespace ringgate::load

int main(int argc, char** argv) {
  using namespace ringgate::load;
  Options o;
  std::string err = parse_options(argc, argv, o);
  if (err == "help") {
    std::fputs(usage_text(), stdout);
    return 0;
  }
  if (!err.empty()) {
    std::fprintf(stderr, "ringgate-load: %s\n%s", err.c_str(), usage_text());
    return 2;
  }
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  std::shared_ptr<ringgate::tls::ClientContext> ctx;
  if (o.tls) {
    std::string why;
    ctx = make_client_context(o, why);
    if (!ctx) {
      std::fprintf(stderr, "ringgate-load: TLS: %s\n", why.c_str());
      return 2;
    }
  }
  if (o.mode == "handshake") return HandshakeRun(o, std::move(ctx)).execute();
  if (o.mode == "fanout") return run_fanout(o, std::move(ctx), g_interrupted);
  return Run(o, std::move(ctx)).execute();
}
