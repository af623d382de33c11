#include "ringgate/gateway/outbound.hpp"

#include <cstdlib>
#include <cstring>
#include <new>

namespace ringgate::gateway {

namespace {
constexpr std::uint32_t kMaxCachedRefs = 65536;
}

ChunkPool::~ChunkPool() {
  for (Chunk* list : {free_, free_refs_, free_small_}) {
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

Chunk* ChunkPool::get_small() noexcept {
  Chunk* c = free_small_;
  if (c != nullptr) {
    free_small_ = c->next;
    --cached_small_;
  } else {
    c = static_cast<Chunk*>(std::malloc(sizeof(Chunk) + kSmallChunkBytes));
    if (c == nullptr) return nullptr;
  }
  c->next = nullptr;
  c->begin = c->end = 0;
  c->cap = kSmallChunkBytes;
  c->pooled = kSmallChunk;
  c->control = 0;
  ++outstanding_;
  return c;
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
  if (c->pooled == kSmallChunk) {
    if (cached_small_ < kMaxCachedRefs) {
      c->next = free_small_;
      free_small_ = c;
      ++cached_small_;
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
  ++chunks_;
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
  Chunk* c = locked_tail_ != nullptr ? locked_tail_->next : head_;
  while (c != nullptr) {
    Chunk* next = c->next;
    bytes_ -= c->size();
    --chunks_;
    pool.put(c);
    c = next;
  }
  if (locked_tail_ != nullptr) {
    locked_tail_->next = nullptr;
  } else {
    head_ = nullptr;
  }
  tail_ = locked_tail_;
  ctl_ = pong_ = nullptr;  // control chunks are never locked ones, so they went too
}

bool OutQueue::write_control(ChunkPool& pool, const void* data, std::size_t n) noexcept {
  if (ctl_ != nullptr && ctl_->room() >= n) {
    std::memcpy(ctl_->data + ctl_->end, data, n);
    ctl_->end += std::uint32_t(n);
    bytes_ += std::uint32_t(n);
    return true;
  }
  Chunk* c = n <= ChunkPool::kSmallChunkBytes ? pool.get_small() : pool.get(n);
  if (c == nullptr) return false;
  std::memcpy(c->data, data, n);
  c->end = std::uint32_t(n);
  c->control = 1;
  // After the newest control chunk no send has taken, else right after the chunks a send holds:
  // behind every earlier control frame and the frame a send is in the middle of, ahead of data.
  Chunk* prev = ctl_ != nullptr ? ctl_ : locked_tail_;
  Chunk*& slot = prev == nullptr ? head_ : prev->next;
  c->next = slot;
  slot = c;
  if (c->next == nullptr) tail_ = c;
  ctl_ = c;
  bytes_ += std::uint32_t(n);
  ++chunks_;
  return true;
}

bool OutQueue::write_pong(ChunkPool& pool, const void* frame, std::size_t n) noexcept {
  if (pong_ != nullptr && pong_->end - pong_len_ + n <= pong_->cap) {
    // Replace the queued pong in place; control frames after it in its chunk move with the end.
    std::uint8_t* at = pong_->data + pong_at_;
    std::memmove(at + n, at + pong_len_, pong_->end - pong_at_ - pong_len_);
    std::memcpy(at, frame, n);
    pong_->end = pong_->end - pong_len_ + std::uint32_t(n);
    bytes_ = bytes_ - pong_len_ + std::uint32_t(n);
    pong_len_ = std::uint32_t(n);
    return true;
  }
  if (!write_control(pool, frame, n)) return false;
  pong_ = ctl_;
  pong_at_ = ctl_->end - std::uint32_t(n);
  pong_len_ = std::uint32_t(n);
  return true;
}

std::size_t OutQueue::fill_iov(iovec* iov, std::size_t max_iov) noexcept {
  std::size_t n = 0;
  std::uint32_t chunks = 0;
  Chunk* last = nullptr;
  for (Chunk* c = head_; c != nullptr && n < max_iov; c = c->next) {
    ++chunks;
    last = c;
    forget(c);
    if (c->size() == 0) continue;
    iov[n].iov_base = const_cast<std::uint8_t*>(c->bytes() + c->begin);
    iov[n].iov_len = c->size();
    ++n;
  }
  locked_ = chunks;
  locked_tail_ = last;
  return n;
}

void OutQueue::consume(ChunkPool& pool, std::size_t n) noexcept {
  bytes_ -= std::uint32_t(n);
  locked_ = 0;
  locked_tail_ = nullptr;
  while (head_ != nullptr) {
    std::uint32_t take = head_->size() < n ? head_->size() : std::uint32_t(n);
    head_->begin += take;
    n -= take;
    if (head_->size() != 0) {
      // A frame half out (by this send or an earlier one: a send taken back sent nothing, but the
      // one before it may have stopped mid-frame): nothing may go before the rest of it.
      if (head_->begin != 0) {
        locked_ = 1;
        locked_tail_ = head_;
        forget(head_);
      }
      break;
    }
    // Drained chunks go back at once, so an idle connection holds no buffer.
    Chunk* done = head_;
    head_ = done->next;
    if (head_ == nullptr) tail_ = nullptr;
    forget(done);
    --chunks_;
    pool.put(done);
  }
}

void OutQueue::clear(ChunkPool& pool) noexcept {
  while (head_ != nullptr) {
    Chunk* c = head_;
    head_ = c->next;
    pool.put(c);
  }
  tail_ = locked_tail_ = ctl_ = pong_ = nullptr;
  bytes_ = chunks_ = 0;
  locked_ = 0;
}

}  // namespace ringgate::gateway
