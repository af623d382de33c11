// NATS core protocol parser and builders.
//
// A control line ends at LF (a CR before it is dropped, as the Go client's parser allows; a CR
// anywhere else in the line is an error, so no subject or text holds one). MSG and
// HMSG are checked completely (argument count, sid, sizes against max_payload) as soon as their
// control line is in, before waiting for the payload, so a bad size fails without buffering it.
#include "ringgate/pubsub/nats.hpp"

#include <charconv>
#include <cstdint>
#include <cstring>

namespace ringgate::pubsub {

namespace {

bool is_space(char c) noexcept { return c == ' ' || c == '\t'; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c != b[i]) return false;  // b is upper case
  }
  return true;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Splits on runs of spaces/tabs. Returns the token count, or max + 1 when there are more.
std::size_t split(std::string_view s, std::string_view* out, std::size_t max) noexcept {
  std::size_t n = 0;
  std::size_t i = 0;
  while (true) {
    while (i < s.size() && is_space(s[i])) ++i;
    if (i == s.size()) return n;
    const std::size_t start = i;
    while (i < s.size() && !is_space(s[i])) ++i;
    if (n == max) return max + 1;
    out[n++] = s.substr(start, i - start);
  }
}

// A plain decimal (digits only: no sign, no blanks) that fits in uint64 and is <= max.
bool parse_u64(std::string_view s, std::uint64_t max, std::uint64_t& out) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  std::uint64_t v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc{} || r.ptr != s.data() + s.size() || v > max) return false;
  out = v;
  return true;
}

