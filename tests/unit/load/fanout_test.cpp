// ringgate-load fanout: option parsing of the mode, the sequence verifier (FanoutCheck), the wire
// helpers (top-level JSON field scan, publish payload sizes) and the API response parser.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fanout_api.hpp"
#include "fanout_check.hpp"
#include "fanout_proto.hpp"
#include "options.hpp"

namespace ringgate::load {
namespace {

std::string parse(std::vector<const char*> args, Options& o) {
  args.insert(args.begin(), "ringgate-load");
  return parse_options(int(args.size()), const_cast<char**>(args.data()), o);
}

// ---- options ----

TEST(FanoutOptions, WsPublishersAddConnectionsAndDefaults) {
  Options o;
  ASSERT_EQ(parse({"fanout", "--url", "ws://127.0.0.1:9000/ws", "--subscribers", "1000", "--topics", "10",
                   "--publishers", "4", "--rate", "5000", "--duration", "3"},
                  o),
            "");
  EXPECT_EQ(o.mode, "fanout");
  EXPECT_EQ(o.subscribers, 1000u);
  EXPECT_EQ(o.topics, 10u);
  EXPECT_EQ(o.publishers, 4u);
  EXPECT_EQ(o.pub_rate, 5000);
  EXPECT_EQ(o.rate, 0);  // the connect rate is untouched
  EXPECT_EQ(o.connections, 1004u);
  EXPECT_EQ(o.size, 64u);
  EXPECT_EQ(o.settle_s, 2);
  EXPECT_FALSE(o.via_api);
  EXPECT_EQ(o.path, "/ws");
  EXPECT_EQ(o.burst, 0u);
}

TEST(FanoutOptions, ApiPublishersAreNotWebSockets) {
  Options o;
  ASSERT_EQ(parse({"fanout", "--url", "ws://127.0.0.1:9000/ws", "--subscribers", "10", "--publishers", "3", "--rate",
                   "100", "--duration", "1", "--via", "api", "--api", "http://127.0.0.1:9100/", "--api-token", "tok",
                   "--size", "300", "--settle", "0.5", "--json", "x.json"},
                  o),
            "");
  EXPECT_TRUE(o.via_api);
  EXPECT_EQ(o.connections, 10u);
  EXPECT_EQ(o.api_target.port(), 9100);
  EXPECT_EQ(o.api_host_header, "127.0.0.1:9100");
  EXPECT_EQ(o.api_token, "tok");
  EXPECT_EQ(o.size, 300u);
  EXPECT_EQ(o.settle_s, 0.5);
}

TEST(FanoutOptions, BurstUsesOneTopicAndNeedsNoRate) {
  Options o;
  ASSERT_EQ(parse({"fanout", "--url", "ws://127.0.0.1:9000/ws", "--subscribers", "100000", "--burst", "1"}, o), "");
  EXPECT_EQ(o.burst, 1u);
  EXPECT_EQ(o.topics, 1u);
  EXPECT_EQ(o.publishers, 1u);
  EXPECT_EQ(o.connections, 100001u);
  EXPECT_EQ(o.warmup_s, 0);
  Options b;
  EXPECT_NE(parse({"fanout", "--url", "ws://127.0.0.1:9000/ws", "--subscribers", "10", "--topics", "2", "--burst", "1"}, b)
                .find("--burst"),
            std::string::npos);
}

TEST(FanoutOptions, RefusesIncompleteOrContradictoryFlags) {
  const char* url = "ws://127.0.0.1:9000/ws";
  struct Case {
    std::vector<const char*> args;
    const char* expect;  // substring of the message
  } cases[] = {
      {{"fanout", "--url", url, "--rate", "10", "--duration", "1"}, "--subscribers"},
      {{"fanout", "--url", url, "--subscribers", "5", "--duration", "1"}, "--rate"},
      {{"fanout", "--url", url, "--subscribers", "5", "--rate", "10"}, "--duration"},
      {{"fanout", "--url", url, "--subscribers", "5", "--rate", "0", "--duration", "1"}, "--rate"},
      {{"fanout", "--url", url, "--subscribers", "5", "--topics", "6", "--rate", "1", "--duration", "1"}, "--topics"},
      {{"fanout", "--url", url, "--subscribers", "0", "--rate", "1", "--duration", "1"}, "--subscribers"},
      {{"fanout", "--url", url, "--subscribers", "5", "--publishers", "0", "--rate", "1", "--duration", "1"},
       "--publishers"},
      {{"fanout", "--url", url, "--subscribers", "5", "--rate", "1", "--duration", "1", "--via", "api"}, "--api"},
      {{"fanout", "--url", url, "--subscribers", "5", "--rate", "1", "--duration", "1", "--via", "mqtt"}, "--via"},
      {{"fanout", "--url", url, "--subscribers", "5", "--rate", "1", "--duration", "1", "--api-token", "t"},
       "--via api"},
      {{"fanout", "--url", url, "--subscribers", "5", "--rate", "1", "--duration", "1", "--via", "api", "--api",
        "http://10.0.0.1:80", "--api-token", "t"},
       "loopback"},
      {{"fanout", "--url", url, "--subscribers", "5", "--rate", "1", "--duration", "1", "--via", "api", "--api",
        "https://127.0.0.1:80", "--api-token", "t"},
       "http://"},
      {{"fanout", "--url", url, "--connections", "5", "--rate", "1", "--duration", "1"}, "--connections"},
      {{"fanout", "--url", url, "--subscribers", "x5", "--rate", "1", "--duration", "1"}, "bad value"},
      {{"echo", "--url", url, "--subscribers", "5"}, "unknown flag"},  // fanout flags stay fanout-only
  };
  for (auto& c : cases) {
    Options o;
    std::string err = parse(c.args, o);
    EXPECT_NE(err.find(c.expect), std::string::npos) << "got '" << err << "' for " << c.args[c.args.size() - 1];
  }
}

TEST(FanoutOptions, UsageMentionsTheMode) {
  std::string u = usage_text();
  EXPECT_NE(u.find("ringgate-load fanout"), std::string::npos);
  EXPECT_NE(u.find("--burst"), std::string::npos);
}

// ---- FanoutCheck ----

std::vector<std::uint64_t> range(std::uint64_t a, std::uint64_t b) {
  std::vector<std::uint64_t> v;
  for (std::uint64_t i = a; i <= b; ++i) v.push_back(i);
  return v;
}

TEST(FanoutCheck, ConsecutiveRunReceivesEverything) {
  FanoutCheck c;
  c.subscribed(3, 0);
  for (std::uint64_t s = 1; s <= 10; ++s) c.feed(3, s);
  auto acked = range(1, 10);
  FanoutCounts n = c.finish(3, acked);
  EXPECT_EQ(n.deliveries, 10u);
  EXPECT_EQ(n.expected, 10u);
  EXPECT_EQ(n.received, 10u);
  EXPECT_EQ(n.missing, 0u);
  EXPECT_EQ(n.out_of_order, 0u);
  EXPECT_EQ(n.gaps, 0u);
}

TEST(FanoutCheck, SeqsBeforeTheSubscriptionAreNotExpected) {
  FanoutCheck c;
  c.subscribed(0, 5);  // 1..5 were published before we subscribed
  for (std::uint64_t s = 6; s <= 8; ++s) c.feed(0, s);
  auto acked = range(1, 8);
  FanoutCounts n = c.finish(0, acked);
  EXPECT_EQ(n.expected, 3u);
  EXPECT_EQ(n.missing, 0u);
  EXPECT_EQ(n.out_of_order, 0u);
}

TEST(FanoutCheck, JumpWithoutGapIsOutOfOrderAndMissing) {
  FanoutCheck c;
  c.subscribed(0, 0);
  for (std::uint64_t s : {1, 2, 5, 6}) c.feed(0, s);
  auto acked = range(1, 6);
  FanoutCounts n = c.finish(0, acked);
  EXPECT_EQ(n.out_of_order, 1u);
  EXPECT_EQ(n.missing, 2u);  // 3 and 4
  EXPECT_EQ(n.received, 4u);
}

TEST(FanoutCheck, GapCoversTheSkippedStretch) {
  FanoutCheck c;
  c.subscribed(0, 0);
  c.feed(0, 1);
  c.feed(0, 2);
  c.gap(0);
  c.feed(0, 7);
  c.feed(0, 8);
  auto acked = range(1, 8);
  FanoutCounts n = c.finish(0, acked);
  EXPECT_EQ(n.out_of_order, 0u);
  EXPECT_EQ(n.gaps, 1u);
  EXPECT_EQ(n.gap_lost, 4u);  // 3..6
  EXPECT_EQ(n.missing, 0u);
  // A second jump without a gap is not excused by the first gap.
  c.feed(0, 10);
  acked = range(1, 10);
  n = c.finish(0, acked);
  EXPECT_EQ(n.out_of_order, 1u);
  EXPECT_EQ(n.missing, 1u);  // 9
}

TEST(FanoutCheck, GapBeforeFirstMessageAndTrailingGap) {
  FanoutCheck c;
  c.subscribed(1, 2);
  c.gap(1);
  c.feed(1, 6);  // 3..5 covered
  c.feed(1, 7);
  c.gap(1);      // everything after 7 covered
  auto acked = range(1, 12);
  FanoutCounts n = c.finish(1, acked);
  EXPECT_EQ(n.expected, 10u);
  EXPECT_EQ(n.received, 2u);
  EXPECT_EQ(n.gap_lost, 8u);
  EXPECT_EQ(n.missing, 0u);
  EXPECT_EQ(n.gaps, 2u);
}

TEST(FanoutCheck, MissingTailWithoutGap) {
  FanoutCheck c;
  c.subscribed(0, 0);
  c.feed(0, 1);
  auto acked = range(1, 3);
  FanoutCounts n = c.finish(0, acked);
  EXPECT_EQ(n.missing, 2u);
  EXPECT_EQ(n.out_of_order, 0u);  // nothing arrived wrongly; it just never came
}

TEST(FanoutCheck, DuplicatesAndBackwardSeqs) {
  FanoutCheck c;
  c.subscribed(0, 0);
  for (std::uint64_t s : {1, 2, 2, 3, 1, 4}) c.feed(0, s);
  auto acked = range(1, 4);
  FanoutCounts n = c.finish(0, acked);
  EXPECT_EQ(n.deliveries, 6u);
  EXPECT_EQ(n.out_of_order, 2u);
  EXPECT_EQ(n.missing, 0u);
  // A backward seq right after a gap does not consume the gap.
  FanoutCheck d;
  d.subscribed(0, 0);
  d.feed(0, 1);
  d.feed(0, 2);
  d.gap(0);
  d.feed(0, 2);
  d.feed(0, 5);
  auto a5 = range(1, 5);
  n = d.finish(0, a5);
  EXPECT_EQ(n.out_of_order, 1u);
  EXPECT_EQ(n.gap_lost, 2u);
  EXPECT_EQ(n.missing, 0u);
}

TEST(FanoutCheck, UnackedDeliveriesAreNotMissingAndUnackedSeqsNotExpected) {
  FanoutCheck c;
  c.subscribed(0, 0);
  for (std::uint64_t s = 1; s <= 5; ++s) c.feed(0, s);
  std::vector<std::uint64_t> acked = {1, 3, 5};  // 2 and 4: publisher gave up before the ack
  FanoutCounts n = c.finish(0, acked);
  EXPECT_EQ(n.expected, 3u);
  EXPECT_EQ(n.received, 3u);
  EXPECT_EQ(n.missing, 0u);
}

TEST(FanoutCheck, UnsubscribedTopicsAreUnexpectedAndTopicsIndependent) {
  FanoutCheck c;
  c.subscribed(0, 0);
  c.subscribed(1, 10);
  c.feed(2, 1);  // never subscribed
  c.gap(2);
  c.feed(0, 1);
  c.feed(1, 11);
  c.feed(0, 2);
  c.feed(1, 13);  // jump on topic 1 only
  std::vector<std::vector<std::uint64_t>> acked = {range(1, 2), range(1, 13)};
  FanoutCounts all = c.finish_all(acked);
  EXPECT_EQ(all.unexpected, 2u);
  EXPECT_EQ(all.expected, 2u + 3u);
  EXPECT_EQ(all.out_of_order, 1u);
  EXPECT_EQ(all.missing, 1u);  // 12
  EXPECT_EQ(all.deliveries, 4u);
  EXPECT_TRUE(c.is_subscribed(1));
  EXPECT_FALSE(c.is_subscribed(2));
}

// ---- FanoutCheck by count (acks with seq 0: external broker) ----

TEST(FanoutCheckCounted, PublishesAfterTheSubAckMustAllArrive) {
  FanoutCheck c;
  c.subscribed(0, 0, 100);
  for (std::uint64_t s = 1; s <= 4; ++s) c.feed(0, s);
  std::vector<std::uint64_t> sent = {50, 100, 150, 200, 250};  // 50 went out before the sub ack
  FanoutCounts n = c.finish(0, {}, sent);
  EXPECT_EQ(n.expected, 4u);
  EXPECT_EQ(n.received, 4u);
  EXPECT_EQ(n.missing, 0u);
  EXPECT_EQ(n.out_of_order, 0u);
  // The same deliveries fall one short when the early publish came after the sub ack too.
  std::vector<std::uint64_t> late = {100, 100, 150, 200, 250};
  n = c.finish(0, {}, late);
  EXPECT_EQ(n.expected, 5u);
  EXPECT_EQ(n.received, 4u);
  EXPECT_EQ(n.missing, 1u);
}

TEST(FanoutCheckCounted, EarlyPublishesAreNotExpected) {
  FanoutCheck c;
  c.subscribed(0, 7, 1000);  // a node that already numbered 7 messages on this topic
  for (std::uint64_t s = 8; s <= 12; ++s) c.feed(0, s);  // 5, two of them published before the ack
  std::vector<std::uint64_t> sent = {900, 950, 1000, 1100, 1200};
  FanoutCounts n = c.finish(0, {}, sent);
  EXPECT_EQ(n.expected, 3u);
  EXPECT_EQ(n.received, 3u);
  EXPECT_EQ(n.missing, 0u);
  EXPECT_EQ(n.deliveries, 5u);
  // Nothing received at all: every publish after the ack is missing.
  FanoutCheck empty;
  empty.subscribed(0, 7, 1000);
  n = empty.finish(0, {}, sent);
  EXPECT_EQ(n.expected, 3u);
  EXPECT_EQ(n.missing, 3u);
}

TEST(FanoutCheckCounted, RepeatsDoNotCountAsReceived) {
  FanoutCheck c;
  c.subscribed(0, 0, 0);
  for (std::uint64_t s : {1, 2, 2, 2}) c.feed(0, s);
  std::vector<std::uint64_t> sent = {1, 2, 3, 4};
  FanoutCounts n = c.finish(0, {}, sent);
  EXPECT_EQ(n.deliveries, 4u);
  EXPECT_EQ(n.received, 2u);  // distinct seqs only
  EXPECT_EQ(n.missing, 2u);
  EXPECT_EQ(n.out_of_order, 2u);
}

TEST(FanoutCheckCounted, JumpWithoutGapIsStillOutOfOrder) {
  FanoutCheck c;
  c.subscribed(0, 0, 0);
  for (std::uint64_t s : {1, 2, 5}) c.feed(0, s);
  std::vector<std::uint64_t> sent = {1, 2, 3};
  FanoutCounts n = c.finish(0, {}, sent);
  EXPECT_EQ(n.out_of_order, 1u);
  EXPECT_EQ(n.missing, 0u);  // three distinct msgs for three publishes: the count holds
  EXPECT_EQ(n.gap_lost, 0u);
}

TEST(FanoutCheckCounted, GapExcusesOnlyTheSeqsItSkipped) {
  FanoutCheck c;
  c.subscribed(0, 0, 0);
  c.feed(0, 1), c.feed(0, 2), c.gap(0), c.feed(0, 5), c.feed(0, 6);  // 3 and 4 dropped
  std::vector<std::uint64_t> six = {1, 2, 3, 4, 5, 6}, seven = {1, 2, 3, 4, 5, 6, 7};
  FanoutCounts n = c.finish(0, {}, six);
  EXPECT_EQ(n.received, 4u);
  EXPECT_EQ(n.gap_lost, 2u);
  EXPECT_EQ(n.missing, 0u);
  EXPECT_EQ(n.out_of_order, 0u);
  EXPECT_EQ(n.gaps, 1u);
  n = c.finish(0, {}, seven);  // one more than the gap explains
  EXPECT_EQ(n.gap_lost, 2u);
  EXPECT_EQ(n.missing, 1u);
}

TEST(FanoutCheckCounted, GapThatSkipsNoSeqOrComesLastExcusesTheShortfall) {
  // A broker outage: messages lost before the node numbered them, so the seqs run on after the gap.
  FanoutCheck outage;
  outage.subscribed(0, 0, 0);
  outage.feed(0, 1), outage.feed(0, 2), outage.gap(0), outage.feed(0, 3), outage.feed(0, 4);
  std::vector<std::uint64_t> sent = {1, 2, 3, 4, 5, 6, 7};
  FanoutCounts n = outage.finish(0, {}, sent);
  EXPECT_EQ(n.received, 4u);
  EXPECT_EQ(n.gap_lost, 3u);
  EXPECT_EQ(n.missing, 0u);
  EXPECT_EQ(n.out_of_order, 0u);
  FanoutCheck trailing;
  trailing.subscribed(0, 0, 0);
  trailing.feed(0, 1), trailing.gap(0);
  n = trailing.finish(0, {}, sent);
  EXPECT_EQ(n.gap_lost, 6u);
  EXPECT_EQ(n.missing, 0u);
  // Without the gap the same shortfall is missing.
  FanoutCheck plain;
  plain.subscribed(0, 0, 0);
  plain.feed(0, 1);
  EXPECT_EQ(plain.finish(0, {}, sent).missing, 6u);
}

TEST(FanoutCheckCounted, FinishAllUsesCountOnlyWhereSeqZeroAcksExist) {
  FanoutCheck c;
  c.subscribed(0, 0, 10);
  c.subscribed(1, 0, 10);
  for (std::uint64_t s = 1; s <= 3; ++s) c.feed(0, s), c.feed(1, s);
  std::vector<std::vector<std::uint64_t>> acked = {{}, {1, 2, 3, 4}};      // topic 1: numbered acks
  std::vector<std::vector<std::uint64_t>> unnumbered = {{10, 20, 30}, {}};  // topic 0: seq-0 acks
  FanoutCounts all = c.finish_all(acked, unnumbered);
  EXPECT_EQ(all.expected, 7u);
  EXPECT_EQ(all.received, 6u);
  EXPECT_EQ(all.missing, 1u);  // seq 4 on topic 1
  EXPECT_EQ(c.finish_all(acked).expected, 4u);  // without the times topic 0 expects nothing
}

// ---- wire helpers ----

TEST(FanoutProto, TopLevelFieldsIgnoreNestedOnesAndWhitespace) {
  std::string_view v;
  std::string_view msg = R"({"op":"msg","topic":"load.7","seq":42,"data":{"seq":1,"t":99,"pad":"a\"}b"}})";
  ASSERT_TRUE(json_field(msg, "seq", v));
  EXPECT_EQ(v, "42");
  ASSERT_TRUE(json_field(msg, "data", v));
  std::string_view t;
  ASSERT_TRUE(json_field(v, "t", t));
  EXPECT_EQ(t, "99");
  std::uint32_t k = 0;
  ASSERT_TRUE(json_field(msg, "topic", v));
  ASSERT_TRUE(topic_index(v, k));
  EXPECT_EQ(k, 7u);
  std::string_view spaced = " { \"data\" : [1, {\"op\": 2}] , \"op\" :\t\"gap\" } ";
  ASSERT_TRUE(json_field(spaced, "op", v));
  EXPECT_EQ(v, "\"gap\"");
  EXPECT_FALSE(json_field(spaced, "topic", v));
  EXPECT_FALSE(json_field("[1,2]", "op", v));
  EXPECT_FALSE(json_field("{\"op\":\"ms", "op", v));
  EXPECT_FALSE(json_field("{\"a\":{\"b\":1}", "op", v));
  EXPECT_FALSE(json_field("", "op", v));
  std::uint64_t x = 0;
  EXPECT_FALSE(json_u64("-1", x));
  EXPECT_FALSE(json_u64("1.5", x));
  EXPECT_FALSE(json_u64("", x));
  EXPECT_FALSE(topic_index("\"news\"", k));
  EXPECT_FALSE(topic_index("\"load.\"", k));
  EXPECT_FALSE(topic_index("load.3", k));  // unquoted
}

