// The gateway's kinds of ring operation, in the shared user_data encoding (net/user_data.hpp).
#pragma once

#include <cstdint>

#include "ringgate/net/user_data.hpp"

namespace ringgate::gateway {

enum Kind : std::uint8_t {
  kAccept = 1, kRecv, kSend, kClose, kCancel, kShutdown, kFdInstall, kWake,
  kPeerFd,  // FIXED_FD_INSTALL to learn a connection's TCP peer (trusted-proxy check)
  kKtlsFd,  // FIXED_FD_INSTALL to setsockopt kTLS keys on a direct descriptor
  kBroker,  // a broker connection's operation: slot = link << 4 | op, generation = the link's epoch
};
inline constexpr std::uint32_t kGenMask = net::kUdGenMask;
inline constexpr std::uint32_t kNoSlot = net::kUdNoSlot;

inline std::uint64_t make_ud(Kind kind, std::uint32_t generation, std::uint32_t slot) noexcept {
  return net::make_ud(kind, generation, slot);
}
inline Kind kind_of(std::uint64_t ud) noexcept { return Kind(net::ud_kind(ud)); }
inline std::uint32_t slot_of(std::uint64_t ud) noexcept { return net::ud_slot(ud); }
inline std::uint32_t gen_of(std::uint64_t ud) noexcept { return net::ud_gen(ud); }

}  // namespace ringgate::gateway
