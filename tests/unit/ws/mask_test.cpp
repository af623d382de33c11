// Masking kernels against a byte-loop reference: every length 0..300, every phase, unaligned
// starts, and guard bytes around the range (the AVX-512 tail uses masked stores that must not
// touch anything past the end).
#include "ringgate/ws/mask.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ws_test_util.hpp"

namespace ringgate::ws::test {
namespace {

using Kernel = std::size_t (*)(std::uint8_t*, std::size_t, const std::uint8_t*, std::size_t) noexcept;

void check_kernel(Kernel k, const char* name) {
  std::mt19937 rng(42);
  constexpr std::size_t kGuard = 64;
  std::vector<std::uint8_t> buf(300 + 2 * kGuard + 64);
  for (std::size_t n = 0; n <= 300; ++n) {
    for (std::size_t phase = 0; phase < 4; ++phase) {
      const std::size_t offset = kGuard + rng() % 64;  // unaligned start
      std::uint8_t key[4];
      for (auto& b : key) b = static_cast<std::uint8_t>(rng());
      for (auto& b : buf) b = static_cast<std::uint8_t>(rng());
      std::vector<std::uint8_t> want = buf;
      xor_mask(want.data() + offset, n, key, phase);
      const std::size_t next = k(buf.data() + offset, n, key, phase);
      ASSERT_EQ(next, (phase + n) & 3) << name << " n=" << n << " phase=" << phase;
      ASSERT_EQ(buf, want) << name << " n=" << n << " phase=" << phase << " offset=" << offset;
    }
  }
}

TEST(WsMask, Scalar) { check_kernel(&detail::unmask_scalar, "scalar"); }

TEST(WsMask, Avx2) {
  if (!detail::cpu_has_avx2()) GTEST_SKIP() << "no AVX2";
  check_kernel(&detail::unmask_avx2, "avx2");
}

TEST(WsMask, Avx512) {
  if (!detail::cpu_has_avx512()) GTEST_SKIP() << "no AVX-512BW";
  check_kernel(&detail::unmask_avx512, "avx512");
}

TEST(WsMask, Dispatched) {
  check_kernel(&unmask, "dispatch");
  const std::string isa = unmask_isa();
  if (detail::cpu_has_avx512()) {
    EXPECT_EQ(isa, "avx512");
  } else if (detail::cpu_has_avx2()) {
    EXPECT_EQ(isa, "avx2");
  } else {
    EXPECT_EQ(isa, "scalar");
  }
}

TEST(WsMask, PiecesWithCarriedPhaseEqualOneCall) {
  std::mt19937 rng(7);
  std::vector<std::uint8_t> whole(5000), pieces;
  for (auto& b : whole) b = static_cast<std::uint8_t>(rng());
  pieces = whole;
  unmask(whole.data(), whole.size(), kKey);
  std::size_t phase = 0;
  for (std::size_t pos = 0; pos < pieces.size();) {
    const std::size_t n = std::min<std::size_t>(1 + rng() % 200, pieces.size() - pos);
    phase = unmask(pieces.data() + pos, n, kKey, phase);
    pos += n;
  }
  EXPECT_EQ(phase, whole.size() & 3);
  EXPECT_EQ(pieces, whole);
}

TEST(WsMask, MaskTwiceRestores) {
  std::vector<std::uint8_t> v(1000, 0xAB), orig = v;
  unmask(v.data(), v.size(), kKey, 2);
  EXPECT_NE(v, orig);
  unmask(v.data(), v.size(), kKey, 2);
  EXPECT_EQ(v, orig);
}

}  // namespace
}  // namespace ringgate::ws::test
