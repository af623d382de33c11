// WebSocket upgrade validation (RFC 6455 section 4.2.1) over a parsed Request, the token-list
// helpers it needs, and the response writers (101 and the refusals). Sans-IO: responses go into
// caller buffers; the Sec-WebSocket-Accept hash lives in ws, so the caller passes the accept value.
//
// validate_upgrade() checks in this order and returns the first failure:
//   1. version is HTTP/1.0 (nginx's default upstream version)                     -> http_1_0
//      version is otherwise not HTTP/1.x with x >= 1 (0.x, 2.x...)                -> malformed
//   2. Host missing or repeated; Origin repeated; Transfer-Encoding present or
//      Content-Length other than 0 (this server never reads a body, so a declared
//      one would be misread as frames: a smuggling vector)                       -> malformed
//   3. target is neither origin-form ("/p?q") nor absolute-form with a ws/wss/http/
//      https scheme (RFC 9112 3.2.2 says servers MUST accept it); or it holds '#'  -> malformed
//   4. method is not GET (case-sensitive, as methods are)                         -> method_not_allowed
//   5. match(ctx, path) is false (a null match accepts every path)                -> not_found
//   6. no Upgrade field carries the "websocket" token                             -> missing_upgrade
//   7. no Connection field carries the "upgrade" token                            -> missing_connection_upgrade
//   8. Sec-WebSocket-Version is not exactly one field with value "13"             -> bad_version
//   9. Sec-WebSocket-Key is not exactly one field of 22 base64 chars + "=="       -> bad_key
// The path is matched raw: no percent-decoding, no dot-segment removal (routes are an exact-match
// allow list, so there is nothing to bypass). In absolute-form the host comes from the target, as
// RFC 9112 3.2.2 requires. Upgrade and Connection tokens are looked up in every field line.
// Sec-WebSocket-Protocol / -Extensions may legally repeat and then form one list (RFC 6455 11.3.3,
// 11.3.2): Upgrade.protocols / .extensions hold only the first non-empty line (for a quick
// "offered anything?" test and logs); negotiate with the Request overloads of select_subprotocol
// and parse_extensions, which walk every line without copying.
#pragma once

#include <cstddef>
#include <string_view>

#include "ringgate/http/request.hpp"

