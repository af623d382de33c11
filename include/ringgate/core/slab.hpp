// Slab<T>: a fixed-capacity pool of T with generation-tagged ids, one per worker.
//
// The slots live in one anonymous mapping reserved up front (MAP_NORESERVE), so capacity for a
// million connections costs address space, not memory: a page becomes resident only when a slot on
// it is first used. An id is (index, generation); the generation changes on every free, so a stale
// id (a late completion for a connection that is gone) never reaches the slot's new owner.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>

#include "ringgate/core/check.hpp"
#include "ringgate/core/result.hpp"

namespace ringgate {

struct SlabId {
  std::uint32_t index = 0;
  std::uint32_t generation = 0;
};

template <class T>
class Slab {
 public:
  Slab() noexcept = default;
  ~Slab() {
    for (std::uint32_t i = 0; i < high_water_; ++i) {
      if (live(i)) slot(i)->~T();
    }
    if (mem_ != nullptr) munmap(mem_, bytes_);
  }
  Slab(const Slab&) = delete;
  Slab& operator=(const Slab&) = delete;

  Result<void> init(std::uint32_t capacity) noexcept {
    capacity_ = capacity;
    bytes_ = std::size_t(capacity) * (sizeof(Cell) + sizeof(std::uint32_t));
    void* m = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (m == MAP_FAILED) return Errc::no_memory;
    mem_ = m;
    cells_ = static_cast<Cell*>(m);
    free_ = reinterpret_cast<std::uint32_t*>(cells_ + capacity);
    return {};
  }

  // Constructs a T in a free slot; nullptr when full.
  template <class... Args>
  T* alloc(SlabId& id, Args&&... args) noexcept {
    std::uint32_t i;
    if (free_count_ > 0) {
      i = free_[--free_count_];
    } else if (high_water_ < capacity_) {
      i = high_water_++;
    } else {
      return nullptr;
    }
    Cell& c = cells_[i];
    c.generation |= 1u;  // odd = live
    id = SlabId{i, c.generation};
    ++size_;
    return new (&c.storage) T(std::forward<Args>(args)...);
  }

  void free(std::uint32_t index) noexcept {
    RG_DEBUG_ASSERT(index < high_water_ && live(index));
    slot(index)->~T();
    cells_[index].generation += 1;  // even = free, and every old id is now stale
    free_[free_count_++] = index;
    --size_;
  }

  // The live T for this id, or nullptr if the id is stale.
  T* get(SlabId id) noexcept {
    if (id.index >= high_water_) return nullptr;
    Cell& c = cells_[id.index];
    return c.generation == id.generation && (c.generation & 1u) ? slot(id.index) : nullptr;
  }
  // Low bits of the generation only (as carried in io_uring user_data).
  T* get_masked(std::uint32_t index, std::uint32_t generation, std::uint32_t mask) noexcept {
    if (index >= high_water_) return nullptr;
    Cell& c = cells_[index];
    return (c.generation & mask) == (generation & mask) && (c.generation & 1u) ? slot(index) : nullptr;
  }

  // The index of a live T handed out by this slab (e.g. found through an intrusive timer entry).
  std::uint32_t index_of(const T* p) const noexcept {
    return std::uint32_t(reinterpret_cast<const Cell*>(p) - cells_);
  }

  bool live(std::uint32_t index) const noexcept { return cells_[index].generation & 1u; }
  T* slot(std::uint32_t index) noexcept { return std::launder(reinterpret_cast<T*>(&cells_[index].storage)); }
  std::uint32_t generation(std::uint32_t index) const noexcept { return cells_[index].generation; }
  std::uint32_t size() const noexcept { return size_; }
  std::uint32_t capacity() const noexcept { return capacity_; }
  std::uint32_t high_water() const noexcept { return high_water_; }

  // Calls fn(index, T&) for every live slot.
  template <class Fn>
  void for_each(Fn&& fn) noexcept {
    for (std::uint32_t i = 0; i < high_water_; ++i) {
      if (live(i)) fn(i, *slot(i));
    }
  }

  static constexpr std::size_t bytes_per_slot() noexcept { return sizeof(Cell); }

 private:
  struct Cell {
    alignas(T) unsigned char storage[sizeof(T)];
    std::uint32_t generation;
  };
  void* mem_ = nullptr;
  Cell* cells_ = nullptr;
  std::uint32_t* free_ = nullptr;
  std::size_t bytes_ = 0;
  std::uint32_t capacity_ = 0, high_water_ = 0, free_count_ = 0, size_ = 0;
};

}  // namespace ringgate
