// Fanout driver (see fanout_run.hpp).
#include "fanout_run.hpp"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>
#include <vector>

#include "fanout_api.hpp"
#include "fanout_scenario.hpp"
#include "proc_sample.hpp"
#include "report.hpp"
#include "worker.hpp"

namespace ringgate::load {
namespace {

class FanoutRun {
 public:
  FanoutRun(const Options& o, std::shared_ptr<tls::ClientContext> ctx, const volatile std::sig_atomic_t& intr)
      : o_(o), interrupted_(intr) {
    shared_.tls = std::move(ctx);
  }

  int execute() {
    const unsigned threads = rings_for(o_.connections, o_.threads);
    if (threads == 0) return 2;
    shared_.opts = &o_;
    shared_.workers = threads;
    shared_.slots = std::max<unsigned>((o_.connections + threads - 1) / threads, 16);
    r_.threads = threads;
    r_.slots_per_ring = shared_.slots;
    if (o_.server_pid) {
      ProcSample s = sample_procs(o_.server_pids);
      if (!s.ok) {
        std::fprintf(stderr, "ringgate-load: cannot read /proc/PID for every --server-pid\n");
        return 2;
      }
      r_.server = true;
      r_.server_rss_before = s.rss_bytes;
    }
    shared_.start_ns = now_ns();
    for (unsigned i = 0; i < threads; ++i) {
      std::uint32_t n = o_.connections / threads + (i < o_.connections % threads ? 1 : 0);
      workers_.push_back(std::make_unique<Worker>(shared_, i, n));
    }
    for (auto& w : workers_) w->start();
    if (o_.via_api) {
      api_ = std::make_unique<ApiPublisher>(o_, shared_);
      api_->start();
    }
    double cpu0 = self_cpu_seconds();
    connect_and_subscribe();
    publish_and_settle();
    double setup = std::max(1e-9, elapsed());
    r_.client_cpu_cores = std::max(r_.client_cpu_cores, (self_cpu_seconds() - cpu0) / setup);
    close_phase();
    for (auto& w : workers_) w->join();
    if (api_) api_->join();
    return collect();
  }

 private:
  std::uint64_t sum(std::atomic<std::uint64_t> WorkerProgress::*f) const {
    std::uint64_t s = 0;
    for (auto& w : workers_) s += (w->progress().*f).load(std::memory_order_relaxed);
    return s;
  }
  std::uint64_t published() const { return sum(&WorkerProgress::published) + (api_ ? api_->published.load() : 0); }
  std::uint64_t answered() const {
    return sum(&WorkerProgress::acked) + sum(&WorkerProgress::pub_errors) +
           (api_ ? api_->acked.load() + api_->errors.load() : 0);
  }
  std::uint64_t expected() const { return sum(&WorkerProgress::expected) + (api_ ? api_->expected.load() : 0); }
  double elapsed() const { return double(now_ns() - shared_.start_ns) / 1e9; }

  template <class Pred>
  void tick_for(double seconds, const char* label, Pred until) {
    double end = elapsed() + seconds;
    while (!interrupted_ && !until()) {
      double left = end - elapsed();
      if (left <= 0) break;
      std::this_thread::sleep_for(std::chrono::duration<double>(std::min(left, 0.005)));
      if (elapsed() >= next_tick_) progress(label);
    }
  }

  void progress(const char* label) {
    double t = elapsed();
    std::uint64_t deliveries = sum(&WorkerProgress::messages);
    double dt = t - last_t_;
    double dps = dt > 0 ? double(deliveries - last_deliveries_) / dt : 0;
    last_t_ = t, last_deliveries_ = deliveries;
    next_tick_ = std::floor(t) + 1.0;
    if (o_.quiet) return;
    bool tty = isatty(STDERR_FILENO);
    std::fprintf(stderr,
                 "%s[%6.1fs] %-9s established %llu failed %llu subscribed %llu published %llu acked %llu "
                 "deliveries %llu (%.0f/s)%s",
                 tty ? "\r\033[K" : "", t, label, (unsigned long long)sum(&WorkerProgress::established),
                 (unsigned long long)sum(&WorkerProgress::failed), (unsigned long long)sum(&WorkerProgress::subscribed),
                 (unsigned long long)published(), (unsigned long long)answered(), (unsigned long long)deliveries, dps,
                 tty ? "" : "\n");
    std::fflush(stderr);
  }

