// The broker envelope (round trip, every way a header can be malformed and so count as a raw
// publish) and DataNormalizer (valid JSON passes byte for byte, anything else becomes a correctly
// escaped JSON string, checked by parsing it back with simdjson's DOM parser).
#include "ringgate/pubsub/envelope.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

#include "ringgate/pubsub/codec.hpp"

namespace ringgate::pubsub {
namespace {

std::string envelope(std::uint64_t node, std::uint64_t ms, std::uint32_t flags) {
  char buf[kEnvelopeMax];
  const std::size_t n = encode_envelope(buf, sizeof buf, node, ms, flags);
  return std::string(buf, n);
}

TEST(Envelope, EncodesTheExactHeader) {
  EXPECT_EQ(envelope(0x0123456789abcdefull, 1700000000123ull, 0), "GW1 0123456789abcdef 1700000000123 0\n");
  EXPECT_EQ(envelope(0, 0, 0), "GW1 0000000000000000 0 0\n");
  const std::string max = envelope(~0ull, ~0ull, ~0u);
  EXPECT_EQ(max, "GW1 ffffffffffffffff 18446744073709551615 4294967295\n");
  EXPECT_LE(max.size(), kEnvelopeMax);
}

TEST(Envelope, EncodeFailsWhenTheBufferIsTooSmall) {
  char buf[kEnvelopeMax];
  const std::size_t n = encode_envelope(buf, sizeof buf, 1, 2, 3);
  ASSERT_GT(n, 0u);
  EXPECT_EQ(encode_envelope(buf, n - 1, 1, 2, 3), 0u);
  EXPECT_EQ(encode_envelope(buf, n, 1, 2, 3), n);
}

TEST(Envelope, RoundTrips) {
  const std::string body = envelope(0xdeadbeef00000001ull, 42, 7) + "{\"x\":[1,2]}";
  const Envelope e = decode_envelope(body);
  ASSERT_TRUE(e.ours);
  EXPECT_EQ(e.node, 0xdeadbeef00000001ull);
  EXPECT_EQ(e.ms, 42u);
  EXPECT_EQ(e.flags, 7u);
  EXPECT_EQ(e.payload, "{\"x\":[1,2]}");
  EXPECT_EQ(e.payload.data(), body.data() + body.size() - e.payload.size());  // a view, not a copy

  const std::string empty = envelope(1, 2, 0);
  const Envelope f = decode_envelope(empty);
  EXPECT_TRUE(f.ours);
  EXPECT_TRUE(f.payload.empty());
}

TEST(Envelope, AnythingElseIsARawPublish) {
  const char* raws[] = {
      "",
      "hello",
      "GW1",
      "GW1 ",
      "GW1 0123456789abcdef 1 0",                  // no newline
      "GW1 0123456789abcdef 1 0\r\nx",             // CR before the newline
      "GW2 0123456789abcdef 1 0\nx",               // version
      "gw1 0123456789abcdef 1 0\nx",               // case
      "GW1 0123456789ABCDEF 1 0\nx",               // upper-case hex
      "GW1 0123456789abcde 1 0\nx",                // 15 hex digits
      "GW1 0123456789abcdef0 1 0\nx",              // 17
      "GW1 0123456789abcdeg 1 0\nx",               // not hex
      "GW1 0123456789abcdef  1 0\nx",              // double space
      "GW1 0123456789abcdef 01 0\nx",              // leading zero
      "GW1 0123456789abcdef -1 0\nx",              // sign
      "GW1 0123456789abcdef 1 +0\nx",
      "GW1 0123456789abcdef 18446744073709551616 0\nx",  // ms overflows
      "GW1 0123456789abcdef 1 4294967296\nx",            // flags overflow
      "GW1 0123456789abcdef 1\nx",                       // no flags
      "GW1 0123456789abcdef 1 0 9\nx",                   // extra field
      " GW1 0123456789abcdef 1 0\nx",
  };
  for (const char* raw : raws) {
    const std::string_view body(raw);
    const Envelope e = decode_envelope(body);
    EXPECT_FALSE(e.ours) << body;
    EXPECT_EQ(e.payload, body);
    EXPECT_EQ(e.payload.data(), body.data());
  }
}

// ---------------------------------------------------------------------------------------------

std::string data_of(DataNormalizer& n, std::string_view payload) {
  std::string_view out;
  EXPECT_TRUE(n.to_data(payload, out)) << payload;
  return std::string(out);
}

// The output parses as a JSON string whose value is `expect`.
void expect_string(DataNormalizer& n, std::string_view payload, std::string_view expect) {
  const std::string out = data_of(n, payload);
  simdjson::dom::parser p;
  simdjson::dom::element e;
  ASSERT_EQ(p.parse(out).get(e), simdjson::SUCCESS) << out;
  std::string_view s;
  ASSERT_EQ(e.get(s), simdjson::SUCCESS) << out;
  EXPECT_EQ(s, expect) << out;
}

void expect_verbatim(DataNormalizer& n, std::string_view payload) {
  std::string_view out;
  ASSERT_TRUE(n.to_data(payload, out)) << payload;
  EXPECT_EQ(out, payload);
  EXPECT_EQ(out.data(), payload.data());  // no copy
}

TEST(DataNormalizer, ValidJsonPassesByteForByte) {
  DataNormalizer n(1 << 16);
  ASSERT_TRUE(n.ok());
  for (const char* json : {"{\"a\":1}", "[1,2,3]", "\"hello\"", "1", "-0.5e+3", "true", "false", "null",
                           "1e400", "18446744073709551616", " {\"a\" : [ ] }\n", "\t\"\\u00e9\"\r\n",
                           "{\"k\":\"caf\xc3\xa9\"}", "[]", "{}", "\"\""}) {
    expect_verbatim(n, json);
  }
}

TEST(DataNormalizer, ExactOutputsForTheSpecExamples) {
  DataNormalizer n(1 << 16);
  EXPECT_EQ(data_of(n, ""), "\"\"");
  EXPECT_EQ(data_of(n, "hello"), "\"hello\"");
  EXPECT_EQ(data_of(n, "{\"a\":"), "\"{\\\"a\\\":\"");
  EXPECT_EQ(data_of(n, "a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(data_of(n, std::string_view("\x01\n\x1f\0", 4)), "\"\\u0001\\u000a\\u001f\\u0000\"");
  EXPECT_EQ(data_of(n, "x\x7fy"), "\"x\x7fy\"");
}

TEST(DataNormalizer, NotExactlyOneValueBecomesAString) {
  DataNormalizer n(1 << 16);
  for (const char* raw : {"{\"a\":", "hello world", "1 2", "[1],[2]", "1]", "[1", "{\"a\":1}}", "{'a':1}",
                          "01", "1.", ".5", "-", "+1", "tru", "truex", "nul", "[1,]", "{\"a\":1,}", "\"abc",
                          "NaN", "Infinity", " ", "\n", "[] x", "\"a\" \"b\"", "{\"a\" 1}", "[\"\\x\"]"}) {
    expect_string(n, raw, raw);
  }
}

TEST(DataNormalizer, ControlCharacterInsideAJsonStringIsNotJson) {
  DataNormalizer n(1 << 16);
  const std::string raw = "\"a\tb\"";  // a raw tab inside a string is invalid JSON
  expect_string(n, raw, raw);
}

TEST(DataNormalizer, DepthLimit) {
  DataNormalizer n(1 << 16);
  const auto nested = [](std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  expect_verbatim(n, nested(kMaxDepth));
  const std::string deep = nested(kMaxDepth + 1);
  expect_string(n, deep, deep);
  std::string objs;
  for (std::size_t i = 0; i < kMaxDepth; ++i) objs += "{\"k\":";
  objs += "1" + std::string(kMaxDepth, '}');
  expect_verbatim(n, objs);
  const std::string very_deep = nested(5000);  // far past any limit: no stack trouble
  expect_string(n, very_deep, very_deep);
}

TEST(DataNormalizer, InvalidUtf8BecomesReplacementCharacters) {
  DataNormalizer n(1 << 16);
  // Invalid UTF-8 inside an otherwise valid JSON string: the whole payload becomes a string.
  expect_string(n, "\"ab\xff\"", "\"ab\xEF\xBF\xBD\"");
  expect_string(n, "x\xc3", "x\xEF\xBF\xBD");                           // truncated sequence
  expect_string(n, "\xc0\xaf", "\xEF\xBF\xBD\xEF\xBF\xBD");             // overlong: one per byte
  expect_string(n, "\xed\xa0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  expect_string(n, "\xf4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // > U+10FFFF
  // Valid multi-byte sequences next to invalid bytes are kept.
  expect_string(n, "\xe2\x82\xac\x80\xf0\x9f\x98\x80", "\xe2\x82\xac\xEF\xBF\xBD\xf0\x9f\x98\x80");
  // Valid UTF-8 that is not JSON keeps its characters.
  expect_string(n, "caf\xc3\xa9 \xf0\x9f\x98\x80", "caf\xc3\xa9 \xf0\x9f\x98\x80");
}

TEST(DataNormalizer, SizeLimit) {
  DataNormalizer n(16);
  std::string_view out;
  EXPECT_TRUE(n.to_data("0123456789abcdef", out));
  EXPECT_EQ(out, "\"0123456789abcdef\"");
  EXPECT_FALSE(n.to_data("0123456789abcdefg", out));
  EXPECT_TRUE(n.to_data("[1234567890123]", out));
  EXPECT_EQ(out, "[1234567890123]");
}

TEST(DataNormalizer, BuffersGrowAndTheResultIsStableAcrossSizes) {
  DataNormalizer n(1 << 20);
  std::string big(300000, 'x');
  expect_string(n, big, big);
  std::string arr = "[";
  for (int i = 0; i < 50000; ++i) arr += (i ? ",\"v\"" : "\"v\"");
  arr += "]";
  expect_verbatim(n, arr);
  expect_string(n, "hi", "hi");  // small again after large
  EXPECT_EQ(data_of(n, "\x01"), "\"\\u0001\"");
}

}  // namespace
}  // namespace ringgate::pubsub
