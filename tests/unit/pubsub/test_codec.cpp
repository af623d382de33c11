// The client protocol codec: every request shape, the error each bad input maps to (and whether
// the id is echoed), the exact bytes of `data`, the limits (size, depth, topic length), and the
// encoders checked by parsing their output back with simdjson's DOM parser.
#include "ringgate/pubsub/codec.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstring>
#include <string>
#include <vector>

namespace ringgate::pubsub {
namespace {

// The input sits in a buffer followed by kPadding bytes of `pad`: the decoder must not depend on
// what the padding holds ('}' and ']' are the bytes that could fool a lazy parser).
struct Decoded {
  std::vector<std::uint8_t> buf;
  Request req;
  DecodeError err;
  bool ok = false;
  const char* begin() const { return reinterpret_cast<const char*>(buf.data()); }
};

Decoded run(Decoder& d, std::string_view json, bool publish = false, char pad = '}') {
  Decoded r;
  r.buf.assign(json.size() + kPadding, static_cast<std::uint8_t>(pad));
  std::memcpy(r.buf.data(), json.data(), json.size());
  r.ok = publish ? d.decode_publish(r.buf.data(), json.size(), r.req, r.err)
                 : d.decode(r.buf.data(), json.size(), r.req, r.err);
  return r;
}

class CodecTest : public ::testing::Test {
 protected:
  Decoder dec_{65536};
  Decoded decode(std::string_view json, char pad = '}') { return run(dec_, json, false, pad); }
  Decoded publish(std::string_view json) { return run(dec_, json, true); }

