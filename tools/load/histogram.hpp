// Log-linear latency histogram (HdrHistogram-like, fixed size), moved here from bench/load.
// Values are nanoseconds. Each power-of-two range is split into kSub linear buckets, so the
// relative error of a reported percentile is at most 1/kSub (~3 %). Recording is O(1) with no
// allocation; per-thread histograms are merged by adding counts.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace ringgate::load {

class Histogram {
 public:
  static constexpr int kSubBits = 5;
  static constexpr std::uint64_t kSub = 1ull << kSubBits;
  static constexpr int kBuckets = (64 - kSubBits + 1) * int(kSub);

  void record(std::uint64_t v) noexcept {
    ++counts_[index_of(v)];
    ++total_;
    sum_ += v;
    if (v > max_) max_ = v;
  }
  void merge(const Histogram& o) noexcept {
    for (int i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    sum_ += o.sum_;
    if (o.max_ > max_) max_ = o.max_;
  }
  void reset() noexcept { *this = Histogram{}; }

  std::uint64_t total() const noexcept { return total_; }
  std::uint64_t max() const noexcept { return max_; }
  double mean() const noexcept { return total_ ? double(sum_) / double(total_) : 0.0; }

  // Upper bound of the bucket holding the q-quantile (q in [0,1]); clamped to the max seen.
  std::uint64_t quantile(double q) const noexcept {
    if (total_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_));
    if (rank >= total_) rank = total_ - 1;
    std::uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen > rank) {
        std::uint64_t hi = upper_of(i);
        return hi < max_ ? hi : max_;
      }
    }
    return max_;
  }

  static int index_of(std::uint64_t v) noexcept {
    if (v < kSub) return static_cast<int>(v);
    int e = 63 - std::countl_zero(v);  // e >= kSubBits
    int shift = e - kSubBits;
    std::uint64_t sub = (v >> shift) & (kSub - 1);
    return static_cast<int>((shift + 1) * int(kSub) + int(sub));
  }
  static std::uint64_t upper_of(int i) noexcept {
    if (i < static_cast<int>(kSub)) return static_cast<std::uint64_t>(i);
    int shift = i / static_cast<int>(kSub) - 1;
    std::uint64_t sub = static_cast<std::uint64_t>(i) % kSub;
    // The top power-of-two range ends at 2^64 - 1: saturate instead of overflowing.
    if (shift + kSubBits >= 63 && sub == kSub - 1) return ~0ull;
    std::uint64_t lo = (kSub + sub) << shift;
    return lo + ((1ull << shift) - 1);
  }

 private:
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t total_ = 0, sum_ = 0, max_ = 0;
};

}  // namespace ringgate::load
