// Bounded, sans-IO HTTP/1.1 request-head parser: bytes in, a Request of views out. It exists only
// to carry the WebSocket upgrade request, so it reads the head (request line + header fields) and
// never a body.
//
// Invariants and decisions:
// - Stateless: parse_request_head() re-parses buf from its start on every call, so the caller keeps
//   the bytes and calls again with a longer buf as they arrive. Results are monotonic in the prefix:
//   once a prefix gives `done` or `error`, every longer buf gives the same status, head_bytes and
//   reject. A still-incomplete call costs a memchr walk over the line ends plus a scan of the first
//   line, both bounded by head_limit.
// - Bounded: a head is at most head_limit bytes including its final empty line, and at most
//   kMaxHeaders fields; more is `head_too_large` (431). Only the first head_limit bytes are examined.
// - Early refusal: a request line that is already invalid (e.g. a TLS ClientHello or binary junk on
//   the port) is `malformed` as soon as the offending byte arrives, before the end of the head.
//   The HTTP/2 preface is reported once "PRI * HTTP/2.0" (its first 14 bytes) has arrived: PRI
//   is reserved for it (RFC 9113 3.4), so no line end is needed to tell.
// - Any HTTP/1.x version parses (HTTP/1.0 included): refusing 1.0 with a reason that names it is
//   validate_upgrade's job, so the parser must let it through.
// - Strict syntax (RFC 9112), refusing what request smuggling and header confusion feed on: single
//   SP between request-line parts; method and field names are tokens; no whitespace before ':';
//   no obs-fold continuation lines; no CTL bytes (NUL, bare CR, DEL...) anywhere; the target is
//   visible ASCII; the version is "HTTP/" DIGIT "." DIGIT. Leading empty lines are not skipped
//   (the upgrade request is the first request on a connection). Bare LF line ends are accepted,
//   as nginx does. Field values may carry obs-text (bytes >= 0x80).
// - Views in Request point into buf: they live as long as the caller's bytes. After need_more or
//   error the contents of `out` are unspecified.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ringgate::http {

inline constexpr std::size_t kMaxHeaders = 64;
inline constexpr std::size_t kDefaultHeadLimit = 8192;

struct Header {
  std::string_view name, value;  // value trimmed of surrounding SP/HTAB
};

struct Request {
  std::string_view method, target;
  std::uint8_t version_major = 1, version_minor = 1;
  Header headers[kMaxHeaders];
  std::size_t header_count = 0;

  // Case-insensitive name match; the first field with that name; "" if absent (an empty value
  // also reads as ""; use header_count_of to tell them apart). A field that may legally repeat
  // (a list: X-Forwarded-For, Connection, Sec-WebSocket-Protocol...) must not be read with this:
  // later lines are part of the same list. Walk them with next_header().
  std::string_view header(std::string_view name) const noexcept;
  std::size_t header_count_of(std::string_view name) const noexcept;
  // Index of the first field named `name` at or after index `from`; header_count if none.
  //   for (auto i = req.next_header("x"); i < req.header_count; i = req.next_header("x", i + 1))
  std::size_t next_header(std::string_view name, std::size_t from = 0) const noexcept;
};

// Why a request is refused. The order is fixed: it indexes metric arrays (kRejectCount entries).
enum class Reject : std::uint8_t {
  none = 0,
  method_not_allowed,          // 405
  missing_upgrade,             // 426
  missing_connection_upgrade,  // 426
  bad_version,                 // 426
  bad_key,                     // 400
  http2_preface,               // 400
  head_too_large,              // 431
  not_found,                   // 404
  malformed,                   // 400
  http_1_0,                    // 400: an HTTP/1.0 request (nginx without proxy_http_version 1.1)
  plain_http_on_tls,           // 400: plain HTTP on a TLS port (the caller detects it)
};
inline constexpr std::size_t kRejectCount = 12;  // including none

std::string_view reject_name(Reject r) noexcept;    // metric label, e.g. "bad_key"; "none" for none
int reject_status(Reject r) noexcept;               // HTTP status; 0 for none
std::string_view reject_reason(Reject r) noexcept;  // one-line human reason for the response body

enum class ParseStatus : std::uint8_t { need_more, done, error };

struct ParseResult {
  ParseStatus status;
  std::size_t head_bytes;  // when done: head length including the final empty line; else 0
  Reject reject;           // when error: why; else none
};

// need_more: no end of head yet and buf.size() <= head_limit.
// done: a complete, syntactically valid head of head_bytes <= head_limit bytes; bytes after it
//       (e.g. a client's early first frame) are not touched.
// error: malformed / head_too_large / http2_preface.
ParseResult parse_request_head(std::string_view buf, Request& out,
                               std::size_t head_limit = kDefaultHeadLimit) noexcept;

// For a TLS port: true when the first bytes of the connection are the start of a plain HTTP/1.x
// request line (then answer write_reject(Reject::plain_http_on_tls) in plain text, as nginx does)
// rather than a TLS record. "Looks like HTTP": an upper-case method token (A-Z, '-', '_') followed
// by a space ("GET ", "PUT ", "PRI * HTTP/2.0"), or four such characters with no space yet
// ("POST", "OPTI"): no TLS record starts with a letter (content types are 0x14-0x18; a handshake
// is 0x16, SSLv2's hello has the top bit set), so 4 bytes decide every common method.
// False for a TLS record, for anything else, and for fewer than 4 bytes without a space yet
// ("GE", "POS": too short to tell): a caller that can wait for a 4th byte should.
bool looks_like_plain_http(std::string_view first_bytes) noexcept;

}  // namespace ringgate::http
