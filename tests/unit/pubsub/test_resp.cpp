// RESP: the command builders (checked byte for byte and by parsing them back), and RespReader on
// byte streams captured from redis-server 7.0 (subscribe, ssubscribe, message, smessage, pong in
// both shapes, unsubscribe with a nil channel, integer, status, error), fed whole, split at every
// byte position and byte by byte, plus malformed and hostile streams.
#include "ringgate/pubsub/resp.hpp"

#include <gtest/gtest.h>

#include "split_feed.hpp"

#include <string>
#include <vector>

namespace ringgate::pubsub {
namespace {

struct Ev {
  RespKind kind;
  bool sharded;
  std::string channel, text;
  long long integer;
  bool operator==(const Ev&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Ev& e) {
  return os << "{kind=" << static_cast<int>(e.kind) << " sharded=" << e.sharded << " channel=" << e.channel
            << " text=" << e.text << " int=" << e.integer << "}";
}

// Drains the reader; false on a protocol error.
bool drain(RespReader& r, std::vector<Ev>& out) {
  RespEvent ev;
  int rc;
  while ((rc = r.next(ev)) == 1) {
    out.push_back({ev.kind, ev.sharded, std::string(ev.channel), std::string(ev.text), ev.integer});
  }
  return rc == 0;
}

std::vector<Ev> parse_pieces(std::string_view bytes, const std::vector<std::size_t>& cuts) {
  RespReader r;
  EXPECT_TRUE(r.ok());
  std::vector<Ev> out;
  std::size_t at = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t end = i < cuts.size() ? cuts[i] : bytes.size();
    EXPECT_TRUE(r.feed(bytes.data() + at, end - at));
    EXPECT_TRUE(drain(r, out));
    at = end;
  }
  return out;
}

// The same events whether the stream arrives whole, in two pieces cut anywhere, or byte by byte.
std::vector<Ev> parse_all_ways(std::string_view bytes) { return test_support::same_events_however_cut(bytes, parse_pieces); }

// Captured from redis-server 7.0.15: SUBSCRIBE chat other, SSUBSCRIBE room, PING on the
// subscribed connection, then a PUBLISH and an SPUBLISH from another connection.
constexpr std::string_view kSubscriber =
    "*3\r\n$9\r\nsubscribe\r\n$4\r\nchat\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$5\r\nother\r\n:2\r\n"
    "*3\r\n$10\r\nssubscribe\r\n$4\r\nroom\r\n:1\r\n*2\r\n$4\r\npong\r\n$0\r\n\r\n"
    "*3\r\n$7\r\nmessage\r\n$4\r\nchat\r\n$7\r\n{\"a\":1}\r\n*3\r\n$8\r\nsmessage\r\n$4\r\nroom\r\n$5\r\nhello\r\n"
    "*3\r\n$11\r\nunsubscribe\r\n$5\r\nother\r\n:1\r\n*3\r\n$11\r\nunsubscribe\r\n$4\r\nchat\r\n:0\r\n"
    "*3\r\n$12\r\nsunsubscribe\r\n$4\r\nroom\r\n:0\r\n*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n";

// The publisher connection: PUBLISH, SPUBLISH, PING, an unknown command.
constexpr std::string_view kPublisher =
    ":1\r\n:1\r\n+PONG\r\n-ERR unknown command 'FOO', with args beginning with: \r\n";

TEST(RespReader, SubscriberStream) {
  const std::vector<Ev> expect = {
      {RespKind::subscribed, false, "chat", "", 1},
      {RespKind::subscribed, false, "other", "", 2},
      {RespKind::subscribed, true, "room", "", 1},
      {RespKind::pong, false, "", "", 0},
      {RespKind::message, false, "chat", "{\"a\":1}", 0},
      {RespKind::message, true, "room", "hello", 0},
      {RespKind::unsubscribed, false, "other", "", 1},
      {RespKind::unsubscribed, false, "chat", "", 0},
      {RespKind::unsubscribed, true, "room", "", 0},
      {RespKind::unsubscribed, false, "", "", 0},
  };
  EXPECT_EQ(parse_all_ways(kSubscriber), expect);
}

TEST(RespReader, PublisherStream) {
  const std::vector<Ev> expect = {
      {RespKind::integer, false, "", "", 1},
      {RespKind::integer, false, "", "", 1},
      {RespKind::pong, false, "", "PONG", 0},
      {RespKind::error, false, "", "ERR unknown command 'FOO', with args beginning with: ", 0},
  };
  EXPECT_EQ(parse_all_ways(kPublisher), expect);
}

TEST(RespReader, PayloadsKeepEveryByte) {
  const std::string payload("a\r\nb\0c\xff", 7);
  const std::string stream = "*3\r\n$7\r\nmessage\r\n$1\r\nt\r\n$7\r\n" + payload + "\r\n:-42\r\n+OK\r\n";
  const std::vector<Ev> got = parse_all_ways(stream);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].kind, RespKind::message);
  EXPECT_EQ(got[0].text, payload);
  EXPECT_EQ(got[1].kind, RespKind::integer);
  EXPECT_EQ(got[1].integer, -42);
  EXPECT_EQ(got[2].kind, RespKind::status);
  EXPECT_EQ(got[2].text, "OK");
}