  // Fails with `code`; `id` < 0 means the err frame must carry no id.
  void expect_error(std::string_view json, ErrorCode code, long long id = -1) {
    for (char pad : {'}', ']', ' ', '\0', '"', ','}) {
      const Decoded r = decode(json, pad);
      ASSERT_FALSE(r.ok) << json;
      EXPECT_EQ(error_name(r.err.code), error_name(code)) << json << " -> " << r.err.message;
      EXPECT_EQ(r.err.has_id, id >= 0) << json;
      if (id >= 0) {
        EXPECT_EQ(r.err.id, static_cast<std::uint64_t>(id)) << json;
      }
      EXPECT_NE(std::string_view(r.err.message), "") << json;
    }
  }
  void expect_bad(std::string_view json) { expect_error(json, ErrorCode::bad_request); }
};

std::string nested(std::size_t levels, std::string_view inner = "1") {
  return std::string(levels, '[') + std::string(inner) + std::string(levels, ']');
}

// ---------------------------------------------------------------------------------------------
// Valid requests

TEST_F(CodecTest, DecodesEachOp) {
  Decoded r = decode(R"({"op":"sub","id":1,"topic":"news"})");
  ASSERT_TRUE(r.ok) << r.err.message;
  EXPECT_EQ(r.req.op, Op::sub);
  EXPECT_EQ(r.req.id, 1u);
  EXPECT_EQ(r.req.topic, "news");
  EXPECT_FALSE(r.req.has_since);
  EXPECT_TRUE(r.req.data.empty());

  r = decode(R"({"op":"sub","id":5,"topic":"a.b","since":17})");
  ASSERT_TRUE(r.ok) << r.err.message;
  EXPECT_TRUE(r.req.has_since);
  EXPECT_EQ(r.req.since, 17u);

  r = decode(R"({"op":"unsub","id":2,"topic":"news"})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.req.op, Op::unsub);
  EXPECT_EQ(r.req.topic, "news");

  r = decode(R"({"op":"pub","id":3,"topic":"news","data":{"x":1}})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.req.op, Op::pub);
  EXPECT_EQ(r.req.data, R"({"x":1})");

  r = decode(R"({"op":"ping","id":4})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.req.op, Op::ping);
  EXPECT_EQ(r.req.id, 4u);
  EXPECT_TRUE(r.req.topic.empty());
}

TEST_F(CodecTest, FieldsInAnyOrderWithWhitespaceAndUnknownFields) {
  const Decoded r = decode(
      " \n{ \"x\" : {\"deep\":[1,{\"y\":null}]} , \"topic\" :\t\"t\" ,\"data\":[ 1 , 2 ]\r\n, "
      "\"id\" : 9 , \"op\" : \"pub\", \"z\": true }\n ");
  ASSERT_TRUE(r.ok) << r.err.message;
  EXPECT_EQ(r.req.id, 9u);
  EXPECT_EQ(r.req.topic, "t");
  EXPECT_EQ(r.req.data, "[ 1 , 2 ]");
}

TEST_F(CodecTest, IdLimits) {
  Decoded r = decode(R"({"op":"ping","id":0})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.req.id, 0u);
  r = decode(R"({"op":"ping","id":9007199254740991})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.req.id, kMaxId);
}

TEST_F(CodecTest, DataIsVerbatimBytesInsideTheInput) {
  const std::string cases[] = {
      R"({ "a" : [1, 2.50, -0, 1e3], "b": "x\"y\u00e9\\" })",
      R"("a\"b\\c\n")",
      "-1.5e-3",
      "0",
      "true",
      "false",
      "null",
      "[]",
      "{}",
      R"([[],{},[{}]])",
      "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
  };
  for (const std::string& data : cases) {
    for (const char* tail : {"}", " }", ",\"z\":1}", " \n, \"z\":1 }"}) {
      const std::string json = std::string(R"({"id":1,"op":"pub","topic":"t","data":)") + data + tail;
      const Decoded r = decode(json);
      ASSERT_TRUE(r.ok) << json << " -> " << r.err.message;
      EXPECT_EQ(r.req.data, data) << json;
      EXPECT_GE(r.req.data.data(), r.begin());
      EXPECT_LE(r.req.data.data() + r.req.data.size(), r.begin() + json.size());
    }
  }
}

TEST_F(CodecTest, DataWithSurroundingWhitespace) {
  const Decoded r = decode("{\"op\":\"pub\",\"id\":1,\"topic\":\"t\",\"data\":\n\t [ 1 ]\n\t }");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.req.data, "[ 1 ]");
}

TEST_F(CodecTest, TopicIsAViewIntoTheInput) {
  const Decoded r = decode(R"({"op":"sub","id":1,"topic":"chat/room-1"})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.req.topic, "chat/room-1");
  EXPECT_GE(r.req.topic.data(), r.begin());
  EXPECT_LT(r.req.topic.data(), r.begin() + r.buf.size());
}

TEST_F(CodecTest, EscapedTopicAndKeysAreUnescaped) {
  // PHP's json_encode writes "chat\/room"; keys may be escaped too.
  Decoded r = decode(R"({"\u006fp":"s\u0075b","id":1,"topic":"chat\/room"})");
  ASSERT_TRUE(r.ok) << r.err.message;
  EXPECT_EQ(r.req.op, Op::sub);
  EXPECT_EQ(r.req.topic, "chat/room");
  // An escape that yields a forbidden character is still a bad topic.
  expect_error(R"({"op":"sub","id":1,"topic":"a\u0020b"})", ErrorCode::bad_topic, 1);
  expect_error(R"({"op":"sub","id":1,"topic":"a\"b"})", ErrorCode::bad_topic, 1);
}

TEST_F(CodecTest, SinceIgnoredOutsideSub) {
  const Decoded r = decode(R"({"op":"pub","id":1,"topic":"t","data":1,"since":-4})");
  ASSERT_TRUE(r.ok);
  EXPECT_FALSE(r.req.has_since);
}

TEST_F(CodecTest, PingIgnoresTopicAndData) {
  const Decoded r = decode(R"({"op":"ping","id":1,"topic":"a..b","data":[1]})");
  ASSERT_TRUE(r.ok);
  EXPECT_TRUE(r.req.topic.empty());
  EXPECT_TRUE(r.req.data.empty());
}

// ---------------------------------------------------------------------------------------------
// Bad ids: bad_request without an id

TEST_F(CodecTest, MissingOrUnusableIdHasNoId) {
  expect_bad(R"({"op":"ping"})");
  expect_bad(R"({"op":"ping","id":"1"})");
  expect_bad(R"({"op":"ping","id":null})");
  expect_bad(R"({"op":"ping","id":[1]})");
  expect_bad(R"({"op":"ping","id":-1})");
  expect_bad(R"({"op":"ping","id":-0})");
  expect_bad(R"({"op":"ping","id":1.0})");
  expect_bad(R"({"op":"ping","id":1.5})");
  expect_bad(R"({"op":"ping","id":1e2})");
  expect_bad(R"({"op":"ping","id":9007199254740992})");     // 2^53
  expect_bad(R"({"op":"ping","id":18446744073709551615})");  // 2^64-1
  expect_bad(R"({"op":"ping","id":18446744073709551616})");  // 2^64
  expect_bad(R"({"op":"ping","id":123456789012345678901234567890})");
  expect_bad(R"({"op":"sub","id":true,"topic":"t"})");
  expect_bad(R"({"op":"ping","id":1,"id":1})");  // duplicate: ambiguous, so not echoed
}

// ---------------------------------------------------------------------------------------------
// Bad fields after a good id: the id is echoed

TEST_F(CodecTest, OpErrors) {
  expect_error(R"({"op":"publish","id":7})", ErrorCode::unknown_op, 7);
  expect_error(R"({"id":7,"op":"SUB","topic":"t"})", ErrorCode::unknown_op, 7);
  expect_error(R"({"id":7,"op":""})", ErrorCode::unknown_op, 7);
  expect_error(R"({"id":7,"op":"sub\u0000"})", ErrorCode::unknown_op, 7);
  expect_error(R"({"id":7})", ErrorCode::bad_request, 7);
  expect_error(R"({"id":7,"op":1})", ErrorCode::bad_request, 7);
  expect_error(R"({"id":7,"op":["sub"]})", ErrorCode::bad_request, 7);
  expect_error(R"({"id":7,"op":"ping","op":"ping"})", ErrorCode::bad_request, 7);
  // unknown op without an id: the id problem wins
  expect_error(R"({"op":"nope"})", ErrorCode::bad_request);
}

TEST_F(CodecTest, TopicErrors) {
  expect_error(R"({"op":"sub","id":2})", ErrorCode::bad_request, 2);
  expect_error(R"({"op":"sub","id":2,"topic":5})", ErrorCode::bad_request, 2);
  expect_error(R"({"op":"sub","id":2,"topic":null})", ErrorCode::bad_request, 2);
  expect_error(R"({"op":"sub","id":2,"topic":"a","topic":"a"})", ErrorCode::bad_request, 2);
  expect_error(R"({"op":"sub","id":2,"topic":""})", ErrorCode::bad_topic, 2);
  expect_error(R"({"op":"unsub","id":2,"topic":"a..b"})", ErrorCode::bad_topic, 2);
  expect_error(R"({"op":"pub","id":2,"topic":".a","data":1})", ErrorCode::bad_topic, 2);
  expect_error(R"({"op":"sub","id":2,"topic":"a."})", ErrorCode::bad_topic, 2);
  expect_error(R"({"op":"sub","id":2,"topic":"a b"})", ErrorCode::bad_topic, 2);
  expect_error(R"({"op":"sub","id":2,"topic":"caf\u00e9"})", ErrorCode::bad_topic, 2);
  expect_error("{\"op\":\"sub\",\"id\":2,\"topic\":\"caf\xc3\xa9\"}", ErrorCode::bad_topic, 2);
}

TEST_F(CodecTest, TopicLengthBoundary) {
  const std::string t200(200, 'a'), t201(201, 'a');
  const Decoded r = decode(R"({"op":"sub","id":1,"topic":")" + t200 + "\"}");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.req.topic, t200);
  expect_error(R"({"op":"sub","id":1,"topic":")" + t201 + "\"}", ErrorCode::bad_topic, 1);
}

