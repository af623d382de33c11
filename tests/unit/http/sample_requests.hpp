// Real-world upgrade requests (as sent by current browsers) and a parse+validate helper shared by
// the http unit tests.
#pragma once

#include <string>
#include <string_view>

#include "ringgate/http/request.hpp"
#include "ringgate/http/upgrade.hpp"

namespace ringgate::http::testing {

// Chrome 120 on Linux, ws://example.com:8000/chat?room=1 from a page on http://example.com.
inline constexpr std::string_view kChromeRequest =
    "GET /chat?room=1 HTTP/1.1\r\n"
    "Host: example.com:8000\r\n"
    "Connection: Upgrade\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36\r\n"
    "Upgrade: websocket\r\n"
    "Origin: http://example.com\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "Sec-WebSocket-Protocol: chat, superchat\r\n"
    "\r\n";

// Firefox 121 on Linux: note "Connection: keep-alive, Upgrade" and the Sec-Fetch-* fields.
inline constexpr std::string_view kFirefoxRequest =
    "GET /echo HTTP/1.1\r\n"
    "Host: localhost:8080\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0\r\n"
    "Accept: */*\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Origin: http://localhost:8080\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate\r\n"
    "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"
    "DNT: 1\r\n"
    "Connection: keep-alive, Upgrade\r\n"
    "Sec-Fetch-Dest: empty\r\n"
    "Sec-Fetch-Mode: websocket\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "Upgrade: websocket\r\n"
    "\r\n";

// Same request with bare LF line ends (some hand-written clients and test tools).
inline std::string with_bare_lf(std::string_view crlf) {
  std::string out;
  for (char c : crlf)
    if (c != '\r') out += c;
  return out;
}

// A minimal valid upgrade for /chat with the given extra header lines ("Name: value\r\n"...).
inline std::string minimal_upgrade(std::string_view extra = {}, std::string_view request_line = "GET /chat HTTP/1.1") {
  std::string s(request_line);
  s += "\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
  s += extra;
  s += "\r\n";
  return s;
}

// Routes: /chat and /echo.
inline bool test_routes(void*, std::string_view path) noexcept { return path == "/chat" || path == "/echo"; }

struct Outcome {
  ParseResult parse;
  Reject reject;  // from parse when it failed, else from validate_upgrade
  Upgrade upgrade;
};

inline Outcome parse_and_validate(std::string_view bytes, std::size_t head_limit = kDefaultHeadLimit) {
  Outcome o{};
  static Request req;  // 2 KiB of views; static keeps the test stack small and views valid
  o.parse = parse_request_head(bytes, req, head_limit);
  if (o.parse.status == ParseStatus::error) {
    o.reject = o.parse.reject;
  } else if (o.parse.status == ParseStatus::done) {
    o.reject = validate_upgrade(req, o.upgrade, &test_routes, nullptr);
  } else {
    o.reject = Reject::none;
  }
  return o;
}

}  // namespace ringgate::http::testing
