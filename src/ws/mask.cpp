// Masking kernels and their one-time dispatch. Every kernel first rotates the key by `phase`, so
// the body always works with a key that starts at byte 0: vector widths (32, 64) and the 8-byte
// scalar word are multiples of 4, hence the rotated key stays aligned with the data through the
// whole loop and the tail.
#include "ringgate/ws/mask.hpp"

#include <immintrin.h>

#include <atomic>
#include <cstring>

namespace ringgate::ws {
namespace {

struct RotatedKey {
  std::uint8_t bytes[8];  // the key twice, starting at `phase`
  std::uint32_t word32() const noexcept {
    std::uint32_t w;
    std::memcpy(&w, bytes, 4);
    return w;
  }
  std::uint64_t word64() const noexcept {
    std::uint64_t w;
    std::memcpy(&w, bytes, 8);
    return w;
  }
};

inline RotatedKey rotate(const std::uint8_t key[4], std::size_t phase) noexcept {
  RotatedKey k;
  for (std::size_t i = 0; i < 8; ++i) k.bytes[i] = key[(phase + i) & 3];
  return k;
}

// XOR with the rotated key from offset 0; n may be anything, used for tails and small inputs.
inline void xor_words(std::uint8_t* p, std::size_t n, const RotatedKey& k) noexcept {
  const std::uint64_t w = k.word64();
  for (; n >= 8; n -= 8, p += 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    v ^= w;
    std::memcpy(p, &v, 8);
  }
  for (std::size_t i = 0; i < n; ++i) p[i] ^= k.bytes[i];
}

using UnmaskFn = std::size_t (*)(std::uint8_t*, std::size_t, const std::uint8_t*, std::size_t) noexcept;

UnmaskFn pick() noexcept {
  if (detail::cpu_has_avx512()) return &detail::unmask_avx512;
  if (detail::cpu_has_avx2()) return &detail::unmask_avx2;
  return &detail::unmask_scalar;
}

std::size_t resolve_and_unmask(std::uint8_t* p, std::size_t n, const std::uint8_t* key, std::size_t phase) noexcept;

// Constant-initialised to the resolver, so a call during static initialisation is still safe;
// the first call replaces it with the chosen kernel. Races only store the same value.
std::atomic<UnmaskFn> g_unmask{&resolve_and_unmask};

std::size_t resolve_and_unmask(std::uint8_t* p, std::size_t n, const std::uint8_t* key, std::size_t phase) noexcept {
  const UnmaskFn fn = pick();
  g_unmask.store(fn, std::memory_order_relaxed);
  return fn(p, n, key, phase);
}

}  // namespace

namespace detail {

bool cpu_has_avx2() noexcept {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
}

bool cpu_has_avx512() noexcept {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
}

std::size_t unmask_scalar(std::uint8_t* p, std::size_t n, const std::uint8_t key[4], std::size_t phase) noexcept {
  xor_words(p, n, rotate(key, phase));
  return (phase + n) & 3;
}

namespace {

// Below one full vector: 32/16/8/1-byte steps with plain loads and stores. Masked stores are not
// used here because a masked load that overlaps a recent store does not get the store forwarded
// (measured on Zen 4: ~7 ns instead of ~4 ns per 16-byte frame when frames are back to back).
__attribute__((target("avx2"))) inline void xor_small(std::uint8_t* q, std::size_t left, const RotatedKey& k,
                                                      __m256i kv) noexcept {
  if (left >= 32) {
    auto* v = reinterpret_cast<__m256i*>(q);
    _mm256_storeu_si256(v, _mm256_xor_si256(_mm256_loadu_si256(v), kv));
    left -= 32;
    q += 32;
  }
  if (left >= 16) {
    auto* v = reinterpret_cast<__m128i*>(q);
    _mm_storeu_si128(v, _mm_xor_si128(_mm_loadu_si128(v), _mm256_castsi256_si128(kv)));
    left -= 16;
    q += 16;
  }
  xor_words(q, left, k);
}

}  // namespace

__attribute__((target("avx2"))) std::size_t unmask_avx2(std::uint8_t* p, std::size_t n, const std::uint8_t key[4],
                                                        std::size_t phase) noexcept {
  const RotatedKey k = rotate(key, phase);
  const __m256i kv = _mm256_set1_epi32(static_cast<int>(k.word32()));
  std::uint8_t* q = p;
  std::size_t left = n;
  for (; left >= 128; left -= 128, q += 128) {
    auto* v = reinterpret_cast<__m256i*>(q);
    const __m256i a = _mm256_loadu_si256(v), b = _mm256_loadu_si256(v + 1);
    const __m256i c = _mm256_loadu_si256(v + 2), d = _mm256_loadu_si256(v + 3);
    _mm256_storeu_si256(v, _mm256_xor_si256(a, kv));
    _mm256_storeu_si256(v + 1, _mm256_xor_si256(b, kv));
    _mm256_storeu_si256(v + 2, _mm256_xor_si256(c, kv));
    _mm256_storeu_si256(v + 3, _mm256_xor_si256(d, kv));
  }
  for (; left >= 64; left -= 64, q += 64) {
    auto* v = reinterpret_cast<__m256i*>(q);
    const __m256i a = _mm256_loadu_si256(v), b = _mm256_loadu_si256(v + 1);
    _mm256_storeu_si256(v, _mm256_xor_si256(a, kv));
    _mm256_storeu_si256(v + 1, _mm256_xor_si256(b, kv));
  }
  xor_small(q, left, k, kv);
  return (phase + n) & 3;
}

__attribute__((target("avx512f,avx512bw"))) std::size_t unmask_avx512(std::uint8_t* p, std::size_t n,
                                                                      const std::uint8_t key[4],
                                                                      std::size_t phase) noexcept {
  const RotatedKey k = rotate(key, phase);
  if (n < 64) {  // small frames, often back to back: see xor_small
    xor_small(p, n, k, _mm256_set1_epi32(static_cast<int>(k.word32())));
    return (phase + n) & 3;
  }
  const __m512i kv = _mm512_set1_epi32(static_cast<int>(k.word32()));
  std::uint8_t* q = p;
  std::size_t left = n;
  for (; left >= 256; left -= 256, q += 256) {
    const __m512i a = _mm512_loadu_si512(q), b = _mm512_loadu_si512(q + 64);
    const __m512i c = _mm512_loadu_si512(q + 128), d = _mm512_loadu_si512(q + 192);
    _mm512_storeu_si512(q, _mm512_xor_si512(a, kv));
    _mm512_storeu_si512(q + 64, _mm512_xor_si512(b, kv));
    _mm512_storeu_si512(q + 128, _mm512_xor_si512(c, kv));
    _mm512_storeu_si512(q + 192, _mm512_xor_si512(d, kv));
  }
  for (; left >= 64; left -= 64, q += 64) {
    _mm512_storeu_si512(q, _mm512_xor_si512(_mm512_loadu_si512(q), kv));
  }
  if (left != 0) {
    // Masked load/store: bytes past the end are neither read nor written, so no scalar tail.
    // The window starts where this call's own stores ended, so it does not hit store forwarding.
    const __mmask64 m = ~std::uint64_t{0} >> (64 - left);
    const __m512i v = _mm512_maskz_loadu_epi8(m, q);
    _mm512_mask_storeu_epi8(q, m, _mm512_xor_si512(v, kv));
  }
  return (phase + n) & 3;
}

}  // namespace detail

std::size_t unmask(std::uint8_t* p, std::size_t n, const std::uint8_t key[4], std::size_t phase) noexcept {
  return g_unmask.load(std::memory_order_relaxed)(p, n, key, phase);
}

const char* unmask_isa() noexcept {
  const UnmaskFn fn = pick();
  if (fn == &detail::unmask_avx512) return "avx512";
  if (fn == &detail::unmask_avx2) return "avx2";
  return "scalar";
}

}  // namespace ringgate::ws
