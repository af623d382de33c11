// Histogram: bucket bounds, percentile accuracy (<= 1/32 relative), merge and edge cases.
#include "histogram.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace ringgate::load {
namespace {

TEST(Histogram, EmptyReportsZero) {
  Histogram h;
  EXPECT_EQ(h.total(), 0u);
  EXPECT_EQ(h.quantile(0.5), 0u);
  EXPECT_EQ(h.max(), 0u);
}

TEST(Histogram, SmallValuesAreExact) {
  Histogram h;
  for (std::uint64_t v = 0; v < 32; ++v) h.record(v);
  EXPECT_EQ(h.quantile(0.0), 0u);
  EXPECT_EQ(h.quantile(0.5), 16u);
  EXPECT_EQ(h.quantile(1.0), 31u);
}

TEST(Histogram, EveryValueFallsInsideItsBucket) {
  for (std::uint64_t v : {32ull, 33ull, 63ull, 64ull, 1000ull, 123456789ull, (1ull << 40) + 5, ~0ull}) {
    int i = Histogram::index_of(v);
    ASSERT_LT(i, Histogram::kBuckets);
    EXPECT_GE(Histogram::upper_of(i), v) << v;
    if (i > 0) {
      EXPECT_LT(Histogram::upper_of(i - 1), v) << v;
    }
  }
}

TEST(Histogram, PercentilesWithinRelativeError) {
  Histogram h;
  for (std::uint64_t v = 1; v <= 100000; ++v) h.record(v * 1000);  // 1 us .. 100 ms uniform
  auto near = [](std::uint64_t got, double want) {
    return double(got) >= want * 0.999 && double(got) <= want * (1 + 1.0 / 32) + 1;
  };
  EXPECT_TRUE(near(h.quantile(0.5), 50'000'000)) << h.quantile(0.5);
  EXPECT_TRUE(near(h.quantile(0.99), 99'000'000)) << h.quantile(0.99);
  EXPECT_TRUE(near(h.quantile(0.999), 99'900'000)) << h.quantile(0.999);
  EXPECT_EQ(h.quantile(1.0), 100'000'000u);  // clamped to the max seen
  EXPECT_EQ(h.max(), 100'000'000u);
  EXPECT_NEAR(h.mean(), 50'000'500.0, 1.0);
}

TEST(Histogram, TailIsNotHiddenByTheBulk) {
  Histogram h;
  for (int i = 0; i < 999; ++i) h.record(100);
  h.record(1'000'000);
  EXPECT_LE(h.quantile(0.99), 103u);
  EXPECT_GE(h.quantile(0.9995), 1'000'000u * 31 / 32);
}

TEST(Histogram, MergeAddsCountsAndKeepsMax) {
  Histogram a, b;
  for (int i = 0; i < 100; ++i) a.record(10);
  for (int i = 0; i < 100; ++i) b.record(5000);
  a.merge(b);
  EXPECT_EQ(a.total(), 200u);
  EXPECT_EQ(a.max(), 5000u);
  EXPECT_EQ(a.quantile(0.25), 10u);
  EXPECT_GE(a.quantile(0.75), 5000u * 31 / 32);
  a.reset();
  EXPECT_EQ(a.total(), 0u);
}

}  // namespace
}  // namespace ringgate::load
