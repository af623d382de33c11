// Metrics primitives. Each worker owns its counters and is their only writer, so an increment is
// a relaxed load + store (no locked instruction); the admin thread reads them with relaxed loads
// and sums across workers when it renders Prometheus text.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringgate {

class Counter {
 public:
  void add(std::uint64_t n = 1) noexcept {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

class Gauge {
 public:
  void add(std::int64_t n) noexcept {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void set(std::int64_t n) noexcept { v_.store(n, std::memory_order_relaxed); }
  std::int64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> v_{0};
};

// Renders the Prometheus text exposition format (version 0.0.4).
class PromWriter {
 public:
  // Writes "# HELP" and "# TYPE" once per family; call before the family's samples.
  void family(std::string_view name, std::string_view type, std::string_view help);
  // One sample. `labels` is the inside of the braces, e.g. `reason="bad_key"`, or empty.
  void sample(std::string_view name, std::string_view labels, double value);
  void sample(std::string_view name, std::string_view labels, std::uint64_t value);
  const std::string& text() const noexcept { return out_; }

 private:
  std::string out_;
};

}  // namespace ringgate