TEST_F(CodecTest, PubNeedsData) {
  expect_error(R"({"op":"pub","id":3,"topic":"t"})", ErrorCode::bad_request, 3);
  expect_error(R"({"op":"pub","id":3,"topic":"t","data":1,"data":2})", ErrorCode::bad_request, 3);
  const Decoded r = decode(R"({"op":"pub","id":3,"topic":"t","data":null})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.req.data, "null");
}

TEST_F(CodecTest, SinceErrors) {
  expect_error(R"({"op":"sub","id":4,"topic":"t","since":-1})", ErrorCode::bad_request, 4);
  expect_error(R"({"op":"sub","id":4,"topic":"t","since":1.5})", ErrorCode::bad_request, 4);
  expect_error(R"({"op":"sub","id":4,"topic":"t","since":"3"})", ErrorCode::bad_request, 4);
  expect_error(R"({"op":"sub","id":4,"topic":"t","since":1,"since":1})", ErrorCode::bad_request, 4);
  const Decoded r = decode(R"({"op":"sub","id":4,"topic":"t","since":18446744073709551615})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.req.since, ~std::uint64_t{0});
}

// ---------------------------------------------------------------------------------------------
// Malformed JSON

TEST_F(CodecTest, MalformedJsonIsBadRequest) {
  const std::string cases[] = {
      "{",
      "}",
      "{{}}",
      R"({"op":"ping","id":1)",
      R"({"op":"ping","id":1,})",
      R"({,"op":"ping","id":1})",
      R"({"op":"ping" "id":1})",
      R"({"op":"ping","id" 1})",
      R"({"op":"ping","id":1]})",
      R"({"op":"ping","id":1]})",
      R"({op:"ping","id":1})",
      R"({'op':'ping','id':1})",
      R"({"op":"ping","id":01})",
      R"({"op":"ping","id":1.})",
      R"({"op":"ping","id":+1})",
      R"({"op":"ping","id":0x10})",
      R"({"op":"ping","id":1,"x":tru})",
      R"({"op":"ping","id":1,"x":nul})",
      R"({"op":"ping","id":1,"x":truee})",
      R"({"op":"ping","id":1,"x":NaN})",
      R"({"op":"ping","id":1,"x":1e})",
      R"({"op":"ping","id":1,"x":-})",
      R"({"op":"ping","id":1,"x":1.5e+})",
      R"({"op":"ping","id":1,"x":-01})",
      R"({"op":"ping","id":1,"x":[1,]})",
      R"({"op":"ping","id":1,"x":[,1]})",
      R"({"op":"ping","id":1,"x":[1 2]})",
      R"({"op":"ping","id":1,"x":[1}})",
      R"({"op":"ping","id":1,"x":{"a":1]})",
      R"({"op":"ping","id":1,"x":{"a" 1}})",
      R"({"op":"ping","id":1,"x":{"a":1,}})",
      R"({"op":"ping","id":1,"x":{1:1}})",
      R"({"op":"ping","id":1,"x":"\x"})",
      R"({"op":"ping","id":1,"x":"\u12"})",
      R"({"op":"ping","id":1,"x":"\ud800"})",
      R"({"op":"ping","id":1,"x":"\udc00\ud800"})",
      R"({"op":"ping","id":1,"x\q":1})",
      "{\"op\":\"ping\",\"id\":1,\"x\":\"a\x01\"}",
      "{\"op\":\"ping\",\"id\":1,\"x\":\"a\nb\"}",
      R"({"op":"ping","id":1,"x":"unterminated})",
      R"({"op":"ping","id":1,"x":[[[]]})",
      R"({"op":"ping","id":1,"x":[]]})",
      R"({"op":"ping","id":1,"x":{}}})",
      R"({"op":"ping","id":1}{})",
      R"({"op":"ping","id":1} x)",
      R"({"op":"ping","id":1}])",
      R"({"op":"ping","id":1}})",
      R"({"op":"ping","id":1},)",
      R"({"op":"ping","id":1}"")",
      std::string("{\"op\":\"ping\",\"id\":1}\0", 21),
      std::string("{\"op\":\"ping\",\"id\":1,\"x\":\"a\0\"}", 28),
  };
  for (const std::string& json : cases) {
    for (char pad : {'}', ']', ' ', '\0', '"', ','}) {
      const Decoded r = decode(json, pad);
      EXPECT_FALSE(r.ok) << json << " pad=" << int(pad);
      EXPECT_EQ(r.err.code, ErrorCode::bad_request) << json;
    }
  }
}

