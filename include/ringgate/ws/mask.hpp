// WebSocket payload masking (RFC 6455 §5.3): XOR with a repeating 4-byte key. Unmasking is the
// same operation as masking, so one function serves the parser (peer frames) and a client writer.
// The key phase lets a frame split across several receive buffers continue where it stopped.
// The ISA is picked once at first use (AVX-512BW, AVX2 or scalar) with __builtin_cpu_supports;
// the SIMD versions are compiled with per-function target attributes, so the build needs no
// -march flag and the binary runs on any x86-64. The AVX-512 kernel ends large inputs with a
// masked load/store; inputs under 64 bytes take plain 32/16/8-byte steps instead, because a masked
// load overlapping the previous frame's fresh stores misses store forwarding (slower on Zen 4).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ringgate::ws {

// XOR n bytes at p with the key, starting at key byte `phase` (0..3). Returns (phase + n) & 3,
// the phase to pass for the next piece of the same frame. p need not be aligned.
std::size_t unmask(std::uint8_t* p, std::size_t n, const std::uint8_t key[4], std::size_t phase = 0) noexcept;

namespace detail {
std::size_t unmask_scalar(std::uint8_t* p, std::size_t n, const std::uint8_t key[4], std::size_t phase) noexcept;
// Only call these when cpu_has_avx2() / cpu_has_avx512() say so.
std::size_t unmask_avx2(std::uint8_t* p, std::size_t n, const std::uint8_t key[4], std::size_t phase) noexcept;
std::size_t unmask_avx512(std::uint8_t* p, std::size_t n, const std::uint8_t key[4], std::size_t phase) noexcept;
bool cpu_has_avx2() noexcept;
bool cpu_has_avx512() noexcept;  // AVX-512F + AVX-512BW (byte-granular masked stores)
}  // namespace detail

// Name of the implementation unmask() dispatches to: "avx512", "avx2" or "scalar".
const char* unmask_isa() noexcept;

}  // namespace ringgate::ws
