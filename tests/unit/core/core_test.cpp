#include <gtest/gtest.h>

#include <cerrno>

#include "ringgate/core/log.hpp"
#include "ringgate/core/metrics.hpp"
#include "ringgate/core/result.hpp"

namespace ringgate {
namespace {

TEST(RateLimiter, AllowsBurstPerSecondAndCountsTheRest) {
  RateLimiter rl(3);
  EXPECT_TRUE(rl.allow(100));
  EXPECT_TRUE(rl.allow(100));
  EXPECT_TRUE(rl.allow(100));
  EXPECT_FALSE(rl.allow(100));
  EXPECT_FALSE(rl.allow(100));
  EXPECT_EQ(rl.take_suppressed(), 2u);
  EXPECT_EQ(rl.take_suppressed(), 0u);
  EXPECT_TRUE(rl.allow(101)) << "a new second opens a new window";
}

TEST(Result, CarriesValueOrError) {
  Result<int> ok = 5;
  Result<int> bad = Errc::closed;
  EXPECT_TRUE(ok);
  EXPECT_EQ(*ok, 5);
  EXPECT_FALSE(bad);
  EXPECT_EQ(bad.error(), Errc::closed);
  Result<void> v;
  EXPECT_TRUE(v);
  EXPECT_EQ(Result<void>(Errc::io).error(), Errc::io);
}

TEST(Errc, MapsErrno) {
  EXPECT_EQ(errc_from_errno(EAGAIN), Errc::again);
  EXPECT_EQ(errc_from_errno(ENOBUFS), Errc::no_buffers);
  EXPECT_EQ(errc_from_errno(ECONNRESET), Errc::closed);
  EXPECT_EQ(errc_from_errno(EADDRINUSE), Errc::address_in_use);
  EXPECT_EQ(errc_from_errno(EMFILE), Errc::too_many_files);
  EXPECT_EQ(errc_from_errno(EIO), Errc::io);
  EXPECT_EQ(errc_name(Errc::address_in_use), "address_in_use");
}

TEST(PromWriter, RendersFamiliesAndSamples) {
  PromWriter w;
  w.family("x_total", "counter", "Things.");
  w.sample("x_total", "", std::uint64_t(42));
  w.sample("x_total", "reason=\"a\"", std::uint64_t(1));
  EXPECT_EQ(w.text(),
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total 42\nx_total{reason=\"a\"} 1\n");
}

TEST(Counter, AddsAndReads) {
  Counter c;
  c.add();
  c.add(4);
  EXPECT_EQ(c.get(), 5u);
  Gauge g;
  g.add(3);
  g.add(-1);
  EXPECT_EQ(g.get(), 2);
}

}  // namespace
}  // namespace ringgate