  void connect_and_subscribe() {
    const double limit = o_.connect_timeout_s + 5;
    tick_for(limit, "connect", [&] {
      return sum(&WorkerProgress::established) + sum(&WorkerProgress::failed) >= o_.connections;
    });
    std::uint64_t last = 0;
    for (auto& w : workers_) last = std::max<std::uint64_t>(last, w->progress().last_established_ns.load());
    r_.time_to_establish_s = last > shared_.start_ns ? double(last - shared_.start_ns) / 1e9 : 0;
    tick_for(o_.connect_timeout_s, "subscribe", [&] {
      return sum(&WorkerProgress::subscribed) + sum(&WorkerProgress::sub_errors) >= o_.subscribers ||
             sum(&WorkerProgress::failed) > 0;
    });
    // An API publisher still connecting would start late: give it the same time.
    if (api_) {
      tick_for(o_.connect_timeout_s, "api", [&] {
        return api_->connected.load() == o_.publishers || api_->errors.load() > 0;
      });
    }
    last = 0;
    for (auto& w : workers_) last = std::max<std::uint64_t>(last, w->progress().last_sub_ns.load());
    r_.subscribe_setup_s = last > shared_.start_ns ? double(last - shared_.start_ns) / 1e9 : 0;
  }

  void publish_and_settle() {
    shared_.publish_ns.store(now_ns(), std::memory_order_relaxed);
    if (o_.burst == 0 && o_.warmup_s > 0) {
      shared_.phase.store(Phase::warmup, std::memory_order_release);
      tick_for(o_.warmup_s, "warm-up", [] { return false; });
    }
    std::uint64_t t0 = now_ns();
    t0_ = t0;
    double cpu_w0 = self_cpu_seconds();
    ProcSample s0;
    if (r_.server) s0 = sample_procs(o_.server_pids);
    shared_.measure_ns.store(t0, std::memory_order_relaxed);
    shared_.phase.store(Phase::measure, std::memory_order_release);
    if (o_.burst > 0) {
      tick_for(o_.settle_s, "burst", [&] { return published() >= o_.burst; });
    } else {
      tick_for(o_.duration_s, "publish", [] { return false; });
    }
    std::uint64_t t1 = now_ns();
    shared_.phase.store(Phase::drain, std::memory_order_release);
    r_.window_s = double(t1 - t0) / 1e9;
    tick_for(o_.settle_s, "settle", [&] {
      return answered() >= published() && sum(&WorkerProgress::messages) >= expected();
    });
    std::uint64_t t2 = now_ns();
    double span = double(t2 - t0) / 1e9;
    r_.client_cpu_cores = span > 0 ? (self_cpu_seconds() - cpu_w0) / span : 0;
    if (r_.server) {
      ProcSample s1 = sample_procs(o_.server_pids);
      if (s0.ok && s1.ok) {
        server_ns_ = double(s1.sched_ns - s0.sched_ns);
        r_.server_cpu_cores = span > 0 ? server_ns_ / 1e9 / span : 0;
        r_.server_rss_after = s1.rss_bytes;
      }
    }
  }

  void close_phase() {
    shared_.phase.store(Phase::closing, std::memory_order_release);
    tick_for(o_.close_timeout_s, "close", [&] { return sum(&WorkerProgress::live) == 0; });
    shared_.phase.store(Phase::done, std::memory_order_release);
    progress("done");
    if (!o_.quiet && isatty(STDERR_FILENO)) std::fputc('\n', stderr);
  }

  void merge_acked(std::vector<std::vector<std::uint64_t>>& all, const std::vector<std::vector<std::uint64_t>>& part) {
    for (std::size_t t = 0; t < part.size() && t < all.size(); ++t) all[t].insert(all[t].end(), part[t].begin(), part[t].end());
  }

