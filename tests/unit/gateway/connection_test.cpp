// The per-connection memory budget: an idle plain connection must cost at most 200 bytes of user
// space (issue target). The slab cell is the Connection plus its generation and a free-list index.
#include "ringgate/gateway/connection.hpp"

#include <gtest/gtest.h>

#include "ringgate/core/slab.hpp"

namespace ringgate::gateway {
namespace {

TEST(Connection, FitsTheIdleMemoryBudget) {
  const std::size_t per_connection = Slab<Connection>::bytes_per_slot() + sizeof(std::uint32_t);
  RecordProperty("sizeof_Connection", int(sizeof(Connection)));
  RecordProperty("bytes_per_connection", int(per_connection));
  EXPECT_LE(sizeof(Connection), 144u);
  EXPECT_LE(per_connection, 200u);
}

TEST(Connection, StartsIdleWithNothingAllocated) {
  Connection c;
  EXPECT_EQ(c.phase, Phase::handshake);
  EXPECT_TRUE(c.out.empty());
  EXPECT_EQ(c.in, nullptr);
  EXPECT_FALSE(c.timer.armed());
  EXPECT_FALSE(c.parser.in_message());
}

}  // namespace
}  // namespace ringgate::gateway