TEST_F(CodecTest, NumbersBeyondMachineRangeAreValidJsonAndPassVerbatim) {
  // Data is never converted, so only the number grammar matters (RFC 8259 sets no range).
  for (std::string_view data : {"123456789012345678901234567890", "18446744073709551616", "-9223372036854775809",
                                "[1e400,-1e-400]", "{\"a\":0.1000000000000000055511151231257827}"}) {
    const std::string json = R"({"op":"pub","id":5,"topic":"t","data":)" + std::string(data) + "}";
    const Decoded r = decode(json);
    ASSERT_TRUE(r.ok) << json;
    EXPECT_EQ(r.req.data, data);
  }
}

TEST_F(CodecTest, MalformedDataIsCaughtEvenThoughDataIsOtherwiseSkipped) {
  // The id comes before the syntax error, so it is echoed.
  expect_error(R"({"op":"pub","id":8,"topic":"t","data":[1,{"a":tru}]})", ErrorCode::bad_request, 8);
  // Brackets that do not balance: simdjson may reject the document up front (it checks the
  // balance when the first padding byte is '}'), so whether the id is echoed depends on padding.
  for (char pad : {'}', ' '}) {
    const Decoded r = decode(R"({"op":"pub","id":8,"topic":"t","data":{"a":[1,2}})", pad);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.err.code, ErrorCode::bad_request);
  }
  expect_error(R"({"op":"pub","id":8,"topic":"t","data":"\ud83d"})", ErrorCode::bad_request, 8);
  expect_error(R"({"op":"pub","id":8,"topic":"t","data":-})", ErrorCode::bad_request, 8);
  // ...and when the id comes after it, there is none to echo.
  expect_error(R"({"op":"pub","topic":"t","data":[01],"id":8})", ErrorCode::bad_request);
}

