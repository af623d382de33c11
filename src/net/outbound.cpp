#include "ringgate/net/outbound.hpp"

#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <new>

namespace ringgate::net {

namespace {
constexpr std::uint32_t kMaxCachedRefs = 65536;
// Small (control) chunks are cheap to allocate and live one send at most: a short cache serves the
// steady state, and a burst of floods across many connections does not stay resident afterwards.
constexpr std::uint32_t kMaxCachedSmall = 1024;
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
  c->end = c->cap = lf->shared.len;
  c->pooled = kRefChunk;
  c->control = 0;
  std::memcpy(c->data, &lf, sizeof lf);
  ++lf->refs;
  ++outstanding_;
  return c;
}

LocalFrame* ChunkPool::local_frame(const SharedRef& f) noexcept {
  LocalFrame* lf = free_locals_;
  if (lf != nullptr) {
    free_locals_ = lf->next_free;
    --cached_locals_;
  } else {
    lf = new (std::nothrow) LocalFrame;
    if (lf == nullptr) return nullptr;
  }
  lf->shared = f;
  lf->refs = 1;
  lf->next_free = nullptr;
  return lf;
}

void ChunkPool::release_local(LocalFrame* lf) noexcept {
  if (--lf->refs != 0) return;
  lf->shared.release(lf->shared.owner);
  if (cached_locals_ < kMaxCachedRefs) {
    lf->next_free = free_locals_;
    free_locals_ = lf;
    ++cached_locals_;
  } else {
    delete lf;
  }
}

namespace {
void free_half_beyond(Chunk*& list, std::uint32_t& count, std::uint32_t keep) noexcept {
  if (count <= keep) return;
  for (std::uint32_t n = (count - keep + 1) / 2; n > 0 && list != nullptr; --n, --count) {
    Chunk* c = list;
    list = c->next;
    std::free(c);
  }
}
}  // namespace

void ChunkPool::trim() noexcept {
  free_half_beyond(free_, cached_count_, kKeepCached);
  free_half_beyond(free_small_, cached_small_, kKeepCached);
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
    if (cached_small_ < kMaxCachedSmall) {
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
  cost_ += std::uint32_t(n);
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
  cost_ += c->size() + kChunkOverhead;
}

bool OutQueue::append_ref(ChunkPool& pool, LocalFrame* lf) noexcept {
  Chunk* c = pool.get_ref(lf);
  if (c == nullptr) return false;
  append(c);
  return true;
}

Chunk* OutQueue::first_unlocked() const noexcept {
  Chunk* c = head_;
  for (std::uint32_t i = 0; i < locked_ && c != nullptr; ++i) c = c->next;
  return c;
}

Chunk* OutQueue::last_locked() const noexcept {
  Chunk* c = locked_ != 0 ? head_ : nullptr;
  for (std::uint32_t i = 1; i < locked_ && c != nullptr; ++i) c = c->next;
  return c;
}

bool OutQueue::replace_ref(ChunkPool& pool, LocalFrame* lf) noexcept {
  // The newest queued frame of the topic is replaced, so what the peer sees stays in order:
  // older frames of the topic still queued, then the new one.
  Chunk* newest = nullptr;
  for (Chunk* c = first_unlocked(); c != nullptr; c = c->next) {
    if (c->is_ref() && c->begin == 0 && c->ref()->shared.group == lf->shared.group) newest = c;
  }
  if (newest == nullptr) return false;
  LocalFrame* old = newest->ref();
  cost_ = cost_ - newest->size() + lf->shared.len;
  newest->end = newest->cap = lf->shared.len;
  std::memcpy(newest->data, &lf, sizeof lf);
  ++lf->refs;
  pool.release_local(old);
  return true;
}

void OutQueue::drop_unsent(ChunkPool& pool) noexcept {
  Chunk* keep_tail = last_locked();
  Chunk* c = keep_tail != nullptr ? keep_tail->next : head_;
  while (c != nullptr) {
    Chunk* next = c->next;
    cost_ -= c->size() + kChunkOverhead;
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

Chunk* OutQueue::control_run_end() const noexcept {
  // Control chunks no send has taken sit right after the chunks a send holds (consume() keeps
  // them there); frames go into the last of them.
  Chunk* c = first_unlocked();
  if (c == nullptr || !c->control) return nullptr;
  while (c->next != nullptr && c->next->control) c = c->next;
  return c;
}

bool OutQueue::write_control(ChunkPool& pool, const void* data, std::size_t n) noexcept {
  Chunk* last = control_run_end();
  if (last == nullptr || last->room() < n) return insert_control(pool, last, data, n) != nullptr;
  std::memcpy(last->data + last->end, data, n);
  last->end += std::uint32_t(n);
  cost_ += std::uint32_t(n);
  last->control = kControl;  // its last frame is no longer a pong
  return true;
}

Chunk* OutQueue::insert_control(ChunkPool& pool, Chunk* after, const void* data, std::size_t n) noexcept {
  Chunk* c = n <= ChunkPool::kSmallChunkBytes ? pool.get_small() : pool.get(n);
  if (c == nullptr) return nullptr;
  std::memcpy(c->data, data, n);
  c->end = std::uint32_t(n);
  c->control = kControl;
  // After the control chunks no send has taken, else right after the chunks a send holds (at most
  // one sendmsg's worth to step over): behind every earlier control frame and the frame a send is
  // in the middle of, ahead of data.
  Chunk* prev = after != nullptr ? after : last_locked();
  Chunk*& slot = prev == nullptr ? head_ : prev->next;
  c->next = slot;
  slot = c;
  if (c->next == nullptr) tail_ = c;
  cost_ += std::uint32_t(n) + kChunkOverhead;
  return c;
}

bool OutQueue::write_pong(ChunkPool& pool, const void* frame, std::size_t n) noexcept {
  // Pongs queue in order, one per ping, while the last control chunk no send has taken has room:
  // a client that pings a few times gets every answer. Once it is full, a new pong replaces the
  // last one if that is a pong (its offset is kept in Chunk::control), as RFC 6455 5.5.3 allows:
  // the newest ping is still answered, a ping flood holds one small chunk per connection, and
  // each ping costs the same whatever came before it.
  Chunk* c = control_run_end();
  if (c != nullptr && c->room() >= n) {
    c->control = control_with_pong_at(c->end);
    std::memcpy(c->data + c->end, frame, n);
    c->end += std::uint32_t(n);
    cost_ += std::uint32_t(n);
    return true;
  }
  if (c != nullptr && (c->control & kControlPong)) {
    const std::uint32_t last = c->control >> 2;
    if (last + n <= c->cap) {
      std::memcpy(c->data + last, frame, n);
      cost_ = cost_ - (c->end - last) + std::uint32_t(n);
      c->end = last + std::uint32_t(n);
      return true;
    }
  }
  Chunk* own = insert_control(pool, c, frame, n);
  if (own == nullptr) return false;
  own->control = control_with_pong_at(0);
  return true;
}

std::size_t OutQueue::fill_iov(iovec* iov, std::size_t max_iov) noexcept {
  std::size_t n = 0;
  std::uint32_t chunks = 0;
  for (Chunk* c = head_; c != nullptr && n < max_iov; c = c->next) {
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
  std::uint32_t held = locked_;  // chunks the send held: control chunks among them it did not finish
  cost_ -= std::uint32_t(n);
  locked_ = 0;
  while (head_ != nullptr) {
    std::uint32_t take = head_->size() < n ? head_->size() : std::uint32_t(n);
    head_->begin += take;
    n -= take;
    if (head_->size() != 0) {
      // A frame half out (by this send or an earlier one: a send taken back sent nothing, but the
      // one before it may have stopped mid-frame): nothing may go before the rest of it.
      if (head_->begin != 0) locked_ = 1;
      break;
    }
    // Drained chunks go back at once, so an idle connection holds no buffer.
    Chunk* done = head_;
    head_ = done->next;
    if (head_ == nullptr) tail_ = nullptr;
    if (held != 0) --held;
    cost_ -= kChunkOverhead;
    pool.put(done);
  }
  hoist_control(held + 1);
}

void OutQueue::hoist_control(std::uint32_t span) noexcept {
  // Control chunks among the next `span` unsent chunks (what a send held but did not finish, and
  // the control chunk queued right behind it) move back to the front of what is unsent, in order,
  // so they still go ahead of data and the next control frame finds them (control_run_end()).
  Chunk* run = locked_ != 0 ? head_ : nullptr;  // the control run goes after this (nullptr: head)
  Chunk* prev = run;
  Chunk* c = prev != nullptr ? prev->next : head_;
  // Past the span, a run of control chunks still belongs to the group (a full one makes another).
  for (std::uint32_t i = 0; c != nullptr && (i < span || c->control); ++i) {
    Chunk* next = c->next;
    if (!c->control) {
      prev = c;
    } else if (prev == run) {
      run = prev = c;  // already in place
    } else {
      prev->next = next;
      if (tail_ == c) tail_ = prev;
      Chunk*& slot = run == nullptr ? head_ : run->next;
      c->next = slot;
      slot = c;
      run = c;
    }
    c = next;
  }
}

void OutQueue::clear(ChunkPool& pool) noexcept {
  while (head_ != nullptr) {
    Chunk* c = head_;
    head_ = c->next;
    pool.put(c);
  }
  tail_ = nullptr;
  cost_ = 0;
  locked_ = 0;
}

OutQueue::Tally OutQueue::tally() const noexcept {
  Tally t;
  for (const Chunk* c = head_; c != nullptr; c = c->next) {
    t.bytes += c->size();
    ++t.chunks;
  }
  return t;
}

}  // namespace ringgate::net
