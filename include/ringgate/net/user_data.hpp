// The one encoding of io_uring user_data used by everything that owns a ring (the gateway's
// workers, the broker links, the load generator): kind (8 bits) | generation (24) | slot (32).
// Each owner names its own kinds (an enum over std::uint8_t); the generation makes a completion
// that arrives after its slot was freed and reused harmless (see Slab), and the slot says whose
// operation it was. 0 is never a valid kind, so a zero user_data is never one of ours.
#pragma once

#include <cstdint>

namespace ringgate::net {

inline constexpr std::uint32_t kUdGenMask = 0xffffff;
inline constexpr std::uint32_t kUdNoSlot = 0xffffffff;

constexpr std::uint64_t make_ud(std::uint8_t kind, std::uint32_t generation, std::uint32_t slot) noexcept {
  return std::uint64_t(kind) << 56 | std::uint64_t(generation & kUdGenMask) << 32 | slot;
}
constexpr std::uint8_t ud_kind(std::uint64_t ud) noexcept { return std::uint8_t(ud >> 56); }
constexpr std::uint32_t ud_slot(std::uint64_t ud) noexcept { return std::uint32_t(ud); }
constexpr std::uint32_t ud_gen(std::uint64_t ud) noexcept { return std::uint32_t(ud >> 32) & kUdGenMask; }

}  // namespace ringgate::net