TEST(RespReader, OtherShapesAreOther) {
  const char* others[] = {
      "$5\r\nhello\r\n",                                                 // bulk string
      "$-1\r\n",                                                          // nil
      "*-1\r\n",                                                          // nil array
      "*0\r\n",                                                           // empty array
      "*4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$1\r\nx\r\n",      // pmessage
      "*3\r\n$7\r\nMESSAGE\r\n$1\r\nc\r\n$1\r\nx\r\n",                   // case matters
      "*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n:1\r\n",                         // payload not a string
      "*3\r\n$7\r\nmessage\r\n+c\r\n$1\r\nx\r\n",                         // channel a status
      "*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n$1\r\n1\r\n",                  // count not an integer
      "*2\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n",                             // too short
      "*2\r\n$4\r\npong\r\n:1\r\n",                                       // pong of an integer
      "*1\r\n$4\r\npong\r\n",
      "*3\r\n*1\r\n:1\r\n$1\r\nc\r\n$1\r\nx\r\n",                         // kind not a string
      "*4\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nx\r\n$1\r\ny\r\n",         // too long
  };
  for (const char* s : others) {
    const std::vector<Ev> got = parse_all_ways(s);
    ASSERT_EQ(got.size(), 1u) << s;
    EXPECT_EQ(got[0].kind, RespKind::other) << s;
  }
  EXPECT_EQ(parse_all_ways("+pong\r\n")[0].kind, RespKind::status);  // only "PONG" is a pong
}

TEST(RespReader, ProtocolErrorsAreStickyUntilReset) {
  const char* bad[] = {
      "?x\r\n",                  // unknown type byte
      "*-5\r\n",                 // negative count
      "*2147483648\r\n:1\r\n",   // wraps to a negative int inside hiredis
      "*1048577\r\n",            // over kMaxArray
      "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",  // nested deeper than 7
  };
  for (const char* s : bad) {
    RespReader r;
    r.feed(s, std::char_traits<char>::length(s));
    RespEvent ev;
    EXPECT_EQ(r.next(ev), -1) << s;
    EXPECT_EQ(r.next(ev), -1) << s;
    EXPECT_FALSE(r.feed(":1\r\n", 4));
    r.reset();
    ASSERT_TRUE(r.feed(":7\r\n", 4));
    ASSERT_EQ(r.next(ev), 1);
    EXPECT_EQ(ev.kind, RespKind::integer);
    EXPECT_EQ(ev.integer, 7);
  }
}

