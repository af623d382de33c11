// Upgrade validation through parse + validate with realistic requests, one case per refusal, and
// the list helpers (tokens, subprotocols, extensions).
#include "ringgate/http/upgrade.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sample_requests.hpp"

namespace ringgate::http {
namespace {

using testing::kChromeRequest;
using testing::kFirefoxRequest;
using testing::minimal_upgrade;
using testing::parse_and_validate;

Reject reject_of(std::string_view bytes) { return parse_and_validate(bytes).reject; }

TEST(Upgrade, AcceptsChrome) {
  const auto o = parse_and_validate(kChromeRequest);
  ASSERT_EQ(o.parse.status, ParseStatus::done);
  ASSERT_EQ(o.reject, Reject::none);
  EXPECT_EQ(o.upgrade.path, "/chat");
  EXPECT_EQ(o.upgrade.query, "room=1");
  EXPECT_EQ(o.upgrade.key, "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(o.upgrade.protocols, "chat, superchat");
  EXPECT_EQ(o.upgrade.extensions, "permessage-deflate; client_max_window_bits");
  EXPECT_EQ(o.upgrade.origin, "http://example.com");
  EXPECT_EQ(o.upgrade.host, "example.com:8000");
}

TEST(Upgrade, AcceptsFirefoxKeepAliveUpgrade) {
  const auto o = parse_and_validate(kFirefoxRequest);
  ASSERT_EQ(o.reject, Reject::none);
  EXPECT_EQ(o.upgrade.path, "/echo");
  EXPECT_EQ(o.upgrade.query, "");
  EXPECT_EQ(o.upgrade.key, "x3JJHMbDL1EzLkh9GBhXDw==");
  EXPECT_EQ(o.upgrade.protocols, "");
  EXPECT_EQ(o.upgrade.extensions, "permessage-deflate");
  EXPECT_EQ(o.upgrade.host, "localhost:8080");
}

TEST(Upgrade, AcceptsBareLfAndOddCase) {
  EXPECT_EQ(reject_of(testing::with_bare_lf(kChromeRequest)), Reject::none);
  EXPECT_EQ(reject_of("GET /chat HTTP/1.1\r\nhost: a\r\nUPGRADE: WebSocket\r\nconnection: UPGRADE\r\n"
                      "sec-websocket-key:dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version:   13  \r\n\r\n"),
            Reject::none);
  // HTTP/1.1 semantics for a later 1.x minor (RFC 9110 2.5).
  EXPECT_EQ(reject_of(minimal_upgrade({}, "GET /chat HTTP/1.2")), Reject::none);
  // Repeated Upgrade / Connection fields form one list.
  EXPECT_EQ(reject_of("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nUpgrade: websocket\r\n"
                      "Connection: keep-alive\r\nConnection: upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"),
            Reject::none);
  EXPECT_EQ(reject_of(minimal_upgrade("Content-Length: 0\r\n")), Reject::none);
}

TEST(Upgrade, MethodNotAllowed) {
  EXPECT_EQ(reject_of(minimal_upgrade({}, "POST /chat HTTP/1.1")), Reject::method_not_allowed);
  EXPECT_EQ(reject_of(minimal_upgrade({}, "HEAD /chat HTTP/1.1")), Reject::method_not_allowed);
  EXPECT_EQ(reject_of(minimal_upgrade({}, "get /chat HTTP/1.1")), Reject::method_not_allowed);  // methods are case-sensitive
  EXPECT_EQ(reject_of(minimal_upgrade({}, "CONNECT /chat HTTP/1.1")), Reject::method_not_allowed);
}

TEST(Upgrade, MissingUpgrade) {
  // A plain page load on the WebSocket port.
  EXPECT_EQ(reject_of("GET /chat HTTP/1.1\r\nHost: example.com\r\nAccept: text/html\r\n\r\n"), Reject::missing_upgrade);
  EXPECT_EQ(reject_of("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                      "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"),
            Reject::missing_upgrade);
  EXPECT_EQ(reject_of("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websockets\r\nConnection: Upgrade\r\n\r\n"),
            Reject::missing_upgrade);
}

TEST(Upgrade, MissingConnectionUpgrade) {
  EXPECT_EQ(reject_of("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"),
            Reject::missing_connection_upgrade);
  // A proxy that rewrote Connection to keep-alive (a classic misconfiguration).
  EXPECT_EQ(reject_of("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"),
            Reject::missing_connection_upgrade);
}

TEST(Upgrade, BadVersion) {
  const std::string no_version =
      "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
  EXPECT_EQ(reject_of(no_version), Reject::bad_version);
  const std::string v8 =
      "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n";
  EXPECT_EQ(reject_of(v8), Reject::bad_version);
  EXPECT_EQ(reject_of(minimal_upgrade("Sec-WebSocket-Version: 13\r\n")), Reject::bad_version);  // repeated
}

TEST(Upgrade, BadKey) {
  const std::string no_key =
      "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n";
  EXPECT_EQ(reject_of(no_key), Reject::bad_key);
  EXPECT_EQ(reject_of(minimal_upgrade("Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n")), Reject::bad_key);  // twice
}

std::string with_key(std::string_view key) {
  std::string s = "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ";
  s += key;
  s += "\r\n\r\n";
  return s;
}

TEST(Upgrade, KeyBase64EdgeCases) {
  const std::string_view good[] = {
      "dGhlIHNhbXBsZSBub25jZQ==",  // RFC 6455 sample
      "AAAAAAAAAAAAAAAAAAAAAA==",
      "+/+/+/+/+/+/+/+/+/+/+w==",
      "dGhlIHNhbXBsZSBub25jZR==",  // non-zero spare bits: still 16 bytes, accepted leniently
      "  dGhlIHNhbXBsZSBub25jZQ==\t",  // OWS around the value is not part of it
  };
  for (std::string_view k : good) EXPECT_EQ(reject_of(with_key(k)), Reject::none) << k;
  const std::string_view bad[] = {
      "",
      "dGhlIHNhbXBsZSBub25jZQ=",    // 23 chars
      "dGhlIHNhbXBsZSBub25jZQ===",  // 25 chars
      "dGhlIHNhbXBsZSBub25jZQ",     // unpadded
      "AAAAAAAAAAAAAAAAAAAAAAAA",   // 24 chars, no padding: 18 bytes
      "AAAAAAAAAAAAAAAAAAAAAAA=",   // 24 chars, one '=': 17 bytes
      "AAAAAAAAAAAAAAAAAAAAA===",   // 24 chars, three '=': not base64
      "AAAA=AAAAAAAAAAAAAAAAA==",   // '=' in the middle
      "=AAAAAAAAAAAAAAAAAAAAA==",   // '=' first
      "AAAAAAAAAAAAAAAAAAAAA=A=",   // '=' misplaced at the end
      "dGhlIHNhbXBsZSBub25jZQ-_",   // url-safe alphabet
      "dGhlIHNhbXBsZS-ub25jZQ==",   // url-safe '-'
      "dGhlIHNhbXBsZS_ub25jZQ==",   // url-safe '_'
      "dGhlIHNhbXBsZS!ub25jZQ==",   // punctuation
      "dGhlIHNhbX BsZSBub25jZQ=",   // inner space
      "dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ==",  // 48 chars
  };
  for (std::string_view k : bad) EXPECT_EQ(reject_of(with_key(k)), Reject::bad_key) << k;
}

TEST(Upgrade, NotFound) {
  EXPECT_EQ(reject_of(minimal_upgrade({}, "GET /nope HTTP/1.1")), Reject::not_found);
  EXPECT_EQ(reject_of(minimal_upgrade({}, "GET /chat/ HTTP/1.1")), Reject::not_found);       // exact match
  EXPECT_EQ(reject_of(minimal_upgrade({}, "GET /%63hat HTTP/1.1")), Reject::not_found);      // no decoding
  EXPECT_EQ(reject_of(minimal_upgrade({}, "GET /x/../chat HTTP/1.1")), Reject::not_found);   // no dot-segments
  EXPECT_EQ(reject_of(minimal_upgrade({}, "GET /chat?x=/echo HTTP/1.1")), Reject::none);     // query is not path
}

TEST(Upgrade, NullRouteMatchAcceptsEveryPath) {
  Request req;
  const std::string s = minimal_upgrade({}, "GET /anything HTTP/1.1");
  ASSERT_EQ(parse_request_head(s, req).status, ParseStatus::done);
  Upgrade up;
  EXPECT_EQ(validate_upgrade(req, up, nullptr, nullptr), Reject::none);
  EXPECT_EQ(up.path, "/anything");
}

TEST(Upgrade, RouteMatchGetsContextAndPath) {
  struct Ctx {
    std::string seen;
  } ctx;
  auto match = [](void* c, std::string_view path) noexcept {
    static_cast<Ctx*>(c)->seen = std::string(path);
    return false;
  };
  Request req;
  const std::string s = minimal_upgrade({}, "GET /room/7?token=abc HTTP/1.1");
  ASSERT_EQ(parse_request_head(s, req).status, ParseStatus::done);
  Upgrade up;
  EXPECT_EQ(validate_upgrade(req, up, match, &ctx), Reject::not_found);
  EXPECT_EQ(ctx.seen, "/room/7");
}

TEST(Upgrade, Http2PrefaceAndHeadTooLarge) {
  EXPECT_EQ(reject_of(std::string_view("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24)), Reject::http2_preface);
  const std::string huge = minimal_upgrade("Cookie: " + std::string(9000, 'c') + "\r\n");
  EXPECT_EQ(reject_of(huge), Reject::head_too_large);
  EXPECT_EQ(parse_and_validate(huge, 16384).reject, Reject::none);
}

// What nginx sends upstream for a location with only proxy_pass (proxy_http_version defaults to
// 1.0, and the hop-by-hop Upgrade/Connection are dropped): the refusal must name HTTP/1.0.
constexpr std::string_view kNginxDefaultProxyRequest =
    "GET /chat HTTP/1.0\r\n"
    "Host: backend\r\n"
    "Connection: close\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "User-Agent: Mozilla/5.0\r\n"
    "\r\n";

TEST(Upgrade, Http10IsNamed) {
  EXPECT_EQ(reject_of(kNginxDefaultProxyRequest), Reject::http_1_0);
  EXPECT_EQ(reject_of(minimal_upgrade({}, "GET /chat HTTP/1.0")), Reject::http_1_0);
  // First in the order: the version explains every later failure (no Host, wrong method, path).
  EXPECT_EQ(reject_of("POST /nope HTTP/1.0\r\n\r\n"), Reject::http_1_0);
  EXPECT_EQ(reject_of("GET /chat HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), Reject::http_1_0);
  // Other versions stay malformed.
  EXPECT_EQ(reject_of(minimal_upgrade({}, "GET /chat HTTP/0.9")), Reject::malformed);
  EXPECT_EQ(reject_of(minimal_upgrade({}, "GET /chat HTTP/2.0")), Reject::malformed);
  EXPECT_EQ(reject_of(minimal_upgrade({}, "GET /chat HTTP/0.0")), Reject::malformed);
  EXPECT_EQ(reject_of(minimal_upgrade({}, "GET /chat HTTP/1.1")), Reject::none);
}

TEST(Upgrade, Malformed) {
  EXPECT_EQ(reject_of(minimal_upgrade({}, "GET /chat HTTP/2.0")), Reject::malformed);
  EXPECT_EQ(reject_of(minimal_upgrade({}, "GET /chat HTTP/0.9")), Reject::malformed);
  EXPECT_EQ(reject_of("GET /chat HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"),
            Reject::malformed);  // no Host
  EXPECT_EQ(reject_of(minimal_upgrade("Host: evil.example\r\n")), Reject::malformed);
  EXPECT_EQ(reject_of(minimal_upgrade("Origin: http://a\r\nOrigin: http://b\r\n")), Reject::malformed);
  EXPECT_EQ(reject_of(minimal_upgrade("Transfer-Encoding: chunked\r\n")), Reject::malformed);
  EXPECT_EQ(reject_of(minimal_upgrade("Content-Length: 5\r\n")), Reject::malformed);
  EXPECT_EQ(reject_of(minimal_upgrade("Content-Length: 0\r\nContent-Length: 0\r\n")), Reject::malformed);
  EXPECT_EQ(reject_of(minimal_upgrade({}, "GET * HTTP/1.1")), Reject::malformed);
  EXPECT_EQ(reject_of(minimal_upgrade({}, "GET example.com:443 HTTP/1.1")), Reject::malformed);
  EXPECT_EQ(reject_of(minimal_upgrade({}, "GET /chat#frag HTTP/1.1")), Reject::malformed);
  EXPECT_EQ(reject_of(minimal_upgrade({}, "GET ftp://example.com/chat HTTP/1.1")), Reject::malformed);
  EXPECT_EQ(reject_of(minimal_upgrade({}, "GET ws:///chat HTTP/1.1")), Reject::malformed);
  EXPECT_EQ(reject_of(minimal_upgrade({}, "GET ws://user@example.com/chat HTTP/1.1")), Reject::malformed);
  // Malformed wins over every later check (here: wrong method, unknown path, no Upgrade).
  EXPECT_EQ(reject_of("POST /nope HTTP/1.1\r\n\r\n"), Reject::malformed);
}

TEST(Upgrade, CheckOrder) {
  // method before route, route before Upgrade, Upgrade before Connection, ... before key.
  EXPECT_EQ(reject_of("POST /nope HTTP/1.1\r\nHost: a\r\n\r\n"), Reject::method_not_allowed);
  EXPECT_EQ(reject_of("GET /nope HTTP/1.1\r\nHost: a\r\n\r\n"), Reject::not_found);
  EXPECT_EQ(reject_of("GET /chat HTTP/1.1\r\nHost: a\r\n\r\n"), Reject::missing_upgrade);
  EXPECT_EQ(reject_of("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n"), Reject::missing_connection_upgrade);
  EXPECT_EQ(reject_of("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"),
            Reject::bad_version);
  EXPECT_EQ(reject_of("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n"),
            Reject::bad_key);
}

TEST(Upgrade, AbsoluteFormTarget) {
  // Outcome views point into the bytes, so they must outlive it.
  const std::string absolute = minimal_upgrade({}, "GET ws://chat.example:9000/chat?x=1 HTTP/1.1");
  auto o = parse_and_validate(absolute);
  ASSERT_EQ(o.reject, Reject::none);
  EXPECT_EQ(o.upgrade.path, "/chat");
  EXPECT_EQ(o.upgrade.query, "x=1");
  EXPECT_EQ(o.upgrade.host, "chat.example:9000");  // the target's authority wins over Host
  EXPECT_EQ(reject_of(minimal_upgrade({}, "GET HTTPS://example.com HTTP/1.1")), Reject::not_found);  // path "/" is not routed
  Request req;
  const std::string s = minimal_upgrade({}, "GET wss://example.com?q HTTP/1.1");
  ASSERT_EQ(parse_request_head(s, req).status, ParseStatus::done);
  Upgrade up;
  ASSERT_EQ(validate_upgrade(req, up, nullptr, nullptr), Reject::none);
  EXPECT_EQ(up.path, "/");
  EXPECT_EQ(up.query, "q");
}

TEST(Upgrade, RepeatedListFieldsReportFirstNonEmpty) {
  const std::string s = minimal_upgrade(
      "Sec-WebSocket-Protocol:\r\nSec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Protocol: chat\r\n"
      "Sec-WebSocket-Extensions: permessage-deflate\r\nSec-WebSocket-Extensions: x-webkit-deflate-frame\r\n"
      "Origin: https://app.example\r\n");
  const auto o = parse_and_validate(s);
  ASSERT_EQ(o.reject, Reject::none);
  EXPECT_EQ(o.upgrade.protocols, "mqtt");
  EXPECT_EQ(o.upgrade.extensions, "permessage-deflate");
  EXPECT_EQ(o.upgrade.origin, "https://app.example");
  EXPECT_EQ(o.upgrade.host, "example.com");
}

TEST(Upgrade, RepeatedFieldsThatMustNotRepeat) {
  // Content-Length repeated (equal or not) and Transfer-Encoding in any form: a body we would
  // misread as frames (smuggling), refused.
  EXPECT_EQ(reject_of(minimal_upgrade("Content-Length: 0\r\nContent-Length: 5\r\n")), Reject::malformed);
  EXPECT_EQ(reject_of(minimal_upgrade("Content-Length: 5\r\nContent-Length: 0\r\n")), Reject::malformed);
  EXPECT_EQ(reject_of(minimal_upgrade("Content-Length: 0, 0\r\n")), Reject::malformed);
  EXPECT_EQ(reject_of(minimal_upgrade("Transfer-Encoding: identity\r\n")), Reject::malformed);
  EXPECT_EQ(reject_of(minimal_upgrade("Transfer-Encoding:\r\n")), Reject::malformed);
  EXPECT_EQ(reject_of(minimal_upgrade("transfer-encoding: chunked\r\nContent-Length: 0\r\n")), Reject::malformed);
  EXPECT_EQ(reject_of(minimal_upgrade("Host: example.com\r\n")), Reject::malformed);  // same Host twice
}

TEST(Upgrade, UpgradeAndConnectionTokensInAnyLine) {
  // The token in the last of several lines, and split across lines with empty ones in between.
  EXPECT_EQ(reject_of("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade:\r\nUpgrade: h2c, foo\r\nUpgrade: websocket\r\n"
                      "Connection: keep-alive\r\nConnection:\r\nConnection: TE, Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"),
            Reject::none);
  EXPECT_EQ(reject_of("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nUpgrade: websockets\r\n"
                      "Connection: upgrade\r\n\r\n"),
            Reject::missing_upgrade);
  EXPECT_EQ(reject_of("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: close\r\n"
                      "Connection: keep-alive\r\n\r\n"),
            Reject::missing_connection_upgrade);
}

TEST(Upgrade, RepeatedProtocolLinesFormOneList) {
  const std::string s = minimal_upgrade(
      "Sec-WebSocket-Protocol:\r\nSec-WebSocket-Protocol: mqtt, x\r\nX-Other: chat\r\n"
      "sec-websocket-protocol: chat, superchat\r\n");
  Request req;
  ASSERT_EQ(parse_request_head(s, req).status, ParseStatus::done);
  static constexpr std::string_view kChat[] = {"superchat", "chat"};
  // Only the third line offers what we support; the first-line view alone would miss it.
  EXPECT_EQ(select_subprotocol(req, kChat, 2), "chat");  // client order: chat before superchat
  EXPECT_EQ(select_subprotocol(req.header("Sec-WebSocket-Protocol"), kChat, 2), "");
  static constexpr std::string_view kBoth[] = {"chat", "mqtt"};
  EXPECT_EQ(select_subprotocol(req, kBoth, 2), "mqtt");  // earlier line first
  static constexpr std::string_view kNone[] = {"stomp"};
  EXPECT_EQ(select_subprotocol(req, kNone, 1), "");
  EXPECT_EQ(select_subprotocol(req, nullptr, 0), "");
  Request bare;
  ASSERT_EQ(parse_request_head(minimal_upgrade(), bare).status, ParseStatus::done);
  EXPECT_EQ(select_subprotocol(bare, kChat, 2), "");
}

TEST(Tokens, HasTokenAcrossLines) {
  Request req;
  ASSERT_EQ(parse_request_head("GET / HTTP/1.1\r\nConnection: keep-alive\r\nX: close\r\nconnection: TE,close\r\n\r\n",
                               req)
                .status,
            ParseStatus::done);
  EXPECT_TRUE(has_token(req, "Connection", "close"));
  EXPECT_TRUE(has_token(req, "connection", "KEEP-ALIVE"));
  EXPECT_FALSE(has_token(req, "Connection", "upgrade"));
  EXPECT_FALSE(has_token(req, "Missing", "close"));
  EXPECT_EQ(req.header("connection"), "keep-alive");  // why header() is not enough for lists
}

TEST(Upgrade, QuerySplit) {
  const std::string empty_query = minimal_upgrade({}, "GET /chat? HTTP/1.1");
  auto o = parse_and_validate(empty_query);
  ASSERT_EQ(o.reject, Reject::none);
  EXPECT_EQ(o.upgrade.query, "");
  const std::string two_marks = minimal_upgrade({}, "GET /chat?a=b&c=d?e HTTP/1.1");
  o = parse_and_validate(two_marks);
  ASSERT_EQ(o.reject, Reject::none);
  EXPECT_EQ(o.upgrade.path, "/chat");
  EXPECT_EQ(o.upgrade.query, "a=b&c=d?e");
}

TEST(Tokens, HasToken) {
  EXPECT_TRUE(has_token("Upgrade", "upgrade"));
  EXPECT_TRUE(has_token("keep-alive, Upgrade", "upgrade"));
  EXPECT_TRUE(has_token("keep-alive,upgrade", "upgrade"));
  EXPECT_TRUE(has_token("  UPGRADE  ", "upgrade"));
  EXPECT_TRUE(has_token("\tUpGrAdE\t,close", "upgrade"));
  EXPECT_TRUE(has_token(",, ,upgrade,,", "upgrade"));
  EXPECT_TRUE(has_token("close , upgrade , keep-alive", "UPGRADE"));
  EXPECT_FALSE(has_token("", "upgrade"));
  EXPECT_FALSE(has_token("keep-alive", "upgrade"));
  EXPECT_FALSE(has_token("upgrades", "upgrade"));
  EXPECT_FALSE(has_token("pre-upgrade", "upgrade"));
  EXPECT_FALSE(has_token("up grade", "upgrade"));
  EXPECT_FALSE(has_token("upgrade;q=1", "upgrade"));
  EXPECT_FALSE(has_token("keep-alive upgrade", "upgrade"));
  EXPECT_FALSE(has_token(",,,", "upgrade"));
}

TEST(Subprotocol, ClientOrderWins) {
  const std::string_view supported[] = {"superchat", "chat"};
  const std::string_view chosen = select_subprotocol("chat, superchat", supported, 2);
  EXPECT_EQ(chosen, "chat");
  EXPECT_EQ(chosen.data(), supported[1].data());  // a view of the server's string, not the request
  EXPECT_EQ(select_subprotocol("superchat,chat", supported, 2), "superchat");
  EXPECT_EQ(select_subprotocol("  mqtt ,\tchat ", supported, 2), "chat");
}

TEST(Subprotocol, NoMatch) {
  const std::string_view supported[] = {"chat"};
  EXPECT_EQ(select_subprotocol("", supported, 1), "");
  EXPECT_EQ(select_subprotocol("mqtt, wamp.2.json", supported, 1), "");
  EXPECT_EQ(select_subprotocol("Chat", supported, 1), "");       // case-sensitive
  EXPECT_EQ(select_subprotocol("chatty, cha", supported, 1), "");
  EXPECT_EQ(select_subprotocol("chat", nullptr, 0), "");
  const std::string_view with_empty[] = {""};
  EXPECT_EQ(select_subprotocol(", ,", with_empty, 1), "");
}

struct Offers {
  std::vector<std::pair<std::string, std::string>> list;
  static void add(void* ctx, const ExtensionOffer& o) noexcept {
    static_cast<Offers*>(ctx)->list.emplace_back(std::string(o.name), std::string(o.params));
  }
};

using Pairs = std::vector<std::pair<std::string, std::string>>;

TEST(Extensions, ParsesOffers) {
  Offers o;
  ASSERT_TRUE(parse_extensions("permessage-deflate; client_max_window_bits, x-webkit-deflate-frame", &Offers::add, &o));
  EXPECT_EQ(o.list, (Pairs{{"permessage-deflate", "client_max_window_bits"}, {"x-webkit-deflate-frame", ""}}));

  o.list.clear();
  ASSERT_TRUE(parse_extensions("permessage-deflate;client_max_window_bits=15 ; server_no_context_takeover,"
                               "permessage-deflate",
                               &Offers::add, &o));
  EXPECT_EQ(o.list, (Pairs{{"permessage-deflate", "client_max_window_bits=15 ; server_no_context_takeover"},
                           {"permessage-deflate", ""}}));

  o.list.clear();  // quoted-string values may hold ',' and ';'
  ASSERT_TRUE(parse_extensions("foo; bar=\"a, b; c\\\"\" , baz ; q = 1", &Offers::add, &o));
  EXPECT_EQ(o.list, (Pairs{{"foo", "bar=\"a, b; c\\\"\""}, {"baz", "q = 1"}}));

  o.list.clear();
  EXPECT_TRUE(parse_extensions("", &Offers::add, &o));
  EXPECT_TRUE(parse_extensions(" , ,, ", &Offers::add, &o));
  EXPECT_TRUE(o.list.empty());
  EXPECT_TRUE(parse_extensions("permessage-deflate", nullptr, nullptr));  // validate only
}

TEST(Extensions, RejectsMalformedWithoutCallingBack) {
  const std::string_view bad[] = {
      "; x",
      "foo;",
      "foo; ",
      "foo bar",
      "foo; =1",
      "foo; a=",
      "foo; a=\"unterminated",
      "foo; a=\"bad\\",
      "foo; a b",
      "foo; a=1 2",
      "good, @bad",
      "good, bad;",
      "foo; a=\"x\"y",
      "foo\x01",
  };
  for (std::string_view h : bad) {
    Offers o;
    EXPECT_FALSE(parse_extensions(h, &Offers::add, &o)) << h;
    EXPECT_TRUE(o.list.empty()) << h;
  }
}

TEST(Extensions, EveryLineOfARepeatedField) {
  Request req;
  const std::string s = minimal_upgrade(
      "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nX: y\r\n"
      "Sec-WebSocket-Extensions:\r\nsec-websocket-extensions: x-webkit-deflate-frame, foo; a=1\r\n");
  ASSERT_EQ(parse_request_head(s, req).status, ParseStatus::done);
  Offers o;
  ASSERT_TRUE(parse_extensions(req, &Offers::add, &o));
  EXPECT_EQ(o.list, (Pairs{{"permessage-deflate", "client_max_window_bits"},
                           {"x-webkit-deflate-frame", ""},
                           {"foo", "a=1"}}));
  EXPECT_TRUE(parse_extensions(req, nullptr, nullptr));

  // One bad line anywhere: false, and no offer from the good lines either.
  Request bad;
  const std::string b = minimal_upgrade(
      "Sec-WebSocket-Extensions: permessage-deflate\r\nSec-WebSocket-Extensions: foo;\r\n");
  ASSERT_EQ(parse_request_head(b, bad).status, ParseStatus::done);
  o.list.clear();
  EXPECT_FALSE(parse_extensions(bad, &Offers::add, &o));
  EXPECT_TRUE(o.list.empty());

  Request none;
  ASSERT_EQ(parse_request_head(minimal_upgrade(), none).status, ParseStatus::done);
  EXPECT_TRUE(parse_extensions(none, &Offers::add, &o));
  EXPECT_TRUE(o.list.empty());
}

}  // namespace
}  // namespace ringgate::http
