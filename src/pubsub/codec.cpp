// The client protocol codec. Decoding is one simdjson On-Demand pass that visits every value of
// the message, so it is as strict as a validating DOM parse while touching the bytes once:
//   - On-Demand is lazy: a value is only checked when it is read, and skipping a value only counts
//     brackets. So every value is read (unknown fields and the whole of `data` included): numbers
//     by their syntax, strings with get_string(), keys with unescaped_key(), literals with
//     get_bool()/is_null(), containers element by element (the iterators check commas, colons
//     and bracket kinds). Stage 1 has already checked UTF-8 and control characters in strings
//     for the whole input, and started_root_object() checks the outer brackets balance.
//   - Depth is counted here (On-Demand does not enforce max_depth): the message's own object is
//     depth 1, so `data` may nest 63 levels; deeper -> bad_request. This also bounds recursion.
//   - Numbers are checked against the RFC 8259 grammar only, never converted: data passes through
//     verbatim, so 2^64 or 1e400 are as valid as the JSON text says (simdjson's DOM refuses them).
// The fuzz target checks the result against simdjson's DOM parser. Fields are read in any order
// and semantic checks run after the pass, so an id is echoed even when a later field is bad.
#include "ringgate/pubsub/codec.hpp"

#include "json_walk.hpp"

#include <simdjson.h>

#include <array>
#include <charconv>
#include <cstring>
#include <new>
#include <utility>