namespace ringgate::http {

struct Upgrade {
  std::string_view path;        // "/..." up to '?'; "/" for an absolute-form target without a path
  std::string_view query;       // after '?', without it; "" if none
  std::string_view key;         // Sec-WebSocket-Key, validated, 24 chars
  std::string_view protocols;   // Sec-WebSocket-Protocol (raw list) or ""
  std::string_view extensions;  // Sec-WebSocket-Extensions (raw list) or ""
  std::string_view origin;      // Origin or "" (the caller applies its allow list: 403 is its call)
  std::string_view host;        // Host, or the authority of an absolute-form target
};

// Route lookup supplied by the caller (gateway): true if the path has a WebSocket route.
using RouteMatch = bool (*)(void* ctx, std::string_view path) noexcept;

// Fills `out` (views into the request's buffer) and returns Reject::none when the request is a
// valid upgrade; otherwise the first failing check above (then `out` is unspecified).
Reject validate_upgrade(const Request& req, Upgrade& out, RouteMatch match, void* match_ctx) noexcept;

// True if the comma-separated `list` has an element equal to `token`, ignoring ASCII case and the
// SP/HTAB around elements. Empty elements are skipped (RFC 9110 5.6.1).
bool has_token(std::string_view list, std::string_view token) noexcept;
// The same over every field line named `name` (they form one list, RFC 9110 5.3), e.g.
// has_token(req, "Connection", "close").
bool has_token(const Request& req, std::string_view name, std::string_view token) noexcept;

// Subprotocol negotiation: the first protocol in the client's `offered` list (client order) that
// equals one of `supported` (exact, case-sensitive: the client compares the echo byte-for-byte).
// Returns the matching element of `supported` (so it outlives the request bytes); "" if none.
std::string_view select_subprotocol(std::string_view offered, const std::string_view* supported,
                                    std::size_t n) noexcept;
// The same over every Sec-WebSocket-Protocol line of `req`, in order: the combined list.
std::string_view select_subprotocol(const Request& req, const std::string_view* supported,
                                    std::size_t n) noexcept;

// Sec-WebSocket-Extensions (RFC 6455 9.1):
//   extension = token *( OWS ";" OWS token [ "=" ( token / quoted-string ) ] ), comma-separated.
// Validates the whole header first, then calls fn once per offer in order with its name and its
// raw parameter string (everything after the first ';', OWS-trimmed; "" if none). Returns false,
// without calling fn, when the header is malformed. Empty list elements are skipped.
struct ExtensionOffer {
  std::string_view name;
  std::string_view params;
};
using ExtensionFn = void (*)(void* ctx, const ExtensionOffer& offer) noexcept;
bool parse_extensions(std::string_view header, ExtensionFn fn, void* ctx) noexcept;
// The same over every Sec-WebSocket-Extensions line of `req`, as one list: every line is validated
// first (one malformed line: false, fn never called), then fn sees the offers in line order. True
// (no calls) when there is no such field.
bool parse_extensions(const Request& req, ExtensionFn fn, void* ctx) noexcept;

// Response writers. Each returns the bytes written into out[0, cap), or 0 when `out` is too small
// or an argument would break the response framing (CR, LF or another CTL in a header value, a
// status outside 100..999, Reject::none). Nothing is written past cap.
//
// Refusal: "HTTP/1.1 <status> <text>", Connection: close, Content-Type: text/plain;
// charset=utf-8, Content-Length, the header the status needs, blank line, reason + "\n".
//   405              -> "Allow: GET"
//   426 (all three)  -> "Upgrade: websocket" (RFC 9110 15.5.22 MUST), and, since a sender of
//                       Upgrade MUST list it in Connection (RFC 9110 7.8), the Connection field
//                       reads "close, Upgrade"; bad_version adds "Sec-WebSocket-Version: 13".
// Except http2_preface: the client speaks HTTP/2 and cannot read that, so it gets HTTP/2 frames,
// a SETTINGS and RST_STREAM(stream 1, HTTP_1_1_REQUIRED), 22 bytes, which make curl retry over
// HTTP/1.1. For that retry to happen the connection must stay open until the client closes it
// (or a deadline): with our FIN in the same flight, curl 7.88 reports "Empty reply from server"
// about half the time. reject_reason(http2_preface) is still the text for logs.
std::size_t write_reject(Reject r, char* out, std::size_t cap) noexcept;

// "HTTP/1.1 101 Switching Protocols", Upgrade: websocket, Connection: Upgrade,
// Sec-WebSocket-Accept: <accept>, [Sec-WebSocket-Protocol: <protocol> when non-empty], blank line.
std::size_t write_switching_protocols(std::string_view accept, std::string_view protocol, char* out,
                                      std::size_t cap) noexcept;

// The one response writer. A head: status line, Content-Type (when non-empty), Content-Length,
// `extra` (whole header lines, each ending CRLF; refused if one could end the head early), then
// "Connection: close" unless keep_alive, blank line. The body follows separately (large pages are
// queued without a copy into this buffer). 0 when it does not fit or an argument is unsafe.
struct ResponseHead {
  int status = 200;
  std::string_view content_type;
  std::size_t content_length = 0;
  bool keep_alive = false;
  std::string_view extra;
};
std::size_t write_response_head(const ResponseHead& head, char* out, std::size_t cap) noexcept;

// A whole response with Connection: close (admin endpoint, small bodies): the head, then body.
std::size_t write_response(int status, std::string_view content_type, std::string_view body, char* out,
                           std::size_t cap) noexcept;

// Reason phrase for a status code; "" for codes this server never sends (the status line then
// ends "NNN \r\n", which RFC 9112 allows).
std::string_view status_text(int status) noexcept;

}  // namespace ringgate::http
