#include "message_writer.hpp"

#include <cstring>

namespace ringgate::gateway {
namespace {

bool write_control(OutQueue& q, ChunkPool& pool, ws::Opcode op, std::span<const std::uint8_t> payload) noexcept {
  if (payload.size() > ws::kMaxControlPayload) return false;
  std::uint8_t frame[ws::kMaxHeaderBytes + ws::kMaxControlPayload];
  const std::size_t h = ws::write_header(frame, op, true, payload.size());
  if (!payload.empty()) std::memcpy(frame + h, payload.data(), payload.size());
  return op == ws::Opcode::pong ? q.write_pong(pool, frame, h + payload.size())
                                : q.write_control(pool, frame, h + payload.size());
}

bool in_place(const Chunk* c, std::span<const std::uint8_t> payload) noexcept {
  return c != nullptr && payload.data() == c->data + kHeadroom && payload.size() == c->end - kHeadroom &&
         payload.size() > kCopyMessageBytes;
}

}  // namespace

bool write_message(OutQueue& q, ChunkPool& pool, ws::Opcode op, std::span<const std::uint8_t> payload,
                   Chunk*& assembled) noexcept {
  if (op == ws::Opcode::ping || op == ws::Opcode::pong) return write_control(q, pool, op, payload);
  if (in_place(assembled, payload)) {
    std::uint8_t header[ws::kMaxHeaderBytes];
    const std::size_t h = ws::write_header(header, op, true, payload.size());
    Chunk* c = assembled;
    c->begin = std::uint32_t(kHeadroom - h);
    std::memcpy(c->data + c->begin, header, h);
    assembled = nullptr;
    q.append(c);
    return true;
  }
  std::uint8_t* p = q.reserve(pool, kHeadroom + payload.size());
  if (p == nullptr) return false;
  const std::size_t h = ws::write_header(p, op, true, payload.size());
  if (!payload.empty()) std::memcpy(p + h, payload.data(), payload.size());
  q.commit(h + payload.size());
  return true;
}

bool write_close(OutQueue& q, ChunkPool& pool, std::uint16_t code, std::string_view reason) noexcept {
  std::uint8_t payload[ws::kMaxControlPayload];
  const std::size_t n = code == ws::close_code::no_status ? 0 : ws::write_close_payload(payload, code, reason);
  Chunk* none = nullptr;
  return write_message(q, pool, ws::Opcode::close, std::span<const std::uint8_t>(payload, n), none);
}

SharedRef shared_ref(pubsub::SharedFrame* f) noexcept {
  return SharedRef{f->bytes, f->len, f->topic_id, f, [](void* owner) noexcept {
                     static_cast<pubsub::SharedFrame*>(owner)->release();
                   }};
}

bool write_shared(OutQueue& q, ChunkPool& pool, LocalFrame* frame) noexcept { return q.append_ref(pool, frame); }

bool replace_shared(OutQueue& q, ChunkPool& pool, LocalFrame* frame) noexcept {
  return q.replace_ref(pool, frame);
}

}  // namespace ringgate::gateway
