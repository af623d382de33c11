// Response writers: exact bytes for the 101 and every refusal, bounds (never past cap), and
// refusal to emit values that would break the head.
#include <gtest/gtest.h>

#include <string>

#include "ringgate/http/upgrade.hpp"

namespace ringgate::http {
namespace {

constexpr std::string_view kAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";  // RFC 6455 1.3 sample

std::string reject_bytes(Reject r) {
  char buf[1024];
  const std::size_t n = write_reject(r, buf, sizeof buf);
  return std::string(buf, n);
}

// Splits "head\r\n\r\nbody" and returns the value of `name` in the head ("" if absent).
std::string field(const std::string& response, std::string_view name) {
  const std::string key = "\r\n" + std::string(name) + ": ";
  const std::size_t head_end = response.find("\r\n\r\n");
  const std::size_t at = response.find(key);
  if (at == std::string::npos || at >= head_end) return {};
  const std::size_t begin = at + key.size();
  return response.substr(begin, response.find("\r\n", begin) - begin);
}

std::string body(const std::string& response) { return response.substr(response.find("\r\n\r\n") + 4); }

TEST(WriteReject, ExactBytes405) {
  EXPECT_EQ(reject_bytes(Reject::method_not_allowed),
            "HTTP/1.1 405 Method Not Allowed\r\n"
            "Connection: close\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 28\r\n"
            "Allow: GET\r\n"
            "\r\n"
            "WebSocket upgrade needs GET\n");
}

TEST(WriteReject, ExactBytes426BadVersion) {
  EXPECT_EQ(reject_bytes(Reject::bad_version),
            "HTTP/1.1 426 Upgrade Required\r\n"
            "Connection: close, Upgrade\r\n"
            "Upgrade: websocket\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 58\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "\r\n"
            "unsupported Sec-WebSocket-Version (this server speaks 13)\n");
}

TEST(WriteReject, EveryReason) {
  struct Case {
    Reject r;
    std::string_view status_line;
    std::string_view extra_name, extra_value;
  };
  const Case cases[] = {
      {Reject::method_not_allowed, "HTTP/1.1 405 Method Not Allowed", "Allow", "GET"},
      {Reject::missing_upgrade, "HTTP/1.1 426 Upgrade Required", "Upgrade", "websocket"},
      {Reject::missing_connection_upgrade, "HTTP/1.1 426 Upgrade Required", "Upgrade", "websocket"},
      {Reject::bad_version, "HTTP/1.1 426 Upgrade Required", "Sec-WebSocket-Version", "13"},
      {Reject::bad_key, "HTTP/1.1 400 Bad Request", {}, {}},
      {Reject::head_too_large, "HTTP/1.1 431 Request Header Fields Too Large", {}, {}},
      {Reject::not_found, "HTTP/1.1 404 Not Found", {}, {}},
      {Reject::malformed, "HTTP/1.1 400 Bad Request", {}, {}},
      {Reject::http_1_0, "HTTP/1.1 400 Bad Request", {}, {}},
      {Reject::plain_http_on_tls, "HTTP/1.1 400 Bad Request", {}, {}},
  };
  static_assert(sizeof cases / sizeof cases[0] == kRejectCount - 2);  // all but none and http2_preface
  for (const Case& c : cases) {
    const std::string resp = reject_bytes(c.r);
    SCOPED_TRACE(std::string(reject_name(c.r)));
    ASSERT_FALSE(resp.empty());
    EXPECT_EQ(resp.substr(0, resp.find("\r\n")), c.status_line);
    const bool is426 = reject_status(c.r) == 426;
    EXPECT_EQ(field(resp, "Connection"), is426 ? "close, Upgrade" : "close");
    EXPECT_EQ(field(resp, "Content-Type"), "text/plain; charset=utf-8");
    EXPECT_EQ(body(resp), std::string(reject_reason(c.r)) + "\n");
    EXPECT_EQ(field(resp, "Content-Length"), std::to_string(body(resp).size()));
    if (!c.extra_name.empty()) {
      EXPECT_EQ(field(resp, c.extra_name), c.extra_value);
    }
    EXPECT_EQ(field(resp, "Allow").empty(), c.r != Reject::method_not_allowed);
    EXPECT_EQ(field(resp, "Upgrade").empty(), !is426);
    EXPECT_EQ(field(resp, "Sec-WebSocket-Version").empty(), c.r != Reject::bad_version);
  }
}

// An HTTP/2 client cannot read an HTTP/1.1 answer (curl: "Empty reply from server"): it gets an
// empty SETTINGS and RST_STREAM(1, HTTP_1_1_REQUIRED). Measured with Debian 12's curl 7.88.1
// (nghttp2 1.52) against a socket server that sends these bytes and closes after the client:
//   curl -sv --http2-prior-knowledge http://127.0.0.1:PORT/ws
//   * HTTP/2 stream 1 was not closed cleanly: HTTP_1_1_REQUIRED (err 13)
//   * Downgrades to HTTP/1.1
//   > GET /ws HTTP/1.1          (new connection, then prints our HTTP/1.1 426 and its body)
// Adding a GOAWAY (last-stream 0 or 1, with or without HTTP_1_1_REQUIRED) made curl fail instead.
TEST(WriteReject, Http2PrefaceGetsHttp2Frames) {
  const std::string expected(
      "\x00\x00\x00" "\x04" "\x00" "\x00\x00\x00\x00"                       // SETTINGS, empty, stream 0
      "\x00\x00\x04" "\x03" "\x00" "\x00\x00\x00\x01" "\x00\x00\x00\x0d",  // RST_STREAM(1, 0xd)
      22);
  EXPECT_EQ(reject_bytes(Reject::http2_preface), expected);
  for (std::size_t cap = 0; cap < expected.size(); ++cap) {
    std::string buf(expected.size() + 4, '#');
    EXPECT_EQ(write_reject(Reject::http2_preface, buf.data(), cap), 0u) << cap;
    EXPECT_EQ(buf.substr(cap), std::string(buf.size() - cap, '#')) << cap;
  }
  // The log still gets words.
  EXPECT_NE(reject_reason(Reject::http2_preface).find("HTTP/1.1"), std::string_view::npos);
}

TEST(WriteReject, PlainHttpOnTlsAndHttp10) {
  const std::string tls = reject_bytes(Reject::plain_http_on_tls);
  EXPECT_TRUE(tls.starts_with("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n")) << tls;
  EXPECT_NE(body(tls).find("https:// or wss://"), std::string::npos) << tls;
  const std::string v10 = reject_bytes(Reject::http_1_0);
  EXPECT_TRUE(v10.starts_with("HTTP/1.1 400 Bad Request\r\n")) << v10;
  EXPECT_NE(body(v10).find("proxy_http_version 1.1;"), std::string::npos) << v10;
}

TEST(WriteReject, NoneWritesNothing) {
  char buf[256];
  EXPECT_EQ(write_reject(Reject::none, buf, sizeof buf), 0u);
}

TEST(WriteReject, NeverWritesPastCap) {
  const std::size_t full = reject_bytes(Reject::bad_version).size();
  for (std::size_t cap = 0; cap < full; ++cap) {
    std::string buf(full + 8, '#');
    EXPECT_EQ(write_reject(Reject::bad_version, buf.data(), cap), 0u) << cap;
    EXPECT_EQ(buf.substr(cap), std::string(full + 8 - cap, '#')) << cap;
  }
  std::string buf(full, '#');
  EXPECT_EQ(write_reject(Reject::bad_version, buf.data(), full), full);
}

TEST(SwitchingProtocols, WithoutProtocol) {
  char buf[256];
  const std::size_t n = write_switching_protocols(kAccept, {}, buf, sizeof buf);
  EXPECT_EQ(std::string_view(buf, n),
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "\r\n");
}

TEST(SwitchingProtocols, WithProtocol) {
  char buf[256];
  const std::size_t n = write_switching_protocols(kAccept, "chat", buf, sizeof buf);
  EXPECT_EQ(std::string_view(buf, n),
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "Sec-WebSocket-Protocol: chat\r\n"
            "\r\n");
}

TEST(SwitchingProtocols, BoundsAndInjection) {
  char buf[256];
  const std::size_t full = write_switching_protocols(kAccept, "chat", buf, sizeof buf);
  EXPECT_EQ(write_switching_protocols(kAccept, "chat", buf, full), full);
  EXPECT_EQ(write_switching_protocols(kAccept, "chat", buf, full - 1), 0u);
  EXPECT_EQ(write_switching_protocols(kAccept, "chat", buf, 0), 0u);
  EXPECT_EQ(write_switching_protocols({}, "chat", buf, sizeof buf), 0u);
  EXPECT_EQ(write_switching_protocols(kAccept, "chat\r\nSet-Cookie: x", buf, sizeof buf), 0u);
  EXPECT_EQ(write_switching_protocols("abc\n", {}, buf, sizeof buf), 0u);
}

TEST(WriteResponse, PlainBody) {
  char buf[256];
  const std::size_t n = write_response(200, "text/plain; version=0.0.4", "up 1\n", buf, sizeof buf);
  EXPECT_EQ(std::string_view(buf, n),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain; version=0.0.4\r\n"
            "Content-Length: 5\r\n"
            "Connection: close\r\n"
            "\r\n"
            "up 1\n");
  EXPECT_EQ(write_response(200, "text/plain; version=0.0.4", "up 1\n", buf, n - 1), 0u);
  EXPECT_EQ(write_response(503, "text/plain", "", buf, sizeof buf),
            std::string_view("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                             "Content-Length: 0\r\nConnection: close\r\n\r\n").size());
}

TEST(WriteResponse, BodilessStatusesAndBadArguments) {
  char buf[256];
  const std::size_t n = write_response(204, "text/plain", "", buf, sizeof buf);
  EXPECT_EQ(std::string_view(buf, n), "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(write_response(204, "text/plain", "x", buf, sizeof buf), 0u);
  EXPECT_EQ(write_response(99, "text/plain", "x", buf, sizeof buf), 0u);
  EXPECT_EQ(write_response(1000, "text/plain", "x", buf, sizeof buf), 0u);
  EXPECT_EQ(write_response(200, "text/plain\r\nX: y", "x", buf, sizeof buf), 0u);
  const std::size_t m = write_response(599, {}, "x", buf, sizeof buf);
  EXPECT_EQ(std::string_view(buf, m), "HTTP/1.1 599 \r\nContent-Length: 1\r\nConnection: close\r\n\r\nx");
}

TEST(StatusText, KnownAndUnknown) {
  EXPECT_EQ(status_text(101), "Switching Protocols");
  EXPECT_EQ(status_text(200), "OK");
  EXPECT_EQ(status_text(404), "Not Found");
  EXPECT_EQ(status_text(426), "Upgrade Required");
  EXPECT_EQ(status_text(431), "Request Header Fields Too Large");
  EXPECT_EQ(status_text(503), "Service Unavailable");
  EXPECT_EQ(status_text(0), "");
  EXPECT_EQ(status_text(299), "");
  EXPECT_EQ(status_text(-1), "");
}

}  // namespace
}  // namespace ringgate::http