TEST_F(CodecTest, InvalidUtf8IsBadRequest) {
  const char* cases[] = {
      "{\"op\":\"ping\",\"id\":1,\"x\":\"\xff\"}",
      "{\"op\":\"ping\",\"id\":1,\"x\":\"\xc0\xaf\"}",          // overlong '/'
      "{\"op\":\"ping\",\"id\":1,\"x\":\"\xed\xa0\x80\"}",      // UTF-16 surrogate
      "{\"op\":\"ping\",\"id\":1,\"x\":\"\xf4\x90\x80\x80\"}",  // > U+10FFFF
      "{\"op\":\"ping\",\"id\":1,\"x\":\"\xe2\x82\"}",          // truncated
      "{\"op\":\"ping\",\"id\":1,\"\xfe\":1}",
      "{\"op\":\"pub\",\"id\":1,\"topic\":\"t\",\"data\":[\"\x80\"]}",
      "{\"op\":\"ping\",\"id\":1} \xff",
  };
  for (const char* c : cases) expect_bad(c);
}

TEST_F(CodecTest, EmptyAndNonObjectTopLevel) {
  expect_bad("");
  expect_bad(" ");
  expect_bad("\n\t ");
  expect_bad("[]");
  expect_bad(R"([{"op":"ping","id":1}])");
  expect_bad(R"("op")");
  expect_bad("1");
  expect_bad("null");
  expect_bad("true");
}

TEST_F(CodecTest, NestingDepthLimit) {
  // The message object is depth 1, so data may hold 63 levels.
  const std::string head = R"({"op":"pub","id":6,"topic":"t","data":)";
  Decoded r = decode(head + nested(63) + "}");
  ASSERT_TRUE(r.ok) << r.err.message;
  EXPECT_EQ(r.req.data, nested(63));
  expect_error(head + nested(64) + "}", ErrorCode::bad_request, 6);
  expect_error(head + nested(65) + "}", ErrorCode::bad_request, 6);
  expect_error(head + nested(10000) + "}", ErrorCode::bad_request, 6);
  EXPECT_STREQ(decode(head + nested(65) + "}").err.message, "JSON nested too deeply");
  // Objects count too, and so do unknown fields.
  std::string objs;
  for (int i = 0; i < 64; ++i) objs += R"({"k":)";
  objs += "1" + std::string(64, '}');
  expect_error(R"({"op":"ping","id":6,"x":)" + objs + "}", ErrorCode::bad_request, 6);
  // Deep but unterminated: still an error, no crash.
  expect_bad(std::string(60000, '['));
  expect_bad("{\"x\":" + std::string(60000, '['));
}

