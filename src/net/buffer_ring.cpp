#include "ringgate/net/buffer_ring.hpp"

#include <liburing.h>
#include <sys/mman.h>

#include <cstring>

namespace ringgate::net {

BufferRing::~BufferRing() {
  if (br_ != nullptr) {
    if (ring_ != nullptr) (void)io_uring_unregister_buf_ring(ring_->raw(), group_);
    munmap(br_, ring_bytes_);
  }
  if (base_ != nullptr) munmap(base_, pool_bytes_);
}

Result<void> BufferRing::init(Ring& ring, std::uint16_t group, std::uint32_t count,
                              std::uint32_t buffer_bytes, std::uint32_t padding_bytes,
                              std::string& why) noexcept {
  if (count == 0 || (count & (count - 1)) != 0 || count > 32768) {
    why = "buffer ring size must be a power of two <= 32768";
    return Errc::invalid_argument;
  }
  ring_ = &ring;
  group_ = group;
  count_ = count;
  buffer_bytes_ = buffer_bytes;
  stride_ = (std::size_t(buffer_bytes) + padding_bytes + 63) & ~std::size_t(63);
  ring_bytes_ = count * sizeof(io_uring_buf);
  // The ring of buffer descriptors must be page-aligned memory shared with the kernel.
  void* mem = mmap(nullptr, ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) {
    why = "mmap of the buffer ring failed";
    return Errc::no_memory;
  }
  br_ = static_cast<io_uring_buf_ring*>(mem);
  // The buffers themselves: untouched pages cost no resident memory until the kernel fills them.
  pool_bytes_ = stride_ * count;
  mem = mmap(nullptr, pool_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE | MAP_NORESERVE,
             -1, 0);
  if (mem == MAP_FAILED) {
    why = "mmap of the receive buffers failed";
    return Errc::no_memory;
  }
  base_ = static_cast<std::uint8_t*>(mem);

  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(br_);
  reg.ring_entries = count;
  reg.bgid = group;
  int ret = io_uring_register_buf_ring(ring.raw(), &reg, 0);
  if (ret < 0) {
    why = std::string("registering the provided-buffer ring failed: ") + std::strerror(-ret) +
          " (needs Linux >= 5.19)";
    return errc_from_errno(-ret);
  }
  io_uring_buf_ring_init(br_);
  const int mask = io_uring_buf_ring_mask(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    io_uring_buf_ring_add(br_, buffer(std::uint16_t(i)), buffer_bytes, std::uint16_t(i), mask, int(i));
  }
  io_uring_buf_ring_advance(br_, int(count));
  return {};
}

void BufferRing::recycle(std::uint16_t id) noexcept {
  io_uring_buf_ring_add(br_, buffer(id), buffer_bytes_, id, io_uring_buf_ring_mask(count_), int(pending_));
  ++pending_;
}

void BufferRing::publish() noexcept {
  if (pending_ == 0) return;
  io_uring_buf_ring_advance(br_, int(pending_));
  pending_ = 0;
}

}  // namespace ringgate::net
