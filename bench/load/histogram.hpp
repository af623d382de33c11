// Log-linear latency histogram for the load client (HdrHistogram-like, fixed size).
// Values are nanoseconds. Each power-of-two range is split into kSub linear buckets, so the
// relative error of a reported percentile is at most 1/kSub (~3 %). Recording is O(1), no
// allocation after construction, and two histograms can be merged by adding counts.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace load {

class Histogram {
 public:
  static constexpr int kSubBits = 5;
  static constexpr uint64_t kSub = 1ull << kSubBits;
  static constexpr int kBuckets = (64 - kSubBits + 1) * kSub;

  void record(uint64_t v) noexcept {
    ++counts_[index_of(v)];
    ++total_;
    if (v > max_) max_ = v;
  }

  void reset() noexcept {
    counts_.fill(0);
    total_ = 0;
    max_ = 0;
  }

  uint64_t total() const noexcept { return total_; }
  uint64_t max() const noexcept { return max_; }

  // Upper bound of the bucket holding the q-quantile (q in [0,1]); clamped to the max seen.
  uint64_t quantile(double q) const noexcept {
    if (total_ == 0) return 0;
    auto rank = static_cast<uint64_t>(q * static_cast<double>(total_));
    if (rank >= total_) rank = total_ - 1;
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen > rank) {
        uint64_t hi = upper_of(i);
        return hi < max_ ? hi : max_;
      }
    }
    return max_;
  }

 private:
  static int index_of(uint64_t v) noexcept {
    if (v < kSub) return static_cast<int>(v);
    int e = 63 - std::countl_zero(v);  // e >= kSubBits
    int shift = e - kSubBits;
    uint64_t sub = (v >> shift) & (kSub - 1);
    return static_cast<int>((shift + 1) * kSub + sub);
  }

  static uint64_t upper_of(int i) noexcept {
    if (i < static_cast<int>(kSub)) return static_cast<uint64_t>(i);
    int shift = i / static_cast<int>(kSub) - 1;
    uint64_t sub = static_cast<uint64_t>(i) % kSub;
    uint64_t lo = (kSub + sub) << shift;
    return lo + ((1ull << shift) - 1);
  }

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
  uint64_t max_ = 0;
};

}  // namespace load