TEST_F(CodecTest, SizeLimitBoundary) {
  Decoder d(100);
  ASSERT_TRUE(d.ok());
  std::string json = R"({"op":"pub","id":1,"topic":"t","data":")";
  json += std::string(100 - json.size() - 2, 'x') + "\"}";
  ASSERT_EQ(json.size(), 100u);
  Decoded r = run(d, json);
  EXPECT_TRUE(r.ok) << r.err.message;
  json.insert(json.size() - 2, "x");
  r = run(d, json);
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.err.code, ErrorCode::too_large);
  EXPECT_FALSE(r.err.has_id);  // not parsed at all
  r = run(d, json, true);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.err.code, ErrorCode::too_large);
}

TEST_F(CodecTest, TinyDecoderStillWorks) {
  Decoder d(0);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(run(d, "{}").err.code, ErrorCode::too_large);
  Decoder d20(20);
  EXPECT_TRUE(run(d20, R"({"op":"ping","id":1})").ok);
}

TEST_F(CodecTest, ReusableAfterErrorsAndResetsOutputs) {
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(decode(R"({"op":"ping","id":1,"x":[})").ok);
    const Decoded r = decode(R"({"op":"sub","id":11,"topic":"n"})");
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.req.id, 11u);
  }
  Request req;
  req.has_since = true;
  req.data = "stale";
  DecodeError err;
  err.has_id = true;
  std::string json = R"({"op":"ping","id":2})";
  json.resize(json.size() + kPadding, ' ');
  ASSERT_TRUE(dec_.decode(reinterpret_cast<const std::uint8_t*>(json.data()), json.size() - kPadding, req, err));
  EXPECT_FALSE(req.has_since);
  EXPECT_TRUE(req.data.empty());
  EXPECT_FALSE(err.has_id);
}

// ---------------------------------------------------------------------------------------------
// HTTP publish body

TEST_F(CodecTest, DecodePublish) {
  Decoded r = publish(R"({"topic":"news","data":{"a":[1,2]}})");
  ASSERT_TRUE(r.ok) << r.err.message;
  EXPECT_EQ(r.req.op, Op::pub);
  EXPECT_EQ(r.req.id, 0u);
  EXPECT_EQ(r.req.topic, "news");
  EXPECT_EQ(r.req.data, R"({"a":[1,2]})");
  // id and op are not required and not interpreted
  r = publish(R"({"data":"x","topic":"n","id":"junk","op":5})");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.req.data, R"("x")");

  struct Case {
    const char* json;
    ErrorCode code;
  } cases[] = {
      {R"({"data":1})", ErrorCode::bad_request},
      {R"({"topic":"n"})", ErrorCode::bad_request},
      {R"({"topic":1,"data":1})", ErrorCode::bad_request},
      {R"({"topic":"a..b","data":1})", ErrorCode::bad_topic},
      {R"({"topic":"n","data":[1,]})", ErrorCode::bad_request},
      {R"({"topic":"n","data":1,"data":2})", ErrorCode::bad_request},
      {R"({"topic":"n","data":1} 1)", ErrorCode::bad_request},
      {R"(["n",1])", ErrorCode::bad_request},
      {"", ErrorCode::bad_request},
  };
  for (const Case& c : cases) {
    r = publish(c.json);
    EXPECT_FALSE(r.ok) << c.json;
    EXPECT_EQ(r.err.code, c.code) << c.json;
    EXPECT_FALSE(r.err.has_id) << c.json;
  }
}

// ---------------------------------------------------------------------------------------------
// valid_topic and error names

TEST(ValidTopic, Table) {
  struct Case {
    std::string topic;
    bool valid;
  } cases[] = {
      {"a", true},
      {"news", true},
      {"a.b.c", true},
      {"A-Z_0-9.x:y/z@w=v+u", true},
      {"chat/room:1", true},
      {"-", true},
      {"/", true},
      {std::string(200, 'x'), true},
      {std::string(199, 'x') + ".", false},
      {std::string(201, 'x'), false},
      {"", false},
      {".", false},
      {"..", false},
      {"a..b", false},
      {".a", false},
      {"a.", false},
      {"a.b..c", false},
      {"a b", false},
      {"a*", false},
      {"a>", false},
      {"a#b", false},
      {"a\"b", false},
      {"a\\b", false},
      {std::string("a\0b", 3), false},
      {"caf\xc3\xa9", false},
      {"a,b", false},
      {"a\tb", false},
  };
  for (const Case& c : cases) EXPECT_EQ(valid_topic(c.topic), c.valid) << c.topic;
}

