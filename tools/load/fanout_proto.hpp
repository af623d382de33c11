// Wire format of the fanout mode (issue 6 client protocol), both directions, without a JSON
// library: the tool writes the payloads itself, so a top-level field scanner over the server's
// frames is enough. The scanner skips nested values, strings with escapes and whitespace, so a
// field of the same name inside `data` never shadows a top-level one. Pure; no allocation.
//
// Publish payload (`data`): {"t":<CLOCK_MONOTONIC ns at publish>,"p":<publisher>,"n":<counter>,
// "pad":"xxx..."} padded so the data object is `size` bytes (or its minimum when larger).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ringgate::load {

// Value bytes of top-level field `key` in the JSON object `obj` (strings keep their quotes).
bool json_field(std::string_view obj, std::string_view key, std::string_view& value) noexcept;
bool json_u64(std::string_view value, std::uint64_t& out) noexcept;
// "load.<k>" (quoted) -> k.
bool topic_index(std::string_view value, std::uint32_t& k) noexcept;

struct PubFields {
  std::uint32_t topic = 0, publisher = 0;
  std::uint64_t id = 0, n = 0, t_ns = 0;
  std::size_t size = 64;  // target size of the data object
};
// Max bytes the writers below need beyond the padding.
inline constexpr std::size_t kPubOverhead = 192;
// `{"op":"pub","id":..,"topic":"load.K","data":{...}}` (ws) or `{"topic":"load.K","data":{...}}`
// (HTTP body) into `out`, which holds at least pub_size(..) bytes. Returns the bytes written.
std::size_t pub_size(const PubFields& f, bool ws) noexcept;
std::size_t write_pub(char* out, const PubFields& f, bool ws) noexcept;

}  // namespace ringgate::load
