// Request-head parser. Two passes over bytes that stay in the caller's buffer: a memchr walk finds
// the end of the head (cheap, so a head arriving in many pieces costs little per call), then one
// validating pass fills the Request. Before the end has arrived only the first line is checked, so
// junk on the port is refused early while a well-formed slow head just waits.
#include "ringgate/http/request.hpp"

#include <algorithm>
#include <cstring>

#include "http/text.hpp"

namespace ringgate::http {
namespace {

using detail::is;

// The start of the HTTP/2 connection preface ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"). The PRI method
// exists only for it (RFC 9113 3.4), so these 14 bytes decide without waiting for the line end.
constexpr std::string_view kH2PrefaceStart = "PRI * HTTP/2.0";

constexpr ParseResult need_more() noexcept { return {ParseStatus::need_more, 0, Reject::none}; }
constexpr ParseResult fail(Reject r) noexcept { return {ParseStatus::error, 0, r}; }

enum class LineCheck : std::uint8_t { ok, partial, bad };

// Checks "HTTP/" DIGIT "." DIGIT [CR] in `s`, which is the whole rest of the line when `complete`,
// else the bytes that have arrived so far.
LineCheck check_version(std::string_view s, bool complete, Request* out) noexcept {
  constexpr std::string_view kPattern = "HTTP/#.#\r";  // '#' is any digit; the CR is optional
  if (s.size() > kPattern.size()) return LineCheck::bad;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool ok = kPattern[i] == '#' ? (s[i] >= '0' && s[i] <= '9') : s[i] == kPattern[i];
    if (!ok) return LineCheck::bad;
  }
  if (!complete) return LineCheck::partial;
  if (s.size() < kPattern.size() - 1) return LineCheck::bad;
  if (out != nullptr) {
    out->version_major = std::uint8_t(s[5] - '0');
    out->version_minor = std::uint8_t(s[7] - '0');
  }
  return LineCheck::ok;
}

// Checks a request line: method SP target SP version. `line` excludes the '\n'; when !complete it
// holds only the bytes seen so far, and `partial` means "no violation yet". A violation found in a
// prefix is a violation of every completion, which keeps parse results monotonic.
LineCheck check_request_line(std::string_view line, bool complete, Request* out) noexcept {
  const std::size_t n = line.size();
  std::size_t pos = 0;
  while (pos < n && is(line[pos], detail::kTchar)) ++pos;
  if (pos == n) return complete ? LineCheck::bad : LineCheck::partial;
  if (pos == 0 || line[pos] != ' ') return LineCheck::bad;
  const std::string_view method = line.substr(0, pos);

  const std::size_t target_begin = ++pos;
  while (pos < n && is(line[pos], detail::kTarget)) ++pos;
  if (pos == n) return complete ? LineCheck::bad : LineCheck::partial;
  if (pos == target_begin || line[pos] != ' ') return LineCheck::bad;
  const std::string_view target = line.substr(target_begin, pos - target_begin);

  const LineCheck version = check_version(line.substr(pos + 1), complete, out);
  if (version == LineCheck::ok && out != nullptr) {
    out->method = method;
    out->target = target;
  }
  return version;
}

// Length of the head (through its empty line) if `window` holds one, else 0.
std::size_t find_head_end(std::string_view window) noexcept {
  const char* const base = window.data();
  const std::size_t n = window.size();
  std::size_t pos = 0;
  while (pos < n) {
    const void* hit = std::memchr(base + pos, '\n', n - pos);
    if (hit == nullptr) return 0;
    const std::size_t i = std::size_t(static_cast<const char*>(hit) - base);
    if (i + 1 < n && base[i + 1] == '\n') return i + 2;
    if (i + 2 < n && base[i + 1] == '\r' && base[i + 2] == '\n') return i + 3;
    pos = i + 1;
  }
  return 0;
}

// Parses one header line (without its line end) into `h`. Field names are tokens directly followed
// by ':'; a leading SP/HTAB would be obs-fold, and both are refused rather than guessed at.
bool parse_header_line(std::string_view line, Header& h) noexcept {
  std::size_t colon = 0;
  while (colon < line.size() && is(line[colon], detail::kTchar)) ++colon;
  if (colon == 0 || colon == line.size() || line[colon] != ':') return false;
  const std::string_view value = line.substr(colon + 1);
  if (!detail::all_of(value, detail::kVchar)) return false;
  h.name = line.substr(0, colon);
  h.value = detail::trim_ows(value);
  return true;
}

// Splits off the next line of `rest` (which is known to contain a '\n'), without CR LF / LF.
std::string_view next_line(std::string_view& rest) noexcept {
  const std::size_t nl = rest.find('\n');
  std::string_view line = rest.substr(0, nl);
  rest.remove_prefix(nl + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// Full validating pass over a complete head (ends in an empty line).
ParseResult parse_head(std::string_view head, Request& out) noexcept {
  std::string_view rest = head;
  const std::size_t first_nl = rest.find('\n');
  if (check_request_line(rest.substr(0, first_nl), true, &out) != LineCheck::ok)
    return fail(Reject::malformed);
  rest.remove_prefix(first_nl + 1);
  for (;;) {
    const std::string_view line = next_line(rest);
    if (line.empty()) break;  // the empty line ending the head; find_head_end put it last
    if (out.header_count == kMaxHeaders) return fail(Reject::head_too_large);
    if (!parse_header_line(line, out.headers[out.header_count])) return fail(Reject::malformed);
    ++out.header_count;
  }
  return {ParseStatus::done, head.size(), Reject::none};
}

}  // namespace

std::string_view Request::header(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < header_count; ++i)
    if (detail::iequals(headers[i].name, name)) return headers[i].value;
  return {};
}

std::size_t Request::next_header(std::string_view name, std::size_t from) const noexcept {
  for (std::size_t i = from; i < header_count; ++i)
    if (detail::iequals(headers[i].name, name)) return i;
  return header_count;
}

std::size_t Request::header_count_of(std::string_view name) const noexcept {
  std::size_t count = 0;
  for (std::size_t i = 0; i < header_count; ++i) count += detail::iequals(headers[i].name, name);
  return count;
}

ParseResult parse_request_head(std::string_view buf, Request& out, std::size_t head_limit) noexcept {
  out.method = out.target = {};
  out.header_count = 0;
  // Only the first head_limit bytes count, so a result never depends on bytes past the limit.
  const std::string_view window = buf.substr(0, std::min(buf.size(), head_limit));
  if (window.starts_with(kH2PrefaceStart)) return fail(Reject::http2_preface);

  if (const std::size_t end = find_head_end(window); end != 0) return parse_head(window.substr(0, end), out);

  const std::size_t nl = window.find('\n');
  if (check_request_line(window.substr(0, nl), nl != std::string_view::npos, nullptr) == LineCheck::bad)
    return fail(Reject::malformed);
  if (buf.size() > head_limit) return fail(Reject::head_too_large);
  return need_more();
}

bool looks_like_plain_http(std::string_view first_bytes) noexcept {
  // Decides within the first 4 bytes: a space after 1-3 method characters, or 4 of them.
  constexpr std::size_t kDecideBytes = 4;
  const auto method_char = [](char c) { return (c >= 'A' && c <= 'Z') || c == '-' || c == '_'; };
  if (first_bytes.empty() || first_bytes[0] < 'A' || first_bytes[0] > 'Z') return false;
  for (std::size_t i = 1; i < first_bytes.size() && i < kDecideBytes; ++i) {
    if (first_bytes[i] == ' ') return true;
    if (!method_char(first_bytes[i])) return false;
  }
  return first_bytes.size() >= kDecideBytes;
}

}  // namespace ringgate::http
