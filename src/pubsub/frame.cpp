#include "ringgate/pubsub/frame.hpp"

#include <cstdlib>
#include <cstring>
#include <new>

#include "ringgate/pubsub/codec.hpp"
#include "ringgate/ws/frame.hpp"

namespace ringgate::pubsub {

std::string_view SharedFrame::data_json() const noexcept {
  // The header is 2, 4 or 10 bytes, decided by the payload length alone.
  const std::size_t h = len - 2 < 126 ? 2 : (len - 4 <= 0xffff ? 4 : 10);
  return {reinterpret_cast<const char*>(bytes) + h, len - h};
}

SharedFrame* SharedFrame::make(std::string_view topic, std::uint64_t topic_id, std::uint64_t seq,
                               std::string_view data, std::uint64_t published_ns, std::uint32_t refs) noexcept {
  const std::size_t json = msg_bytes(topic, seq, data.size());
  const std::size_t header = json < 126 ? 2 : (json <= 0xffff ? 4 : 10);
  const std::size_t total = sizeof(SharedFrame) + header + json + topic.size();
  void* mem = std::malloc(total);
  if (mem == nullptr) return nullptr;
  auto* f = new (mem) SharedFrame{};
  f->refs.store(refs, std::memory_order_relaxed);
  f->len = std::uint32_t(header + json);
  f->topic_id = topic_id;
  f->seq = seq;
  f->published_ns = published_ns;
  f->history_prev = f->history_next = nullptr;
  f->topic_len = std::uint16_t(topic.size());
  const std::size_t h = ws::write_header(f->bytes, ws::Opcode::text, true, json);
  const std::size_t n = encode_msg(reinterpret_cast<char*>(f->bytes + h), json, topic, seq, data);
  if (h != header || n != json) {  // msg_bytes() and encode_msg() disagree: a bug, not peer input
    std::free(mem);
    return nullptr;
  }
  std::memcpy(f->bytes + f->len, topic.data(), topic.size());
  return f;
}

void SharedFrame::release(std::uint32_t n) noexcept {
  if (refs.fetch_sub(n, std::memory_order_acq_rel) == n) {
    this->~SharedFrame();
    std::free(this);
  }
}

}  // namespace ringgate::pubsub