  int collect() {
    std::vector<std::vector<std::uint64_t>> acked(o_.topics), unnumbered(o_.topics);
    std::uint64_t causes[kCauses] = {};
    std::uint64_t first_t = ~0ull, last_delivery = 0;
    for (auto& w : workers_) {
      if (!w->fatal().empty()) std::fprintf(stderr, "ringgate-load: %s\n", w->fatal().c_str());
      for (int i = 0; i < kCauses; ++i) causes[i] += w->causes()[i];
      const ScenarioStats& s = w->stats();
      r_.latency_ns.merge(s.latency_ns);
      r_.measured += s.measured;
      r_.subscribed += s.subscribed, r_.sub_errors += s.sub_errors;
      r_.published += s.published, r_.acked += s.acked, r_.pub_errors += s.pub_errors;
      r_.established += w->progress().established.load();
      r_.failed += w->progress().failed.load();
      r_.closed_cleanly += w->closed_cleanly();
      if (auto* f = dynamic_cast<const FanoutScenario*>(w->scenario())) {
        merge_acked(acked, f->acked_by_topic());
        merge_acked(unnumbered, f->unnumbered_by_topic());
        r_.bad_frames += f->bad_frames();
        first_t = std::min(first_t, f->first_t_ns());
        last_delivery = std::max(last_delivery, f->last_delivery_ns());
        if (r_.first_error.empty()) r_.first_error = f->first_error();
      }
    }
    if (api_) {
      merge_acked(acked, api_->acked_by_topic());
      merge_acked(unnumbered, api_->unnumbered_by_topic());
      r_.published += api_->published.load();
      r_.acked += api_->acked.load();
      r_.pub_errors += api_->errors.load();
      if (r_.first_error.empty()) r_.first_error = api_->first_error();
    }
    for (auto& seqs : acked) {
      std::sort(seqs.begin(), seqs.end());
      auto end = std::unique(seqs.begin(), seqs.end());
      r_.duplicate_acks += std::uint64_t(seqs.end() - end);
      seqs.erase(end, seqs.end());
    }
    for (auto& times : unnumbered) std::sort(times.begin(), times.end());  // repeats are fine here
    for (auto& w : workers_) {
      if (auto* f = dynamic_cast<const FanoutScenario*>(w->scenario())) r_.counts += f->finish(acked, unnumbered);
    }
    for (int i = 0; i < kCauses; ++i) {
      if (causes[i]) r_.causes.emplace_back(cause_name(Cause(i)), causes[i]);
      r_.errors += causes[i];
    }
    if (o_.burst > 0 && r_.counts.deliveries > 0 && first_t != ~0ull && last_delivery >= first_t) {
      r_.time_to_last_delivery_s = double(last_delivery - first_t) / 1e9;
      r_.window_s = r_.time_to_last_delivery_s;
    }
    // A server that falls behind delivers after the window: rate over until the last delivery.
    r_.delivery_span_s = r_.window_s;
    if (last_delivery > t0_) r_.delivery_span_s = std::max(r_.window_s, double(last_delivery - t0_) / 1e9);
    r_.deliveries_per_s = r_.delivery_span_s > 0 ? double(r_.measured) / r_.delivery_span_s : 0;
    if (r_.server && server_ns_ >= 0 && r_.measured > 0) r_.server_cpu_ns_per_delivery = server_ns_ / double(r_.measured);
    r_.client_cpu_limit = double(std::min(usable_cpus(), r_.threads + (api_ ? 1u : 0u)));
    r_.client_saturated = r_.client_cpu_cores >= 0.9 * r_.client_cpu_limit;
    const FanoutCounts& c = r_.counts;
    r_.ok = c.missing == 0 && c.out_of_order == 0 && c.unexpected == 0 && r_.errors == 0 && r_.failed == 0 &&
            r_.established == o_.connections && r_.subscribed == o_.subscribers && r_.sub_errors == 0 &&
            r_.pub_errors == 0 && r_.acked > 0 && r_.acked == r_.published && r_.bad_frames == 0 &&
            r_.duplicate_acks == 0;
    print_fanout_summary(o_, r_);
    int rc = r_.ok ? 0 : 1;
    std::string why;
    if (!o_.json.empty() && !write_fanout_json(o_, r_, why)) {
      std::fprintf(stderr, "ringgate-load: %s\n", why.c_str());
      rc = 2;
    }
    return rc;
  }

  const Options& o_;
  const volatile std::sig_atomic_t& interrupted_;
  WorkerShared shared_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<ApiPublisher> api_;
  FanoutResults r_;
  double server_ns_ = -1, last_t_ = 0, next_tick_ = 1.0;
  std::uint64_t last_deliveries_ = 0, t0_ = 0;
};

}  // namespace

int run_fanout(const Options& o, std::shared_ptr<tls::ClientContext> ctx, const volatile std::sig_atomic_t& interrupted) {
  return FanoutRun(o, std::move(ctx), interrupted).execute();
}

}  // namespace ringgate::load