TEST(FanoutProto, PublishPayloadHasTheRequestedSize) {
  for (std::size_t size : {0, 10, 64, 65, 1000}) {
    for (bool ws : {true, false}) {
      PubFields f;
      f.topic = 12, f.publisher = 3, f.id = 77, f.n = 76, f.t_ns = 123456789012345, f.size = size;
      std::string out(pub_size(f, ws), '\0');
      ASSERT_EQ(write_pub(out.data(), f, ws), out.size());
      std::string_view v, data;
      ASSERT_TRUE(json_field(out, "data", data)) << out;
      if (size >= 64) {
        EXPECT_EQ(data.size(), size) << out;
      }
      ASSERT_TRUE(json_field(data, "t", v));
      EXPECT_EQ(v, "123456789012345");
      ASSERT_TRUE(json_field(out, "topic", v));
      EXPECT_EQ(v, "\"load.12\"");
      EXPECT_EQ(json_field(out, "op", v), ws);
      if (ws) {
        ASSERT_TRUE(json_field(out, "id", v));
        EXPECT_EQ(v, "77");
      }
    }
  }
}

// ---- API responses ----

TEST(FanoutApi, ParsesPipelinedResponsesAcrossReads) {
  std::string in = "HTTP/1.1 200 OK\r\nContent-Length: 24\r\n\r\n{\"delivered\":3,\"seq\":17}HTTP/1.1 401 Unauth";
  std::vector<std::pair<int, std::string>> got;
  auto sink = [&](int status, std::string_view body) { got.emplace_back(status, std::string(body)); };
  ASSERT_TRUE(ApiPublisher::parse_responses(in, sink));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first, 200);
  EXPECT_EQ(got[0].second, "{\"delivered\":3,\"seq\":17}");
  in += "orized\r\ncontent-length: 7\r\nWWW-Authenticate: Bearer\r\n\r\n{\"e\":";
  ASSERT_TRUE(ApiPublisher::parse_responses(in, sink));
  EXPECT_EQ(got.size(), 1u);  // body incomplete
  in += "1}";
  ASSERT_TRUE(ApiPublisher::parse_responses(in, sink));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].first, 401);
  EXPECT_TRUE(in.empty());
  std::string junk = "SSH-2.0-OpenSSH\r\n\r\n";
  EXPECT_FALSE(ApiPublisher::parse_responses(junk, sink));
}

}  // namespace
}  // namespace ringgate::load
