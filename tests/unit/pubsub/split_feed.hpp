// Feeding a stream parser in pieces: the events must not depend on where the reads cut the
// stream. `pieces(bytes, cuts)` feeds `bytes` cut at the offsets in `cuts` and returns the events.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <string_view>
#include <vector>

namespace ringgate::pubsub::test_support {

// The same events whole, in two pieces cut at every position, and byte by byte; returns them.
template <class Pieces>
auto same_events_however_cut(std::string_view bytes, Pieces pieces) {
  const auto whole = pieces(bytes, std::vector<std::size_t>{});
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    EXPECT_EQ(pieces(bytes, std::vector<std::size_t>{cut}), whole) << "cut at " << cut;
  }
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < bytes.size(); ++i) every.push_back(i);
  EXPECT_EQ(pieces(bytes, every), whole) << "byte by byte";
  return whole;
}

}  // namespace ringgate::pubsub::test_support