TEST(RespReader, ResetDropsAPartialReply) {
  RespReader r;
  ASSERT_TRUE(r.feed("*3\r\n$7\r\nmessage\r\n$1\r\nc", 22));
  RespEvent ev;
  EXPECT_EQ(r.next(ev), 0);
  r.reset();
  ASSERT_TRUE(r.feed("+PONG\r\n", 7));
  ASSERT_EQ(r.next(ev), 1);
  EXPECT_EQ(ev.kind, RespKind::pong);
  EXPECT_EQ(r.next(ev), 0);
}

TEST(RespReader, LargeDeclaredLengthsWaitWithoutAllocating) {
  RespReader r;
  const std::string huge = "$9000000000000000000\r\n";  // waits for bytes that never come
  ASSERT_TRUE(r.feed(huge.data(), huge.size()));
  RespEvent ev;
  EXPECT_EQ(r.next(ev), 0);
  EXPECT_TRUE(r.feed("abc", 3));
  EXPECT_EQ(r.next(ev), 0);
}

// ---------------------------------------------------------------------------------------------

TEST(RespAppend, FormatsCommands) {
  std::string out;
  ASSERT_TRUE(resp_append(out, {"SUBSCRIBE", "chat"}));
  ASSERT_TRUE(resp_append(out, {"PING"}));
  EXPECT_EQ(out, "*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nchat\r\n*1\r\n$4\r\nPING\r\n");
  out.clear();
  ASSERT_TRUE(resp_append(out, {"SET", std::string_view("a\0b", 3), ""}));
  EXPECT_EQ(out, std::string("*3\r\n$3\r\nSET\r\n$3\r\na\0b\r\n$0\r\n\r\n", 28));
}

TEST(RespAppend, ManyArguments) {
  std::string out;
  ASSERT_TRUE(resp_append(out, {"SUBSCRIBE", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m",
                                "n", "o", "p", "q", "r", "s", "t"}));
  EXPECT_EQ(out.rfind("*21\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n", 0), 0u);
  EXPECT_EQ(out.substr(out.size() - 7), "$1\r\nt\r\n");
}

TEST(RespAppend, PublishEqualsTheJoinedCommand) {
  for (bool sharded : {false, true}) {
    std::string pieces = "keep";
    ASSERT_TRUE(resp_append_publish(pieces, sharded, "room:1", "GW1 0000000000000001 5 0\n", "{\"a\":1}"));
    std::string joined = "keep";
    ASSERT_TRUE(resp_append(joined, {sharded ? "SPUBLISH" : "PUBLISH", "room:1",
                                     "GW1 0000000000000001 5 0\n{\"a\":1}"}));
    EXPECT_EQ(pieces, joined);
    std::string empty;
    ASSERT_TRUE(resp_append_publish(empty, sharded, "c", "", ""));
    std::string joined_empty;
    ASSERT_TRUE(resp_append(joined_empty, {sharded ? "SPUBLISH" : "PUBLISH", "c", ""}));
    EXPECT_EQ(empty, joined_empty);
  }
}

TEST(RespAppend, ReaderParsesWhatTheBuilderWrote) {
  // A PUBLISH written as a RESP array is itself a valid RESP array: the reader sees it as `other`
  // with the same elements, which checks the framing (lengths, CRLFs) end to end.
  std::string out;
  ASSERT_TRUE(resp_append_publish(out, false, "chat", "head\r\n", "da\0ta"));
  RespReader r;
  ASSERT_TRUE(r.feed(out.data(), out.size()));
  RespEvent ev;
  ASSERT_EQ(r.next(ev), 1);
  EXPECT_EQ(ev.kind, RespKind::other);
  EXPECT_EQ(r.next(ev), 0);
  // With "message" as the verb the same framing classifies, exposing the joined payload.
  out.clear();
  ASSERT_TRUE(resp_append(out, {"message", "chat", std::string_view("head\r\nda\0ta", 11)}));
  ASSERT_TRUE(r.feed(out.data(), out.size()));
  ASSERT_EQ(r.next(ev), 1);
  EXPECT_EQ(ev.kind, RespKind::message);
  EXPECT_EQ(ev.text, std::string_view("head\r\nda\0ta", 11));
}

}  // namespace
}  // namespace ringgate::pubsub