namespace ringgate::pubsub {

namespace od = simdjson::ondemand;
using simdjson::error_code;

namespace {

constexpr const char* kMalformed = "malformed JSON";
constexpr const char* kTooDeep = "JSON nested too deeply";
constexpr const char* kDuplicate = "duplicate field";

// What one field of interest looked like. `wrong` = present with an unusable type or value.
enum class Slot : std::uint8_t { absent, ok, wrong, duplicate };

struct Scan {
  Slot op = Slot::absent, id = Slot::absent, topic = Slot::absent, data = Slot::absent,
       since = Slot::absent;
  std::string_view op_text;  // in the parser's string buffer: compared, never returned
  std::uint64_t id_value = 0, since_value = 0;
  std::string_view topic_text, data_text;
};

bool is_ws(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim_right(const char* begin, const char* end) noexcept {
  while (end > begin && is_ws(end[-1])) --end;
  return {begin, static_cast<std::size_t>(end - begin)};
}

Slot seen(Slot s) noexcept { return s == Slot::absent ? Slot::ok : Slot::duplicate; }

error_code read_string(od::value v, Slot& slot, std::string_view& out) noexcept {
  slot = seen(slot);
  od::json_type t;
  if (error_code e = v.type().get(t)) return e;
  if (t != od::json_type::string) {
    if (slot == Slot::ok) slot = Slot::wrong;
    return detail::walk_json(v, 2);
  }
  return v.get_string().get(out);
}

// A non-negative integer (no fraction, no exponent) up to `max`; anything else is `wrong`.
error_code read_uint(od::value v, Slot& slot, std::uint64_t& out, std::uint64_t max) noexcept {
  slot = seen(slot);
  od::json_type t;
  if (error_code e = v.type().get(t)) return e;
  std::uint64_t n = 0;
  if (t == od::json_type::number && v.get_uint64().get(n) == simdjson::SUCCESS) {
    if (n > max && slot == Slot::ok) slot = Slot::wrong;
    out = n;
    return simdjson::SUCCESS;
  }
  if (slot == Slot::ok) slot = Slot::wrong;
  return detail::walk_json(v, 2);  // still has to be valid JSON (get_uint64 left it unread)
}

// The topic as a view into the input when the JSON string has no escapes (the normal case);
// with escapes (PHP writes "a\/b") the unescaped copy in the parser's string buffer.
error_code read_topic(od::value v, Slot& slot, std::string_view& out) noexcept {
  slot = seen(slot);
  od::json_type t;
  if (error_code e = v.type().get(t)) return e;
  if (t != od::json_type::string) {
    if (slot == Slot::ok) slot = Slot::wrong;
    return detail::walk_json(v, 2);
  }
  const std::string_view raw = v.raw_json_token();  // '"' text '"' whitespace
  std::string_view text;
  if (error_code e = v.get_string().get(text)) return e;
  const std::size_t n = text.size();
  if (raw.size() >= n + 2 && raw[n + 1] == '"' && std::memchr(raw.data() + 1, '\\', n) == nullptr) {
    out = raw.substr(1, n);
  } else {
    out = text;
  }
  return simdjson::SUCCESS;
}

// `data` verbatim: from its first byte to the last byte of its last token.
error_code read_data(od::document& doc, od::value v, Slot& slot, std::string_view& out) noexcept {
  slot = seen(slot);
  const std::string_view first = v.raw_json_token();
  od::json_type t;
  if (error_code e = v.type().get(t)) return e;
  if (error_code e = detail::walk_json(v, 2)) return e;
  if (t != od::json_type::object && t != od::json_type::array) {
    out = trim_right(first.data(), first.data() + first.size());
    return simdjson::SUCCESS;
  }
  const char* next = nullptr;  // the ',' or '}' after the closing bracket
  if (error_code e = doc.current_location().get(next)) return e;
  if (next <= first.data()) return simdjson::TAPE_ERROR;
  out = trim_right(first.data(), next);
  return simdjson::SUCCESS;
}

error_code scan_object(od::document& doc, od::object& obj, Scan& s) noexcept {
  for (auto fr : obj) {
    od::field f;
    std::string_view key;
    if (error_code e = std::move(fr).get(f)) return e;
    if (error_code e = f.unescaped_key().get(key)) return e;
    od::value v = f.value();
    error_code e;
    if (key == "op") {
      e = read_string(v, s.op, s.op_text);
    } else if (key == "id") {
      e = read_uint(v, s.id, s.id_value, kMaxId);
    } else if (key == "topic") {
      e = read_topic(v, s.topic, s.topic_text);
    } else if (key == "data") {
      e = read_data(doc, v, s.data, s.data_text);
    } else if (key == "since") {
      e = read_uint(v, s.since, s.since_value, ~std::uint64_t{0});
    } else {
      e = detail::walk_json(v, 2);
    }
    if (e) return e;
  }
  return simdjson::SUCCESS;
}

bool fail(DecodeError& err, ErrorCode code, const char* message) noexcept {
  err.code = code;
  err.message = message;
  return false;
}

// The checks on topic and data shared by `pub` and the HTTP body.
bool check_topic(const Scan& s, DecodeError& err) noexcept {
  switch (s.topic) {
    case Slot::absent: return fail(err, ErrorCode::bad_request, "missing topic");
    case Slot::wrong: return fail(err, ErrorCode::bad_request, "topic must be a string");
    case Slot::duplicate: return fail(err, ErrorCode::bad_request, kDuplicate);
    case Slot::ok: break;
  }
  if (!valid_topic(s.topic_text)) return fail(err, ErrorCode::bad_topic, "invalid topic name");
  return true;
}

bool check_data(const Scan& s, DecodeError& err) noexcept {
  if (s.data == Slot::absent) return fail(err, ErrorCode::bad_request, "missing data");
  if (s.data == Slot::duplicate) return fail(err, ErrorCode::bad_request, kDuplicate);
  return true;
}

bool parse_op(std::string_view text, Op& op) noexcept {
  if (text == "sub") return op = Op::sub, true;
  if (text == "unsub") return op = Op::unsub, true;
  if (text == "pub") return op = Op::pub, true;
  if (text == "ping") return op = Op::ping, true;
  return false;
}

constexpr auto kTopicChars = [] {
  std::array<bool, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (char c : std::string_view("_.:/@=+-")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

constexpr std::array<std::string_view, kErrorCodes> kErrorNames = {
    "bad_request", "unknown_op", "bad_topic", "unknown_topic", "too_large",
    "forbidden",   "rate_limited", "unavailable", "limit_exceeded"};

}  // namespace

std::string_view error_name(ErrorCode c) noexcept {
  const auto i = static_cast<std::size_t>(c);
  return i < kErrorCodes ? kErrorNames[i] : std::string_view("bad_request");
}

bool valid_topic(std::string_view topic) noexcept {
  if (topic.empty() || topic.size() > kMaxTopicBytes) return false;
  if (topic.front() == '.' || topic.back() == '.') return false;
  char prev = 0;
  for (char c : topic) {
    if (!kTopicChars[static_cast<unsigned char>(c)]) return false;
    if (c == '.' && prev == '.') return false;
    prev = c;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Decoder

struct Decoder::Impl {
  od::parser parser;
  bool ok = false;
  explicit Impl(std::size_t capacity) noexcept : parser(capacity) {
    // Reserves stage-1 indexes and the string buffer now, so iterate() never allocates. The depth
    // (On-Demand's own only under SIMDJSON_DEVELOPMENT_CHECKS) has room past ours: we stop first.
    ok = parser.allocate(capacity, kMaxDepth + 2) == simdjson::SUCCESS;
  }

  // Parses the whole message into `s`. false (with err filled) when the JSON is unusable.
  bool scan(const std::uint8_t* data, std::size_t len, Scan& s, DecodeError& err) noexcept {
    if (len == 0) return fail(err, ErrorCode::bad_request, "empty message");
    od::document doc;
    if (parser.iterate(data, len, len + kPadding).get(doc)) return fail(err, ErrorCode::bad_request, kMalformed);
    od::object obj;
    if (error_code e = doc.get_object().get(obj)) {
      return fail(err, ErrorCode::bad_request, e == simdjson::INCORRECT_TYPE ? "not a JSON object" : kMalformed);
    }
    if (error_code e = scan_object(doc, obj, s)) {
      return fail(err, ErrorCode::bad_request, e == simdjson::DEPTH_ERROR ? kTooDeep : kMalformed);
    }
    const char* rest = nullptr;  // 3.0.1 has no document::at_end(): past the last token is OUT_OF_BOUNDS
    if (doc.current_location().get(rest) != simdjson::OUT_OF_BOUNDS) {
      return fail(err, ErrorCode::bad_request, "trailing bytes after the object");
    }
    return true;
  }
};

Decoder::Decoder(std::size_t max_bytes) noexcept
    : impl_(new (std::nothrow) Impl(max_bytes < 64 ? 64 : max_bytes)), max_bytes_(max_bytes) {}

Decoder::~Decoder() = default;

bool Decoder::ok() const noexcept { return impl_ && impl_->ok; }

bool Decoder::decode(const std::uint8_t* data, std::size_t len, Request& out, DecodeError& err) noexcept {
  out = Request{};
  err = DecodeError{};
  if (len > max_bytes_) return fail(err, ErrorCode::too_large, "message too large");
  if (!ok()) return fail(err, ErrorCode::unavailable, "decoder not initialised");
  Scan s;
  const bool parsed = impl_->scan(data, len, s, err);
  // The id read before any failure is echoed, unless it was itself unusable or repeated.
  if (s.id == Slot::ok) {
    err.has_id = true;
    err.id = s.id_value;
  }
  if (!parsed) return false;
  switch (s.id) {
    case Slot::absent: return fail(err, ErrorCode::bad_request, "missing id");
    case Slot::wrong: return fail(err, ErrorCode::bad_request, "id must be an integer in 0..2^53-1");
    case Slot::duplicate: return fail(err, ErrorCode::bad_request, kDuplicate);
    case Slot::ok: break;
  }
  switch (s.op) {
    case Slot::absent: return fail(err, ErrorCode::bad_request, "missing op");
    case Slot::wrong: return fail(err, ErrorCode::bad_request, "op must be a string");
    case Slot::duplicate: return fail(err, ErrorCode::bad_request, kDuplicate);
    case Slot::ok: break;
  }
  Op op;
  if (!parse_op(s.op_text, op)) return fail(err, ErrorCode::unknown_op, "unknown op");
  if (op != Op::ping && !check_topic(s, err)) return false;
  if (op == Op::pub && !check_data(s, err)) return false;
  if (op == Op::sub && s.since != Slot::absent) {
    if (s.since == Slot::wrong) return fail(err, ErrorCode::bad_request, "since must be a non-negative integer");
    if (s.since == Slot::duplicate) return fail(err, ErrorCode::bad_request, kDuplicate);
    out.has_since = true;
    out.since = s.since_value;
  }
  out.op = op;
  out.id = s.id_value;
  if (op != Op::ping) out.topic = s.topic_text;
  if (op == Op::pub) out.data = s.data_text;
  err = DecodeError{};
  return true;
}

bool Decoder::decode_publish(const std::uint8_t* data, std::size_t len, Request& out, DecodeError& err) noexcept {
  out = Request{};
  err = DecodeError{};
  if (len > max_bytes_) return fail(err, ErrorCode::too_large, "message too large");
  if (!ok()) return fail(err, ErrorCode::unavailable, "decoder not initialised");
  Scan s;
  if (!impl_->scan(data, len, s, err)) return false;
  if (!check_topic(s, err) || !check_data(s, err)) return false;
  out.op = Op::pub;
  out.topic = s.topic_text;
  out.data = s.data_text;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Encoders

namespace {

// Appends into [p, end); once something does not fit, everything after is dropped and size() = 0.
class Writer {
 public:
  Writer(char* out, std::size_t cap) noexcept : begin_(out), p_(out), end_(out + cap) {}
  void put(std::string_view s) noexcept {
    if (!fits(s.size())) return;
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  void put(char c) noexcept {
    if (fits(1)) *p_++ = c;
  }
  void num(std::uint64_t v) noexcept {
    char buf[20];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    put(std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
  }
  // JSON string contents. Bytes that are not valid UTF-8 become '?': the frame is a text frame.
  void escaped(std::string_view s) noexcept {
    const bool utf8 = simdjson::validate_utf8(s.data(), s.size());
    static constexpr char kHex[] = "0123456789abcdef";
    for (char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        put('\\');
        put(c);
      } else if (u < 0x20) {
        put("\\u00");
        put(kHex[u >> 4]);
        put(kHex[u & 15]);
      } else if (u >= 0x80 && !utf8) {
        put('?');
      } else {
        put(c);
      }
    }
  }
  std::size_t size() const noexcept { return ok_ ? static_cast<std::size_t>(p_ - begin_) : 0; }

 private:
  bool fits(std::size_t n) noexcept {
    if (ok_ && static_cast<std::size_t>(end_ - p_) >= n) return true;
    ok_ = false;
    return false;
  }
  char* begin_;
  char* p_;
  char* end_;
  bool ok_ = true;
};

std::size_t digits(std::uint64_t v) noexcept {
  std::size_t n = 1;
  while (v >= 10) v /= 10, ++n;
  return n;
}

constexpr std::string_view kMsgHead = R"({"op":"msg","topic":")";
constexpr std::string_view kMsgSeq = R"(","seq":)";
constexpr std::string_view kMsgData = R"(,"data":)";

}  // namespace

std::size_t encode_ack(char* out, std::size_t cap, std::uint64_t id) noexcept {
  Writer w(out, cap);
  w.put(R"({"op":"ack","id":)");
  w.num(id);
  w.put('}');
  return w.size();
}

std::size_t encode_ack_seq(char* out, std::size_t cap, std::uint64_t id, std::uint64_t seq) noexcept {
  Writer w(out, cap);
  w.put(R"({"op":"ack","id":)");
  w.num(id);
  w.put(R"(,"seq":)");
  w.num(seq);
  w.put('}');
  return w.size();
}

std::size_t encode_ack_pub(char* out, std::size_t cap, std::uint64_t id, std::uint64_t seq,
                           std::uint64_t delivered) noexcept {
  Writer w(out, cap);
  w.put(R"({"op":"ack","id":)");
  w.num(id);
  w.put(R"(,"seq":)");
  w.num(seq);
  w.put(R"(,"delivered":)");
  w.num(delivered);
  w.put('}');
  return w.size();
}

std::size_t encode_err(char* out, std::size_t cap, bool has_id, std::uint64_t id, ErrorCode code,
                       std::string_view message) noexcept {
  Writer w(out, cap);
  w.put(R"({"op":"err",)");
  if (has_id) {
    w.put(R"("id":)");
    w.num(id);
    w.put(',');
  }
  w.put(R"("code":")");
  w.put(error_name(code));
  w.put(R"(","message":")");
  w.escaped(message);
  w.put(R"("})");
  return w.size();
}

std::size_t msg_bytes(std::string_view topic, std::uint64_t seq, std::size_t data_len) noexcept {
  return kMsgHead.size() + topic.size() + kMsgSeq.size() + digits(seq) + kMsgData.size() + data_len + 1;
}

std::size_t encode_msg(char* out, std::size_t cap, std::string_view topic, std::uint64_t seq,
                       std::string_view data) noexcept {
  Writer w(out, cap);
  w.put(kMsgHead);
  w.put(topic);
  w.put(kMsgSeq);
  w.num(seq);
  w.put(kMsgData);
  w.put(data);
  w.put('}');
  return w.size();
}

std::size_t encode_gap(char* out, std::size_t cap, std::string_view topic) noexcept {
  Writer w(out, cap);
  w.put(R"({"op":"gap","topic":")");
  w.put(topic);
  w.put(R"("})");
  return w.size();
}

}  // namespace ringgate::pubsub
