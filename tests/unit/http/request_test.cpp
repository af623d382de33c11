// Request-head parser: syntax, bounds, incremental arrival, HTTP/2 preface, early refusal.
#include "ringgate/http/request.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "sample_requests.hpp"

namespace ringgate::http {
namespace {

using testing::kChromeRequest;
using testing::kFirefoxRequest;
using testing::with_bare_lf;

ParseResult parse(std::string_view s, std::size_t limit = kDefaultHeadLimit) {
  Request req;
  return parse_request_head(s, req, limit);
}

bool view_inside(std::string_view v, std::string_view buf) {
  return v.empty() || (v.data() >= buf.data() && v.data() + v.size() <= buf.data() + buf.size());
}

TEST(RequestHead, ParsesChrome) {
  Request req;
  const ParseResult r = parse_request_head(kChromeRequest, req);
  ASSERT_EQ(r.status, ParseStatus::done);
  EXPECT_EQ(r.reject, Reject::none);
  EXPECT_EQ(r.head_bytes, kChromeRequest.size());
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.target, "/chat?room=1");
  EXPECT_EQ(req.version_major, 1);
  EXPECT_EQ(req.version_minor, 1);
  EXPECT_EQ(req.header_count, 13u);
  EXPECT_EQ(req.headers[0].name, "Host");
  EXPECT_EQ(req.headers[0].value, "example.com:8000");
  EXPECT_EQ(req.header("sec-websocket-key"), "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(req.header("USER-AGENT").substr(0, 11), "Mozilla/5.0");
  EXPECT_EQ(req.header("X-Absent"), "");
  EXPECT_EQ(req.header_count_of("upgrade"), 1u);
  EXPECT_EQ(req.header_count_of("X-Absent"), 0u);
  for (std::size_t i = 0; i < req.header_count; ++i) {
    EXPECT_TRUE(view_inside(req.headers[i].name, kChromeRequest));
    EXPECT_TRUE(view_inside(req.headers[i].value, kChromeRequest));
  }
}

TEST(RequestHead, BytesAfterHeadAreNotPartOfIt) {
  std::string s(kFirefoxRequest);
  s += "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";  // an early masked "Hello" frame
  const ParseResult r = parse(s);
  ASSERT_EQ(r.status, ParseStatus::done);
  EXPECT_EQ(r.head_bytes, kFirefoxRequest.size());
}

TEST(RequestHead, FirstMatchAndRepeatedFields) {
  Request req;
  const std::string s = "GET / HTTP/1.1\r\nX-A: 1\r\nx-a: 2\r\nX-B:\r\n\r\n";
  ASSERT_EQ(parse_request_head(s, req).status, ParseStatus::done);
  EXPECT_EQ(req.header("X-A"), "1");
  EXPECT_EQ(req.header_count_of("X-A"), 2u);
  EXPECT_EQ(req.header("X-B"), "");
  EXPECT_EQ(req.header_count_of("x-b"), 1u);
  EXPECT_EQ(req.header("X-"), "");  // prefix of a name is not a match
}

TEST(RequestHead, ValuesTrimmedOfSpaceAndTab) {
  Request req;
  const std::string s = "GET / HTTP/1.1\r\nA:value\r\nB: \t a  b \t \r\nC:   \r\nD: caf\xc3\xa9\r\n\r\n";
  ASSERT_EQ(parse_request_head(s, req).status, ParseStatus::done);
  EXPECT_EQ(req.header("A"), "value");
  EXPECT_EQ(req.header("B"), "a  b");  // inner whitespace kept
  EXPECT_EQ(req.header("C"), "");
  EXPECT_EQ(req.header("D"), "caf\xc3\xa9");  // obs-text allowed in values
}

TEST(RequestHead, BareLfLineEnds) {
  const std::string lf = with_bare_lf(kChromeRequest);
  Request req;
  const ParseResult r = parse_request_head(lf, req);
  ASSERT_EQ(r.status, ParseStatus::done);
  EXPECT_EQ(r.head_bytes, lf.size());
  EXPECT_EQ(req.header("Connection"), "Upgrade");
  EXPECT_EQ(req.header("Sec-WebSocket-Version"), "13");

  // Mixed: CRLF lines ended by a bare LF empty line, and the reverse.
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\n\n").head_bytes, 26u);
  EXPECT_EQ(parse("GET / HTTP/1.1\nHost: a\n\r\n").head_bytes, 25u);
}

TEST(RequestHead, EverySplitPointNeedsMoreUntilComplete) {
  for (const std::string& full : {std::string(kChromeRequest), std::string(kFirefoxRequest), with_bare_lf(kChromeRequest)}) {
    for (std::size_t n = 0; n < full.size(); ++n) {
      const ParseResult r = parse(std::string_view(full).substr(0, n));
      ASSERT_EQ(r.status, ParseStatus::need_more) << "prefix of " << n << " bytes";
      EXPECT_EQ(r.reject, Reject::none);
    }
    const ParseResult r = parse(full);
    EXPECT_EQ(r.status, ParseStatus::done);
    EXPECT_EQ(r.head_bytes, full.size());
  }
}

TEST(RequestHead, HeadLimitBoundary) {
  const std::string_view head = kChromeRequest;
  const std::size_t n = head.size();
  // A head of exactly the limit is accepted.
  EXPECT_EQ(parse(head, n).status, ParseStatus::done);
  // One byte over: need_more while the bytes fit, head_too_large on the byte that exceeds it.
  EXPECT_EQ(parse(head.substr(0, n - 1), n - 1).status, ParseStatus::need_more);
  const ParseResult over = parse(head, n - 1);
  EXPECT_EQ(over.status, ParseStatus::error);
  EXPECT_EQ(over.reject, Reject::head_too_large);
  // Without an end of head: need_more at exactly the limit, error one past it.
  const std::string junk = "GET / HTTP/1.1\r\nX: " + std::string(100, 'a');
  EXPECT_EQ(parse(junk, junk.size()).status, ParseStatus::need_more);
  EXPECT_EQ(parse(junk, junk.size() - 1).reject, Reject::head_too_large);
  // The default limit is 8 KiB.
  std::string big = "GET / HTTP/1.1\r\nX: " + std::string(8192, 'a');
  EXPECT_EQ(parse(big).reject, Reject::head_too_large);
  big = "GET / HTTP/1.1\r\nX: " + std::string(8192 - 23, 'a') + "\r\n\r\n";
  ASSERT_EQ(big.size(), 8192u);
  EXPECT_EQ(parse(big).status, ParseStatus::done);
  EXPECT_EQ(parse(big + "trailing frame bytes").status, ParseStatus::done);
}

TEST(RequestHead, HeaderCountLimit) {
  std::string s = "GET / HTTP/1.1\r\n";
  for (std::size_t i = 0; i < kMaxHeaders; ++i) s += "X-" + std::to_string(i) + ": v\r\n";
  Request req;
  const std::string full = s + "\r\n";
  ASSERT_EQ(parse_request_head(full, req).status, ParseStatus::done);
  EXPECT_EQ(req.header_count, kMaxHeaders);
  EXPECT_EQ(req.header("X-63"), "v");
  const ParseResult r = parse(s + "One-Too-Many: v\r\n\r\n");
  EXPECT_EQ(r.status, ParseStatus::error);
  EXPECT_EQ(r.reject, Reject::head_too_large);
}

TEST(RequestHead, Http2Preface) {
  const std::string_view preface("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
  const ParseResult r = parse(preface);
  EXPECT_EQ(r.status, ParseStatus::error);
  EXPECT_EQ(r.reject, Reject::http2_preface);
  // Reported from its 14th byte ("PRI * HTTP/2.0": PRI exists only for the preface), so a preface
  // cut short by the network is still answered in HTTP/2; before that it is a plausible start.
  for (std::size_t n = 0; n < 14; ++n) EXPECT_EQ(parse(preface.substr(0, n)).status, ParseStatus::need_more) << n;
  for (std::size_t n = 14; n <= preface.size(); ++n) EXPECT_EQ(parse(preface.substr(0, n)).reject, Reject::http2_preface) << n;
  // Followed by a SETTINGS frame, as a real h2 prior-knowledge client sends.
  std::string with_settings(preface);
  with_settings += std::string("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);
  EXPECT_EQ(parse(with_settings).reject, Reject::http2_preface);
  // An HTTP/1-framed "PRI" with bare LF starts the same way: still the HTTP/2 answer (no HTTP/1
  // client sends PRI). "PRI * HTTP/1.1" is an ordinary (refused later) HTTP/1 request.
  EXPECT_EQ(parse("PRI * HTTP/2.0\n\n").reject, Reject::http2_preface);
  EXPECT_EQ(parse("PRI * HTTP/2.1\r\n\r\n").status, ParseStatus::done);
  Request req;
  ASSERT_EQ(parse_request_head("PRI * HTTP/1.1\r\n\r\n", req).status, ParseStatus::done);
  EXPECT_EQ(req.method, "PRI");
  // A head limit below 14 bytes never sees the whole marker: too large, consistently.
  EXPECT_EQ(parse(preface, 10).reject, Reject::head_too_large);
}

TEST(RequestHead, MalformedHeads) {
  const std::string_view cases[] = {
      "GET  / HTTP/1.1\r\n\r\n",                  // two spaces
      "GET / HTTP/1.1 \r\n\r\n",                  // trailing space
      " GET / HTTP/1.1\r\n\r\n",                  // leading space
      "GET /\r\n\r\n",                            // HTTP/0.9 style, no version
      "GET / HTTP/1\r\n\r\n",                     // short version
      "GET / HTTP/1.10\r\n\r\n",                  // long version
      "GET / HTTP/a.1\r\n\r\n",                   // non-digit
      "GET / http/1.1\r\n\r\n",                   // lower-case protocol name
      "GET /a b HTTP/1.1\r\n\r\n",                // space in target
      "GET\t/ HTTP/1.1\r\n\r\n",                  // tab separator
      "G@T / HTTP/1.1\r\n\r\n",                   // non-token method
      "GET /\x7f HTTP/1.1\r\n\r\n",               // DEL in target
      "GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n",        // raw UTF-8 in target
      "GET / HTTP/1.1\rX\r\n\r\n",                // bare CR in request line
      "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",    // leading empty line
      "\r\n\r\n",                                 // nothing but an empty line
      "GET / HTTP/1.1\r\nHost a\r\n\r\n",         // no colon
      "GET / HTTP/1.1\r\nHost : a\r\n\r\n",       // whitespace before colon
      "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n",      // tab before colon
      "GET / HTTP/1.1\r\n: a\r\n\r\n",            // empty name
      "GET / HTTP/1.1\r\nHo(st: a\r\n\r\n",       // non-token name
      "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",     // obs-fold with SP
      "GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n",    // obs-fold with HTAB
      "GET / HTTP/1.1\r\n Host: a\r\n\r\n",       // first field line folded
      "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",        // bare CR in value
      "GET / HTTP/1.1\r\nX: a\r\r\n\r\n",         // CR CR LF
      "GET / HTTP/1.1\r\nX: \x7f\r\n\r\n",        // DEL in value
      "GET / HTTP/1.1\r\nX: \x01\r\n\r\n",        // control char in value
  };
  for (std::string_view c : cases) {
    const ParseResult r = parse(c);
    EXPECT_EQ(r.status, ParseStatus::error) << testing::with_bare_lf(c);
    EXPECT_EQ(r.reject, Reject::malformed) << testing::with_bare_lf(c);
  }
  constexpr char kNul[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
  const std::string nul(kNul, sizeof kNul - 1);
  EXPECT_EQ(parse(nul).reject, Reject::malformed);
}

TEST(RequestHead, VersionsParseAndAreJudgedLater) {
  Request req;
  ASSERT_EQ(parse_request_head("GET / HTTP/1.0\r\n\r\n", req).status, ParseStatus::done);
  EXPECT_EQ(req.version_major, 1);
  EXPECT_EQ(req.version_minor, 0);
  ASSERT_EQ(parse_request_head("get * HTTP/3.9\r\n\r\n", req).status, ParseStatus::done);
  EXPECT_EQ(req.method, "get");
  EXPECT_EQ(req.target, "*");
  EXPECT_EQ(req.version_major, 3);
  EXPECT_EQ(req.version_minor, 9);
}

TEST(RequestHead, JunkRefusedBeforeTheHeadEnds) {
  // A TLS ClientHello on the plain port: refused on its first byte, not after 8 KiB or a timeout.
  EXPECT_EQ(parse(std::string_view("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)).reject, Reject::malformed);
  EXPECT_EQ(parse(std::string_view("\x16", 1)).reject, Reject::malformed);
  EXPECT_EQ(parse("GET  ").reject, Reject::malformed);
  EXPECT_EQ(parse("GET / HTTX").reject, Reject::malformed);
  EXPECT_EQ(parse("GET / HTTP/1.1x").reject, Reject::malformed);
  EXPECT_EQ(parse("GET /\r\n").reject, Reject::malformed);
  EXPECT_EQ(parse("\n").reject, Reject::malformed);
  // Plausible starts wait for more.
  EXPECT_EQ(parse("").status, ParseStatus::need_more);
  EXPECT_EQ(parse("GET").status, ParseStatus::need_more);
  EXPECT_EQ(parse("GET /chat HTTP/1.1\r").status, ParseStatus::need_more);
  EXPECT_EQ(parse("GET /chat HTTP/1.1\r\nX y z").status, ParseStatus::need_more);  // fields checked at the end
  EXPECT_EQ(parse("GET /chat HTTP/1.1\r\nX y z\r\n\r\n").reject, Reject::malformed);
}

TEST(RequestHead, ResultsAreMonotonicInThePrefix) {
  // Once a prefix is decided, longer buffers give the same answer.
  const std::string bad = "GET / HTTP/1.1\r\nBad Name: x\r\n\r\nmore bytes\r\n\r\n";
  const ParseResult first = parse(bad.substr(0, 32));
  ASSERT_EQ(first.reject, Reject::malformed);
  EXPECT_EQ(parse(bad).reject, Reject::malformed);
  const std::string long_junk = "GET /" + std::string(200, 'a') + "\x01";
  EXPECT_EQ(parse(long_junk.substr(0, 150), 100).reject, Reject::head_too_large);
  EXPECT_EQ(parse(long_junk, 100).reject, Reject::head_too_large);  // the bad byte is past the limit
}

TEST(Reject, Metadata) {
  const Reject all[] = {Reject::none, Reject::method_not_allowed, Reject::missing_upgrade,
                        Reject::missing_connection_upgrade, Reject::bad_version, Reject::bad_key,
                        Reject::http2_preface, Reject::head_too_large, Reject::not_found, Reject::malformed,
                        Reject::http_1_0, Reject::plain_http_on_tls};
  static_assert(sizeof all / sizeof all[0] == kRejectCount);
  const int statuses[] = {0, 405, 426, 426, 426, 400, 400, 431, 404, 400, 400, 400};
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < kRejectCount; ++i) {
    EXPECT_EQ(reject_status(all[i]), statuses[i]) << i;
    names.insert(reject_name(all[i]));
    if (all[i] != Reject::none) {
      EXPECT_FALSE(reject_reason(all[i]).empty());
      EXPECT_EQ(reject_reason(all[i]).find('\n'), std::string_view::npos);
    }
  }
  EXPECT_EQ(names.size(), kRejectCount);
  EXPECT_EQ(reject_name(Reject::none), "none");
  EXPECT_EQ(reject_name(Reject::bad_key), "bad_key");
  EXPECT_EQ(reject_name(Reject::malformed), "malformed");
  EXPECT_EQ(reject_reason(Reject::method_not_allowed), "WebSocket upgrade needs GET");
  EXPECT_EQ(reject_name(static_cast<Reject>(200)), "unknown");
  // The new reasons keep their metric labels (dashboards) and name the fix.
  EXPECT_EQ(reject_name(Reject::http_1_0), "http_1_0");
  EXPECT_EQ(reject_name(Reject::plain_http_on_tls), "plain_http_on_tls");
  EXPECT_NE(reject_reason(Reject::http_1_0).find("HTTP/1.0"), std::string_view::npos);
  EXPECT_NE(reject_reason(Reject::http_1_0).find("proxy_http_version 1.1"), std::string_view::npos);
  EXPECT_NE(reject_reason(Reject::plain_http_on_tls).find("plain HTTP"), std::string_view::npos);
  EXPECT_NE(reject_reason(Reject::plain_http_on_tls).find("wss://"), std::string_view::npos);
}

TEST(RequestHead, NextHeaderWalksRepeatedLines) {
  Request req;
  ASSERT_EQ(parse_request_head("GET / HTTP/1.1\r\nA: 1\r\nB: x\r\na: 2\r\nC: y\r\nA: 3\r\n\r\n", req).status,
            ParseStatus::done);
  std::string seen;
  for (std::size_t i = req.next_header("a"); i < req.header_count; i = req.next_header("a", i + 1))
    seen += req.headers[i].value;
  EXPECT_EQ(seen, "123");
  EXPECT_EQ(req.next_header("C"), 3u);
  EXPECT_EQ(req.next_header("C", 4), req.header_count);
  EXPECT_EQ(req.next_header("missing"), req.header_count);
  EXPECT_EQ(req.next_header("A", 99), req.header_count);
}

TEST(PlainHttpOnTls, RequestLineStarts) {
  const std::string_view http[] = {"GET ", "GET / HTTP/1.1\r\n", "PUT ", "PRI * HTTP/2.0\r\n", "POST",
                                   "HEAD", "OPTIONS * HTTP/1.1", "DELETE /x", "M-SEARCH * HTTP/1.1", "PATC",
                                   "CONN", "A ", "AB "};
  for (std::string_view s : http) EXPECT_TRUE(looks_like_plain_http(s)) << s;
}

TEST(PlainHttpOnTls, TlsAndJunkAndTooShort) {
  const std::string_view not_http[] = {
      std::string_view("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),  // ClientHello record
      std::string_view("\x16", 1),
      std::string_view("\x15\x03\x03\x00\x02", 5),  // alert record
      std::string_view("\x80\x2e\x01\x03\x01", 5),  // SSLv2-compatible hello
      std::string_view("\0GET ", 5),
      "get / HTTP/1.1",  // methods are case-sensitive; no client sends this
      " GET", "G\tT ", "GE/ ", "GET/", "\r\n\r\n", "1234", "",
      "G", "GE", "GET", "POS",  // fewer than 4 bytes and no space yet: cannot tell, documented false
  };
  for (std::string_view s : not_http) EXPECT_FALSE(looks_like_plain_http(s)) << ::testing::PrintToString(s);
}

}  // namespace
}  // namespace ringgate::http