TEST(ErrorName, WireNames) {
  const char* want[] = {"bad_request", "unknown_op",  "bad_topic",   "unknown_topic", "too_large",
                        "forbidden",   "rate_limited", "unavailable", "limit_exceeded"};
  ASSERT_EQ(std::size(want), kErrorCodes);
  for (std::size_t i = 0; i < kErrorCodes; ++i) EXPECT_EQ(error_name(static_cast<ErrorCode>(i)), want[i]);
}

// ---------------------------------------------------------------------------------------------
// Encoders

simdjson::dom::element parse_dom(simdjson::dom::parser& p, std::string_view s) {
  simdjson::dom::element e;
  const auto err = p.parse(s.data(), s.size()).get(e);
  EXPECT_EQ(err, simdjson::SUCCESS) << s;
  return e;
}

std::string_view str_field(simdjson::dom::element e, const char* key) {
  std::string_view v;
  EXPECT_EQ(e[key].get(v), simdjson::SUCCESS) << key;
  return v;
}

std::uint64_t u64_field(simdjson::dom::element e, const char* key) {
  std::uint64_t v = 0;
  EXPECT_EQ(e[key].get(v), simdjson::SUCCESS) << key;
  return v;
}

// Every cap below the full size gives 0 and writes nothing past cap.
template <typename F>
void expect_cap_checked(F encode, std::size_t full) {
  for (std::size_t cap = 0; cap < full; ++cap) {
    std::vector<char> buf(full + 16, '#');
    EXPECT_EQ(encode(buf.data(), cap), 0u) << cap;
    for (std::size_t i = cap; i < buf.size(); ++i) ASSERT_EQ(buf[i], '#') << "cap " << cap << " byte " << i;
  }
  std::vector<char> buf(full);
  EXPECT_EQ(encode(buf.data(), full), full);
}

TEST(Encode, Acks) {
  char buf[256];
  simdjson::dom::parser p;
  std::size_t n = encode_ack(buf, sizeof buf, 1);
  EXPECT_EQ(std::string_view(buf, n), R"({"op":"ack","id":1})");
  n = encode_ack_seq(buf, sizeof buf, 7, 0);
  EXPECT_EQ(std::string_view(buf, n), R"({"op":"ack","id":7,"seq":0})");
  n = encode_ack_pub(buf, sizeof buf, kMaxId, ~std::uint64_t{0}, 12);
  auto e = parse_dom(p, std::string_view(buf, n));
  EXPECT_EQ(str_field(e, "op"), "ack");
  EXPECT_EQ(u64_field(e, "id"), kMaxId);
  EXPECT_EQ(u64_field(e, "seq"), ~std::uint64_t{0});
  EXPECT_EQ(u64_field(e, "delivered"), 12u);

  expect_cap_checked([](char* o, std::size_t c) { return encode_ack(o, c, 123); }, 21);
  expect_cap_checked([](char* o, std::size_t c) { return encode_ack_seq(o, c, 1, 99); }, 28);
  expect_cap_checked([](char* o, std::size_t c) { return encode_ack_pub(o, c, 1, 2, 3); }, 41);
}