void append_u64(std::string& out, std::uint64_t v) noexcept {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

// A JSON string body (without quotes): quote, backslash and control characters escaped.
void append_json_escaped(std::string& out, std::string_view s) noexcept {
  static constexpr char kHex[] = "0123456789abcdef";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20) {
      const char esc[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
      out.append(esc, sizeof esc);
    } else {
      out.push_back(ch);
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// NatsParser

NatsParser::NatsParser(std::size_t max_payload) noexcept : max_payload_(max_payload) {}

void NatsParser::reset() noexcept {
  buf_.clear();
  head_ = 0;
  failed_ = false;
}

bool NatsParser::feed(const char* data, std::size_t len) noexcept {
  if (failed_) return false;
  // Drained down to at most one partial message, which next() has already bounded.
  const std::size_t room = kMaxInfoLine + 2;
  const std::size_t bound = max_payload_ > SIZE_MAX - room ? SIZE_MAX : max_payload_ + room;
  if (buf_.size() - head_ > bound) return false;
  try {
    if (head_ == buf_.size()) {
      buf_.clear();
    } else if (head_ > 0) {
      buf_.erase(0, head_);
    }
    head_ = 0;
    buf_.append(data, len);
    return true;
  } catch (...) {  // std::bad_alloc: reported as a value
    failed_ = true;
    return false;
  }
}

int NatsParser::next(NatsEvent& ev) noexcept {
  ev = NatsEvent{};
  if (failed_) return -1;
  const char* b = buf_.data() + head_;
  const std::size_t n = buf_.size() - head_;
  if (n == 0) return 0;
  // INFO lines get the larger limit; the op is recognisable from its first 4 bytes.
  const bool info = n >= 4 && iequals(std::string_view(b, 4), "INFO");
  const std::size_t limit = info ? kMaxInfoLine : kMaxControlLine;
  const std::size_t scan = n < limit + 2 ? n : limit + 2;  // the line, CR, LF
  const auto* lf = static_cast<const char*>(std::memchr(b, '\n', scan));
  if (lf == nullptr) return n >= limit + 2 ? fail() : 0;
  std::size_t line_len = static_cast<std::size_t>(lf - b);
  if (line_len > 0 && b[line_len - 1] == '\r') --line_len;
  if (line_len > limit) return fail();
  if (std::memchr(b, '\r', line_len) != nullptr) return fail();  // CR only right before the LF
  return parse_line(std::string_view(b, line_len), static_cast<std::size_t>(lf - b) + 1, ev);
}

// `line` without its line end; `line_bytes` with it.
int NatsParser::parse_line(std::string_view line, std::size_t line_bytes, NatsEvent& ev) noexcept {
  std::size_t op_len = 0;
  while (op_len < line.size() && !is_space(line[op_len])) ++op_len;
  const std::string_view op = line.substr(0, op_len);
  const std::string_view rest = line.substr(op_len);

  const bool hmsg = iequals(op, "HMSG");
  if (hmsg || iequals(op, "MSG")) {
    std::string_view arg[5];
    const std::size_t argc = split(rest, arg, 5);
    const std::size_t base = hmsg ? 4 : 3;  // without a reply subject
    if (argc != base && argc != base + 1) return fail();
    std::uint64_t sid = 0, hdr = 0, total = 0;
    if (!parse_u64(arg[1], ~std::uint64_t{0}, sid)) return fail();
    if (!parse_u64(arg[argc - 1], max_payload_, total)) return fail();
    if (hmsg && !parse_u64(arg[argc - 2], total, hdr)) return fail();
    const std::size_t need = line_bytes + total + 2;
    if (buf_.size() - head_ < need) return 0;
    const char* payload = buf_.data() + head_ + line_bytes;
    if (payload[total] != '\r' || payload[total + 1] != '\n') return fail();
    ev.kind = NatsKind::msg;
    ev.subject = arg[0];
    ev.sid = sid;
    if (argc == base + 1) ev.reply = arg[2];
    ev.payload = std::string_view(payload + hdr, total - hdr);
    head_ += need;
    return 1;
  }
  if (iequals(op, "PING")) {
    ev.kind = NatsKind::ping;
  } else if (iequals(op, "PONG")) {
    ev.kind = NatsKind::pong;
  } else if (iequals(op, "+OK")) {
    ev.kind = NatsKind::ok;
  } else if (iequals(op, "INFO")) {
    ev.kind = NatsKind::info;
    ev.text = trim(rest);
  } else if (iequals(op, "-ERR")) {
    ev.kind = NatsKind::err;
    std::string_view text = trim(rest);
    if (text.size() >= 2 && text.front() == '\'' && text.back() == '\'') text = text.substr(1, text.size() - 2);
    ev.text = text;
  } else {
    return fail();
  }
  head_ += line_bytes;
  return 1;
}

// ---------------------------------------------------------------------------------------------
// Builders

void nats_connect(std::string& out, std::string_view name) noexcept {
  out.append(
      "CONNECT {\"verbose\":false,\"pedantic\":false,\"echo\":true,\"headers\":true,\"no_responders\":false,"
      "\"lang\":\"c++\",\"version\":\"0.7\",\"protocol\":1,\"name\":\"");
  append_json_escaped(out, name);
  out.append("\"}\r\n");
}

void nats_sub(std::string& out, std::string_view subject, std::uint64_t sid) noexcept {
  out.append("SUB ");
  out.append(subject);
  out.push_back(' ');
  append_u64(out, sid);
  out.append("\r\n");
}

void nats_unsub(std::string& out, std::uint64_t sid) noexcept {
  out.append("UNSUB ");
  append_u64(out, sid);
  out.append("\r\n");
}

void nats_pub(std::string& out, std::string_view subject, std::string_view head, std::string_view data) noexcept {
  out.append("PUB ");
  out.append(subject);
  out.push_back(' ');
  append_u64(out, head.size() + data.size());
  out.append("\r\n");
  out.append(head);
  out.append(data);
  out.append("\r\n");
}

void nats_ping(std::string& out) noexcept { out.append("PING\r\n"); }

void nats_pong(std::string& out) noexcept { out.append("PONG\r\n"); }

std::uint64_t nats_max_payload(std::string_view info_json) noexcept {
  constexpr std::string_view kKey = "\"max_payload\"";
  const std::size_t at = info_json.find(kKey);
  if (at == std::string_view::npos) return 0;
  std::size_t i = at + kKey.size();
  auto skip_ws = [&] {
    while (i < info_json.size() && (is_space(info_json[i]) || info_json[i] == '\r' || info_json[i] == '\n')) ++i;
  };
  skip_ws();
  if (i == info_json.size() || info_json[i] != ':') return 0;
  ++i;
  skip_ws();
  std::size_t end = i;
  while (end < info_json.size() && info_json[end] >= '0' && info_json[end] <= '9') ++end;
  std::uint64_t v = 0;
  return parse_u64(info_json.substr(i, end - i), ~std::uint64_t{0}, v) ? v : 0;
}

}  // namespace ringgate::pubsub
