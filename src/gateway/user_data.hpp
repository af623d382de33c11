// How a worker tags its ring operations: user_data = kind (8 bits) | generation (24) | slot (32).
// The generation makes a late completion for a freed slot harmless (see Slab).
#pragma once

#include <cstdint>

namespace ringgate::gateway {

enum Kind : std::uint8_t {
  kAccept = 1, kRecv, kSend, kClose, kCancel, kShutdown, kFdInstall, kWake,
  kPeerFd,  // FIXED_FD_INSTALL to learn a connection's TCP peer (trusted-proxy check)
  kKtlsFd,  // FIXED_FD_INSTALL to setsockopt kTLS keys on a direct descriptor
  kBroker,  // a broker connection's operation: slot = link << 4 | op, generation = the link's epoch
};
inline constexpr std::uint32_t kGenMask = 0xffffff;
inline constexpr std::uint32_t kNoSlot = 0xffffffff;

inline std::uint64_t make_ud(Kind kind, std::uint32_t generation, std::uint32_t slot) noexcept {
  return std::uint64_t(kind) << 56 | std::uint64_t(generation & kGenMask) << 32 | slot;
}
inline Kind kind_of(std::uint64_t ud) noexcept { return Kind(ud >> 56); }
inline std::uint32_t slot_of(std::uint64_t ud) noexcept { return std::uint32_t(ud); }
inline std::uint32_t gen_of(std::uint64_t ud) noexcept { return std::uint32_t(ud >> 32) & kGenMask; }

}  // namespace ringgate::gateway
