// StringMap: an unordered_map keyed by std::string that is looked up by std::string_view without
// building a std::string first (heterogeneous lookup), so a lookup on a hot path never allocates,
// whatever the key's length.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ringgate {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

}  // namespace ringgate
