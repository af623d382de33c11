// Response writers: fixed-shape HTTP/1.1 heads into caller buffers. A bounded Writer appends and
// remembers overflow, so each writer is a flat list of appends and reports 0 if anything did not fit.
#include <cstdint>

#include "http/text.hpp"
#include "ringgate/http/upgrade.hpp"

namespace ringgate::http {
namespace {

class Writer {
 public:
  Writer(char* out, std::size_t cap) noexcept : out_(out), cap_(cap) {}

  Writer& put(std::string_view s) noexcept {
    if (overflow_ || s.size() > cap_ - len_) {
      overflow_ = true;
      return *this;
    }
    for (std::size_t i = 0; i < s.size(); ++i) out_[len_ + i] = s[i];
    len_ += s.size();
    return *this;
  }
  Writer& put_uint(std::uint64_t v) noexcept {
    char digits[20];
    std::size_t n = 0;
    do {
      digits[sizeof digits - ++n] = char('0' + v % 10);
      v /= 10;
    } while (v != 0);
    return put(std::string_view(digits + sizeof digits - n, n));
  }
  Writer& status_line(int status) noexcept {
    return put("HTTP/1.1 ").put_uint(std::uint64_t(status)).put(" ").put(status_text(status)).put("\r\n");
  }
  std::size_t finish() const noexcept { return overflow_ ? 0 : len_; }

 private:
  char* out_;
  std::size_t cap_;
  std::size_t len_ = 0;
  bool overflow_ = false;
};

// The answer to an HTTP/2 prior-knowledge client (RFC 9113): our (empty) SETTINGS, which must
// open a server's side of the connection, then RST_STREAM on stream 1, the request every such
// client opens with its preface, with HTTP_1_1_REQUIRED (0xd). curl (7.88 + nghttp2 1.52) then
// reconnects over HTTP/1.1 and prints that answer. No GOAWAY: with one in the same flight curl
// 7.88 gives up instead ("(16) Error in the HTTP2 framing layer" for last-stream 0, "(18)
// Transferred a partial file" for 1) - measured, see tests/unit/http/response_test.cpp.
constexpr char kHttp2Refusal[] = {
    0, 0, 0, 0x04, 0, 0, 0, 0, 0,                 // SETTINGS, length 0, stream 0
    0, 0, 4, 0x03, 0, 0, 0, 0, 1, 0, 0, 0, 0x0d,  // RST_STREAM, length 4, stream 1, 0xd
};

// A value is safe to place in a header when it cannot end the line or the head.
bool header_safe(std::string_view value) noexcept { return detail::all_of(value, detail::kVchar); }

}  // namespace

std::string_view status_text(int status) noexcept {
  switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
  }
}

std::size_t write_reject(Reject r, char* out, std::size_t cap) noexcept {
  const int status = reject_status(r);
  if (status == 0) return 0;
  if (r == Reject::http2_preface)
    return Writer(out, cap).put(std::string_view(kHttp2Refusal, sizeof kHttp2Refusal)).finish();
  const std::string_view reason = reject_reason(r);
  Writer w(out, cap);
  w.status_line(status);
  if (status == 426) {
    w.put("Connection: close, Upgrade\r\nUpgrade: websocket\r\n");
  } else {
    w.put("Connection: close\r\n");
  }
  w.put("Content-Type: text/plain; charset=utf-8\r\nContent-Length: ").put_uint(reason.size() + 1).put("\r\n");
  if (r == Reject::method_not_allowed) w.put("Allow: GET\r\n");
  if (r == Reject::bad_version) w.put("Sec-WebSocket-Version: 13\r\n");
  w.put("\r\n").put(reason).put("\n");
  return w.finish();
}

std::size_t write_switching_protocols(std::string_view accept, std::string_view protocol, char* out,
                                      std::size_t cap) noexcept {
  if (accept.empty() || !header_safe(accept) || !header_safe(protocol)) return 0;
  Writer w(out, cap);
  w.put("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ")
      .put(accept)
      .put("\r\n");
  if (!protocol.empty()) w.put("Sec-WebSocket-Protocol: ").put(protocol).put("\r\n");
  w.put("\r\n");
  return w.finish();
}

namespace {
// Extra header lines must be whole "Name: value" lines, each ending CRLF, with nothing in them
// that could end the head early (a bare CR or LF, another CTL).
bool lines_safe(std::string_view extra) noexcept {
  for (std::size_t i = 0; i < extra.size(); ++i) {
    const unsigned char ch = static_cast<unsigned char>(extra[i]);
    if (ch == '\r') {
      if (i + 1 >= extra.size() || extra[i + 1] != '\n' || i == 0 || extra[i - 1] == '\n') return false;
      ++i;
    } else if (ch == '\n' || (ch < 0x20 && ch != '\t') || ch == 0x7f) {
      return false;
    }
  }
  return extra.empty() || (extra.size() >= 2 && extra.substr(extra.size() - 2) == "\r\n");
}
}  // namespace

std::size_t write_response_head(const ResponseHead& h, char* out, std::size_t cap) noexcept {
  if (h.status < 100 || h.status > 999 || !header_safe(h.content_type) || !lines_safe(h.extra)) return 0;
  // 1xx, 204 and 304 carry no content, and must not send Content-Length (RFC 9110 8.6).
  const bool bodiless = h.status < 200 || h.status == 204 || h.status == 304;
  if (bodiless && h.content_length != 0) return 0;
  Writer w(out, cap);
  w.status_line(h.status);
  if (!bodiless) {
    if (!h.content_type.empty()) w.put("Content-Type: ").put(h.content_type).put("\r\n");
    w.put("Content-Length: ").put_uint(h.content_length).put("\r\n");
  }
  w.put(h.extra);
  w.put(h.keep_alive ? "\r\n" : "Connection: close\r\n\r\n");
  return w.finish();
}

std::size_t write_response(int status, std::string_view content_type, std::string_view body, char* out,
                           std::size_t cap) noexcept {
  const std::size_t n = write_response_head(ResponseHead{status, content_type, body.size()}, out, cap);
  if (n == 0 || body.size() > cap - n) return 0;
  for (std::size_t i = 0; i < body.size(); ++i) out[n + i] = body[i];
  return n + body.size();
}

}  // namespace ringgate::http
