// RFC 6455 framing, sans-IO. Parser turns received bytes into sink events; the writer functions
// produce frame headers and close payloads. No extension is ever negotiated, so RSV bits are errors.
// Invariants of Parser:
//  - payload is unmasked in place and handed to the sink as it arrives (no copy, no buffering),
//    except a control frame whose payload is split across feed() calls: that one is gathered in a
//    lazily allocated 125-byte buffer, freed again right after dispatch;
//  - any protocol violation returns the close code to send (1002, 1007, 1009) and closes the parser;
//    nothing the peer sends can make it assert or allocate more than that control buffer;
//  - per-connection state is 48 bytes (checked by a static_assert below).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "ringgate/ws/mask.hpp"
#include "ringgate/ws/utf8.hpp"

namespace ringgate::ws {

enum class Opcode : std::uint8_t { continuation = 0x0, text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA };

inline constexpr std::size_t kMaxHeaderBytes = 14;
inline constexpr std::size_t kMaxControlPayload = 125;

namespace close_code {
inline constexpr std::uint16_t normal = 1000, going_away = 1001, protocol_error = 1002, unsupported_data = 1003,
                               no_status = 1005, abnormal = 1006, invalid_payload = 1007, policy = 1008,
                               too_big = 1009, mandatory_extension = 1010, internal_error = 1011;
}  // namespace close_code

// Legal on the wire in a received close frame: 1000-1003, 1007-1014, 3000-4999.
bool is_valid_close_code(std::uint16_t code) noexcept;

// server: peer frames MUST be masked; client: they MUST NOT be.
enum class Role : std::uint8_t { server, client };

struct Limits {
  std::uint64_t max_message_bytes = 16u << 20;
};

struct FeedResult {
  std::size_t consumed;      // bytes consumed from the input (on error: up to the offending header/chunk)
  std::uint16_t close_code;  // 0 = fine; otherwise the code we must close with (1002, 1007, 1009; 1011 on OOM)
  const char* reason;        // static text for the close reason and logs ("" when fine), <= 123 bytes
};

// Sink (duck-typed), called synchronously inside feed():
//   void on_data(Opcode message_opcode, std::span<std::uint8_t> chunk, bool message_end);
//     chunk is unmasked, in place in the caller's buffer; text is already UTF-8 validated (streaming).
//     A zero-length final frame gives an empty chunk with message_end = true. Chunks of a fragmented
//     message carry the opcode of its first frame.
//   void on_ping(std::span<const std::uint8_t> payload);   // complete, unmasked
//   void on_pong(std::span<const std::uint8_t> payload);
//   void on_close(std::uint16_t code, std::string_view reason);  // validated; 1005 for an empty payload
// The sink must not throw (feed is noexcept) and must not call feed() on the same parser.
class Parser {
 public:
  explicit Parser(Role role = Role::server) noexcept;
  ~Parser();
  Parser(Parser&& other) noexcept;
  Parser& operator=(Parser&& other) noexcept;
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  // Consumes bytes, unmasking payload in place. Bytes may be split anywhere, even inside a header.
  // After a close frame (or an error) the parser is closed: later calls consume nothing and return 0.
  template <class Sink>
  FeedResult feed(std::uint8_t* data, std::size_t len, Sink& sink, const Limits& limits) noexcept;

  // A fragmented data message is in progress (its first frame had FIN = 0 and its end is not yet seen).
  bool in_message() const noexcept { return msg_op_ != 0; }
  bool closed() const noexcept { return (flags_ & kClosed) != 0; }
  void reset(Role role) noexcept;

 private:
  struct Fault {
    std::uint16_t code = 0;
    const char* reason = "";
    explicit operator bool() const noexcept { return code != 0; }
  };

  static constexpr std::uint8_t kClient = 1;  // role; masked frames <=> server role
  static constexpr std::uint8_t kClosed = 2;
  static constexpr std::uint8_t kFin = 4;  // FIN bit of the current frame

  bool server() const noexcept { return (flags_ & kClient) == 0; }
  Fault check_start(std::uint8_t b0, std::uint8_t b1) const noexcept;
  Fault begin_frame(const std::uint8_t* h, std::size_t header_len, const Limits& limits) noexcept;
  Fault check_text(const std::uint8_t* p, std::size_t n, bool message_end) noexcept;
  Fault check_close(const std::uint8_t* p, std::size_t n, std::uint16_t& code) const noexcept;
  FeedResult fail(std::size_t consumed, Fault f) noexcept;
  void free_control_buffer() noexcept;
  bool gather_control(const std::uint8_t* p, std::size_t n) noexcept;

  template <class Sink>
  Fault data_payload(std::uint8_t* p, std::size_t n, Sink& sink) noexcept;
  template <class Sink>
  Fault control_payload(std::uint8_t* p, std::size_t n, Sink& sink) noexcept;
  template <class Sink>
  Fault dispatch_control(std::uint8_t* p, std::size_t n, Sink& sink) noexcept;

  std::uint64_t remaining_ = 0;  // payload bytes left in the current frame; 0 = expecting a header
  std::uint64_t msg_bytes_ = 0;  // bytes announced so far by the current data message's frames
  std::uint8_t* ctrl_ = nullptr; // split control payload being gathered (rare)
  Utf8Stream utf8_;              // current text message
  std::uint8_t hdr_[kMaxHeaderBytes] = {};  // header being gathered; its first 4 bytes hold the mask
                                            // key once the header is complete
  std::uint8_t hdr_len_ = 0;
  std::uint8_t phase_ = 0;     // mask phase within the current frame
  std::uint8_t frame_op_ = 0;  // opcode of the current frame
  std::uint8_t msg_op_ = 0;    // opcode of the fragmented message in progress, 0 if none
  std::uint8_t ctrl_len_ = 0;  // bytes in ctrl_
  std::uint8_t flags_ = 0;
};

// Writes a frame header and returns its length (2..14). Server frames are unmasked; with a 4-byte
// mask_key (client frames) the header gets the MASK bit and the key, and the caller masks the
// payload with unmask().
std::size_t write_header(std::uint8_t* out, Opcode op, bool fin, std::uint64_t payload_len,
                         const std::uint8_t* mask_key = nullptr) noexcept;

// Close payload: 2-byte big-endian code + reason cut to at most 123 bytes at a UTF-8 boundary.
// Returns bytes written (<= 125).
std::size_t write_close_payload(std::uint8_t* out, std::uint16_t code, std::string_view reason) noexcept;

}  // namespace ringgate::ws

#include "ringgate/ws/frame_impl.hpp"