TEST(Encode, ErrEscapesAndOmitsMissingId) {
  char buf[512];
  simdjson::dom::parser p;
  std::size_t n = encode_err(buf, sizeof buf, true, 3, ErrorCode::forbidden, "client publish is off");
  EXPECT_EQ(std::string_view(buf, n),
            R"({"op":"err","id":3,"code":"forbidden","message":"client publish is off"})");
  n = encode_err(buf, sizeof buf, false, 3, ErrorCode::bad_request, "x");
  EXPECT_EQ(std::string_view(buf, n), R"({"op":"err","code":"bad_request","message":"x"})");

  const std::string nasty = std::string("q\"b\\s\n\t\x01\x1f ") + "\xc3\xa9" + std::string("\0z", 2);
  n = encode_err(buf, sizeof buf, true, 9, ErrorCode::limit_exceeded, nasty);
  auto e = parse_dom(p, std::string_view(buf, n));
  EXPECT_EQ(str_field(e, "code"), "limit_exceeded");
  EXPECT_EQ(str_field(e, "message"), nasty);
  EXPECT_EQ(u64_field(e, "id"), 9u);

  // Invalid UTF-8 must not reach a text frame.
  n = encode_err(buf, sizeof buf, false, 0, ErrorCode::bad_request, "a\xff\xc3\xa9");
  e = parse_dom(p, std::string_view(buf, n));
  EXPECT_EQ(str_field(e, "message"), "a???");

  for (std::size_t i = 0; i < kErrorCodes; ++i) {
    const auto code = static_cast<ErrorCode>(i);
    n = encode_err(buf, sizeof buf, true, i, code, "m");
    e = parse_dom(p, std::string_view(buf, n));
    EXPECT_EQ(str_field(e, "code"), error_name(code));
  }
  const std::size_t full = encode_err(buf, sizeof buf, true, 42, ErrorCode::unavailable, "broker \"down\"");
  expect_cap_checked(
      [](char* o, std::size_t c) { return encode_err(o, c, true, 42, ErrorCode::unavailable, "broker \"down\""); },
      full);
}

TEST(Encode, MsgAndExactSize) {
  simdjson::dom::parser p;
  const std::string_view datas[] = {R"({"a":[1,2,{"b":null}]})", "1", R"("s\"t")", "[]", "true"};
  const std::uint64_t seqs[] = {0, 1, 9, 10, 99, 100, 12345678901234ull, ~std::uint64_t{0}};
  const std::string topics[] = {"t", "news.sport", std::string(200, 'z')};
  for (const auto& topic : topics) {
    for (std::uint64_t seq : seqs) {
      for (std::string_view data : datas) {
        const std::size_t want = msg_bytes(topic, seq, data.size());
        std::vector<char> buf(want);
        ASSERT_EQ(encode_msg(buf.data(), buf.size(), topic, seq, data), want);
        auto e = parse_dom(p, std::string_view(buf.data(), want));
        EXPECT_EQ(str_field(e, "op"), "msg");
        EXPECT_EQ(str_field(e, "topic"), topic);
        EXPECT_EQ(u64_field(e, "seq"), seq);
        // data is copied verbatim: it ends the frame just before the closing brace
        EXPECT_EQ(std::string_view(buf.data() + want - 1 - data.size(), data.size()), data);
      }
    }
  }
  EXPECT_EQ(msg_bytes("news", 17, 4), std::string_view(R"({"op":"msg","topic":"news","seq":17,"data":1234})").size());
  expect_cap_checked([](char* o, std::size_t c) { return encode_msg(o, c, "news", 17, "[1,2]"); },
                     msg_bytes("news", 17, 5));
}

TEST(Encode, Gap) {
  char buf[64];
  const std::size_t n = encode_gap(buf, sizeof buf, "news");
  EXPECT_EQ(std::string_view(buf, n), R"({"op":"gap","topic":"news"})");
  expect_cap_checked([](char* o, std::size_t c) { return encode_gap(o, c, "news"); }, n);
}

// A decoded pub's data goes into a msg that parses back to the same value.
TEST_F(CodecTest, PubRoundTripsIntoMsg) {
  const Decoded r = decode(R"({"op":"pub","id":1,"topic":"x.y","data": {"k" : [true, "v\u00e9"] } })");
  ASSERT_TRUE(r.ok);
  std::vector<char> buf(msg_bytes(r.req.topic, 5, r.req.data.size()));
  ASSERT_EQ(encode_msg(buf.data(), buf.size(), r.req.topic, 5, r.req.data), buf.size());
  simdjson::dom::parser p;
  auto e = parse_dom(p, std::string_view(buf.data(), buf.size()));
  std::string_view v;
  ASSERT_EQ(e["data"]["k"].at(1).get(v), simdjson::SUCCESS);
  EXPECT_EQ(v, "v\xc3\xa9");
}

}  // namespace
}  // namespace ringgate::pubsub
