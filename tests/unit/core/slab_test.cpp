#include "ringgate/core/slab.hpp"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace ringgate {
namespace {

struct Item {
  explicit Item(int v) : value(v) { ++live; }
  ~Item() { --live; }
  int value;
  static inline int live = 0;
};

TEST(Slab, AllocGetFree) {
  Slab<Item> slab;
  ASSERT_TRUE(slab.init(4));
  SlabId a, b;
  Item* x = slab.alloc(a, 7);
  Item* y = slab.alloc(b, 8);
  ASSERT_NE(x, nullptr);
  ASSERT_NE(y, nullptr);
  EXPECT_NE(a.index, b.index);
  EXPECT_EQ(slab.get(a), x);
  EXPECT_EQ(slab.get(b)->value, 8);
  EXPECT_EQ(slab.size(), 2u);
  EXPECT_EQ(Item::live, 2);
  slab.free(a.index);
  EXPECT_EQ(Item::live, 1);
  EXPECT_EQ(slab.get(a), nullptr) << "a freed id must be stale";
  EXPECT_EQ(slab.size(), 1u);
}

TEST(Slab, ReusedSlotHasNewGeneration) {
  Slab<Item> slab;
  ASSERT_TRUE(slab.init(1));
  SlabId first, second;
  ASSERT_NE(slab.alloc(first, 1), nullptr);
  slab.free(first.index);
  ASSERT_NE(slab.alloc(second, 2), nullptr);
  EXPECT_EQ(first.index, second.index);
  EXPECT_NE(first.generation, second.generation);
  EXPECT_EQ(slab.get(first), nullptr);
  EXPECT_EQ(slab.get(second)->value, 2);
  // The masked lookup (24 bits as carried in user_data) agrees.
  EXPECT_EQ(slab.get_masked(second.index, second.generation, 0xffffff), slab.get(second));
  EXPECT_EQ(slab.get_masked(first.index, first.generation, 0xffffff), nullptr);
}

TEST(Slab, FullReturnsNull) {
  Slab<Item> slab;
  ASSERT_TRUE(slab.init(3));
  SlabId id;
  for (int i = 0; i < 3; ++i) ASSERT_NE(slab.alloc(id, i), nullptr);
  EXPECT_EQ(slab.alloc(id, 9), nullptr);
  EXPECT_EQ(slab.size(), 3u);
}

TEST(Slab, ForEachVisitsLiveOnlyAndIndexOfRoundTrips) {
  Slab<Item> slab;
  ASSERT_TRUE(slab.init(16));
  std::vector<SlabId> ids(10);
  for (int i = 0; i < 10; ++i) slab.alloc(ids[i], i);
  for (int i = 0; i < 10; i += 2) slab.free(ids[i].index);
  std::set<int> seen;
  slab.for_each([&](std::uint32_t index, Item& it) {
    EXPECT_EQ(slab.index_of(&it), index);
    seen.insert(it.value);
  });
  EXPECT_EQ(seen, (std::set<int>{1, 3, 5, 7, 9}));
}

TEST(Slab, LargeCapacityCostsNoMemoryUntilUsed) {
  // A million slots of 128 bytes: the reservation must succeed without committing memory.
  struct Big {
    char bytes[128];
  };
  Slab<Big> slab;
  ASSERT_TRUE(slab.init(1'000'000));
  SlabId id;
  ASSERT_NE(slab.alloc(id), nullptr);
  EXPECT_EQ(slab.capacity(), 1'000'000u);
}

}  // namespace
}  // namespace ringgate
