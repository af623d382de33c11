#include "ringgate/gateway/outbound.hpp"

#include <cstdlib>
#include <cstring>
#include <new>

namespace ringgate::gateway {

namespace {
constexpr std::uint32_t kMaxCachedRefs = 65536;
}

ChunkPool::~ChunkPool() {
  for (Chunk* list : {free_, free_refs_}) {
    while (list != nullptr) {
      Chunk* c = list;
      list = c->next;
      std::free(c);
    }
  }
  while (free_locals_ != nullptr) {
    LocalFrame* lf = free_locals_;
    free_locals_ = lf->next_free;
    delete lf;
  }
}

Chunk* ChunkPool::get_ref(LocalFrame* lf) noexcept {
  Chunk* c = free_refs_;
  if (c != nullptr) {
    free_refs_ = c->next;
    --cached_refs_;
  } else {
    c = static_cast<Chunk*>(std::malloc(sizeof(Chunk) + sizeof(LocalFrame*)));
    if (c == nullptr) return nullptr;
  }
  c->next = nullptr;
  c->begin = 0;
  c->end = c->cap = lf->frame->len;
  c->pooled = kRefChunk;
  c->control = 0;
  std::memcpy(c->data, &lf, sizeof lf);
  ++lf->refs;
  ++outstanding_;
  return c;
}

LocalFrame* ChunkPool::local_frame(pubsub::SharedFrame* f) noexcept {
  LocalFrame* lf = free_locals_;
  if (lf != nullptr) {
    free_locals_ = lf->next_free;
    --cached_locals_;
  } else {
    lf = new (std::nothrow) LocalFrame;
    if (lf == nullptr) return nullptr;
  }
  lf->frame = f;
  lf->refs = 1;
  lf->next_free = nullptr;
  return lf;
}

void ChunkPool::release_local(LocalFrame* lf) noexcept {
  if (--lf->refs != 0) return;
  lf->frame->release();
  if (cached_locals_ < kMaxCachedRefs) {
    lf->next_free = free_locals_;
    free_locals_ = lf;
    ++cached_locals_;
  } else {
    delete lf;
  }
}

Chunk* ChunkPool::get(std::size_t min_bytes) noexcept {
  Chunk* c;
  if (min_bytes <= kChunkBytes) {
    if (free_ != nullptr) {
      c = free_;
      free_ = c->next;
      --cached_count_;
    } else {
      c = static_cast<Chunk*>(std::malloc(sizeof(Chunk) + kChunkBytes));
      if (c == nullptr) return nullptr;
    }
    c->cap = kChunkBytes;
    c->pooled = 1;
  } else {
    if (min_bytes > UINT32_MAX - sizeof(Chunk)) return nullptr;
    c = static_cast<Chunk*>(std::malloc(sizeof(Chunk) + min_bytes));
    if (c == nullptr) return nullptr;
    c->cap = std::uint32_t(min_bytes);
    c->pooled = 0;
  }
  c->next = nullptr;
  c->begin = c->end = 0;
  c->control = 0;
  ++outstanding_;
  return c;
}

Chunk* ChunkPool::grow(Chunk* c, std::size_t min_bytes) noexcept {
  if (c->cap >= min_bytes) return c;
  std::size_t cap = std::size_t(c->cap) * 2;
  if (cap < min_bytes) cap = min_bytes;
  if (cap > UINT32_MAX - sizeof(Chunk)) return nullptr;
  Chunk* n;
  if (c->pooled) {
    n = static_cast<Chunk*>(std::malloc(sizeof(Chunk) + cap));
    if (n == nullptr) return nullptr;
    std::memcpy(n, c, sizeof(Chunk) + c->end);
    c->next = free_;  // the standard chunk goes back to the cache
    free_ = c;
    ++cached_count_;
  } else {
    n = static_cast<Chunk*>(std::realloc(c, sizeof(Chunk) + cap));
    if (n == nullptr) return nullptr;
  }
  n->cap = std::uint32_t(cap);
  n->pooled = 0;
  return n;
}

void ChunkPool::put(Chunk* c) noexcept {
  --outstanding_;
  if (c->is_ref()) {
    release_local(c->ref());
    if (cached_refs_ < kMaxCachedRefs) {
      c->next = free_refs_;
      free_refs_ = c;
      ++cached_refs_;
    } else {
      std::free(c);
    }
    return;
  }
  if (c->pooled && cached_count_ < max_cached_) {
    c->next = free_;
    free_ = c;
    ++cached_count_;
  } else {
    std::free(c);
  }
}

std::uint8_t* OutQueue::reserve(ChunkPool& pool, std::size_t n) noexcept {
  // Data never shares a chunk with a control frame, so later control frames can pass it.
  if (tail_ != nullptr && !tail_->control && tail_->room() >= n) return tail_->data + tail_->end;
  Chunk* c = pool.get(n);
  if (c == nullptr) return nullptr;
  append(c);
  return c->data;
}

void OutQueue::commit(std::size_t n) noexcept {
  tail_->end += std::uint32_t(n);
  bytes_ += std::uint32_t(n);
}

bool OutQueue::write(ChunkPool& pool, const void* data, std::size_t n) noexcept {
  std::uint8_t* p = reserve(pool, n);
  if (p == nullptr) return false;
  std::memcpy(p, data, n);
  commit(n);
  return true;
}

bool OutQueue::write_stream(ChunkPool& pool, const void* data, std::size_t n) noexcept {
  const auto* p = static_cast<const std::uint8_t*>(data);
  while (n > 0) {
    if (tail_ == nullptr || tail_->control || tail_->room() == 0) {
      Chunk* c = pool.get(1);
      if (c == nullptr) return false;
      append(c);
    }
    const std::size_t take = n < tail_->room() ? n : tail_->room();
    std::memcpy(tail_->data + tail_->end, p, take);
    commit(take);
    p += take;
    n -= take;
  }
  return true;
}

void OutQueue::append(Chunk* c) noexcept {
  c->next = nullptr;
  if (tail_ != nullptr) {
    tail_->next = c;
  } else {
    head_ = c;
  }
  tail_ = c;
  bytes_ += c->size();
}

bool OutQueue::append_ref(ChunkPool& pool, LocalFrame* lf) noexcept {
  Chunk* c = pool.get_ref(lf);
  if (c == nullptr) return false;
  append(c);
  return true;
}

bool OutQueue::replace_ref(ChunkPool& pool, LocalFrame* lf) noexcept {
  // The newest queued frame of the topic is replaced, so what the peer sees stays in order:
  // older frames of the topic still queued, then the new one.
  Chunk* newest = nullptr;
  std::uint32_t skip = locked_;
  for (Chunk* c = head_; c != nullptr; c = c->next) {
    if (skip > 0) {
      --skip;
      continue;
    }
    if (c->is_ref() && c->begin == 0 && c->ref()->frame->topic_id == lf->frame->topic_id) newest = c;
  }
  if (newest == nullptr) return false;
  LocalFrame* old = newest->ref();
  bytes_ = bytes_ - newest->size() + lf->frame->len;
  newest->end = newest->cap = lf->frame->len;
  std::memcpy(newest->data, &lf, sizeof lf);
  ++lf->refs;
  pool.release_local(old);
  return true;
}

void OutQueue::drop_unsent(ChunkPool& pool) noexcept {
  Chunk* keep_tail = nullptr;
  Chunk* c = head_;
  for (std::uint32_t i = 0; i < locked_ && c != nullptr; ++i) {
    keep_tail = c;
    c = c->next;
  }
  while (c != nullptr) {
    Chunk* next = c->next;
    bytes_ -= c->size();
    pool.put(c);
    c = next;
  }
  if (keep_tail != nullptr) {
    keep_tail->next = nullptr;
  } else {
    head_ = nullptr;
  }
  tail_ = keep_tail;
}

bool OutQueue::write_control(ChunkPool& pool, const void* data, std::size_t n) noexcept {
  Chunk* c = pool.get(n);
  if (c == nullptr) return false;
  std::memcpy(c->data, data, n);
  c->end = std::uint32_t(n);
  c->control = 1;
  bytes_ += std::uint32_t(n);
  // After the chunks a send holds, then after earlier control frames (first in, first out).
  Chunk* prev = nullptr;
  std::uint32_t skip = locked_;
  for (Chunk* next = head_; next != nullptr && (skip > 0 || next->control); next = next->next) {
    if (skip > 0) --skip;
    prev = next;
  }
  Chunk*& slot = prev == nullptr ? head_ : prev->next;
  c->next = slot;
  slot = c;
  if (c->next == nullptr) tail_ = c;
  return true;
}

std::size_t OutQueue::fill_iov(iovec* iov, std::size_t max_iov) noexcept {
  std::size_t n = 0;
  std::uint32_t chunks = 0;
  for (const Chunk* c = head_; c != nullptr && n < max_iov; c = c->next) {
    ++chunks;
    if (c->size() == 0) continue;
    iov[n].iov_base = const_cast<std::uint8_t*>(c->bytes() + c->begin);
    iov[n].iov_len = c->size();
    ++n;
  }
  locked_ = chunks;
  return n;
}

void OutQueue::consume(ChunkPool& pool, std::size_t n) noexcept {
  bytes_ -= std::uint32_t(n);
  locked_ = 0;
  while (head_ != nullptr) {
    std::uint32_t take = head_->size() < n ? head_->size() : std::uint32_t(n);
    head_->begin += take;
    n -= take;
    if (head_->size() != 0) {
      locked_ = take != 0 ? 1 : 0;  // a frame is half out: nothing may go before the rest of it
      break;
    }
    // Drained chunks go back at once, so an idle connection holds no buffer.
    Chunk* done = head_;
    head_ = done->next;
    if (head_ == nullptr) tail_ = nullptr;
    pool.put(done);
  }
}

void OutQueue::clear(ChunkPool& pool) noexcept {
  while (head_ != nullptr) {
    Chunk* c = head_;
    head_ = c->next;
    pool.put(c);
  }
  tail_ = nullptr;
  bytes_ = 0;
  locked_ = 0;
}

}  // namespace ringgate::gateway
