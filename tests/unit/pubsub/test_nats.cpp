// NATS: the parser on a stream captured from nats-server 2.9.10 (INFO, MSG with and without a
// reply subject, HMSG, an empty payload, PONG, -ERR) fed whole, split at every byte position and
// byte by byte; every malformed control line it must refuse; the limits; and the builders.
#include "ringgate/pubsub/nats.hpp"

#include <gtest/gtest.h>

#include "split_feed.hpp"

#include <string>
#include <vector>

namespace ringgate::pubsub {
namespace {

struct Ev {
  NatsKind kind;
  std::string subject, reply;
  std::uint64_t sid;
  std::string payload, text;
  bool operator==(const Ev&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Ev& e) {
  return os << "{kind=" << static_cast<int>(e.kind) << " subject=" << e.subject << " reply=" << e.reply
            << " sid=" << e.sid << " payload=" << e.payload << " text=" << e.text << "}";
}

// Drains the parser: the return code that stopped it (0 or -1).
int drain(NatsParser& p, std::vector<Ev>& out) {
  NatsEvent ev;
  int rc;
  while ((rc = p.next(ev)) == 1) {
    out.push_back({ev.kind, std::string(ev.subject), std::string(ev.reply), ev.sid, std::string(ev.payload),
                   std::string(ev.text)});
  }
  return rc;
}

std::vector<Ev> parse_pieces(std::string_view bytes, const std::vector<std::size_t>& cuts) {
  NatsParser p;
  std::vector<Ev> out;
  std::size_t at = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t end = i < cuts.size() ? cuts[i] : bytes.size();
    EXPECT_TRUE(p.feed(bytes.data() + at, end - at));
    EXPECT_EQ(drain(p, out), 0);
    at = end;
  }
  return out;
}

// The same events whether the stream arrives whole, in two pieces cut anywhere, or byte by byte.
std::vector<Ev> parse_all_ways(std::string_view bytes) { return test_support::same_events_however_cut(bytes, parse_pieces); }

constexpr std::string_view kInfo =
    "{\"server_id\":\"NB4ANBXPXIPE34QP6WIHAGG5N7FV2G4RFFATHIQFLZXXCSB2EM2ZDX32\",\"server_name\":"
    "\"NB4ANBXPXIPE34QP6WIHAGG5N7FV2G4RFFATHIQFLZXXCSB2EM2ZDX32\",\"version\":\"2.9.10\",\"proto\":1,"
    "\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\",\"port\":36989,\"headers\":true,\"max_payload\":1048576,"
    "\"client_id\":4,\"client_ip\":\"127.0.0.1\"}";

// Captured from nats-server 2.9.10 after CONNECT, SUB chat 1, SUB chat.> 2, PUB chat, HPUB chat.x,
// PUB chat reply.to with an empty payload, PING, and an unknown op.
const std::string kStream = "INFO " + std::string(kInfo) +
                            " \r\n"
                            "MSG chat 1 7\r\n{\"a\":1}\r\nHMSG chat.x 2 20 25\r\nNATS/1.0\r\nX-A: b\r\n\r\nhello\r\n"
                            "MSG chat 1 reply.to 0\r\n\r\nPONG\r\n-ERR 'Unknown Protocol Operation'\r\n";

TEST(NatsParser, CapturedStream) {
  const std::vector<Ev> expect = {
      {NatsKind::info, "", "", 0, "", std::string(kInfo)},
      {NatsKind::msg, "chat", "", 1, "{\"a\":1}", ""},
      {NatsKind::msg, "chat.x", "", 2, "hello", ""},
      {NatsKind::msg, "chat", "reply.to", 1, "", ""},
      {NatsKind::pong, "", "", 0, "", ""},
      {NatsKind::err, "", "", 0, "", "Unknown Protocol Operation"},
  };
  EXPECT_EQ(parse_all_ways(kStream), expect);
}

TEST(NatsParser, OtherOpsCaseAndSpacing) {
  const std::string s =
      "PING\r\nping\r\n+OK\r\n+ok\r\nmsg  a.b\t9   3\r\nx\r\n\r\nHMsg a 18446744073709551615 r 12 12\r\n"
      "NATS/1.0\r\n\r\n\r\nPONG\n";
  const std::vector<Ev> expect = {
      {NatsKind::ping, "", "", 0, "", ""},
      {NatsKind::ping, "", "", 0, "", ""},
      {NatsKind::ok, "", "", 0, "", ""},
      {NatsKind::ok, "", "", 0, "", ""},
      {NatsKind::msg, "a.b", "", 9, "x\r\n", ""},
      {NatsKind::msg, "a", "r", 18446744073709551615ull, "", ""},
      {NatsKind::pong, "", "", 0, "", ""},
  };
  EXPECT_EQ(parse_all_ways(s), expect);
}

TEST(NatsParser, PayloadBytesAreOpaque) {
  const std::string payload("PING\r\nMSG x 1 1\r\n\0\xff", 19);
  const std::string s = "MSG t 5 19\r\n" + payload + "\r\nPING\r\n";
  const std::vector<Ev> got = parse_all_ways(s);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].payload, payload);
  EXPECT_EQ(got[1].kind, NatsKind::ping);
}

int first_error(std::string_view bytes, std::size_t max_payload = 1024) {
  NatsParser p(max_payload);
  std::vector<Ev> out;
  if (!p.feed(bytes.data(), bytes.size())) return -2;
  return drain(p, out);
}

TEST(NatsParser, RefusesMalformedInput) {
  const char* bad[] = {
      "FOO\r\n",
      "\r\n",
      " PING\r\n",
      "PINGPONG\r\n",
      "MSG\r\n",
      "MSG a\r\n",
      "MSG a 1\r\n",
      "MSG a 1 b c 3\r\n",
      "MSG a x 3\r\nabc\r\n",            // sid not a number
      "MSG a 1 -3\r\n",                  // negative size
      "MSG a 1 +3\r\nabc\r\n",
      "MSG a 1 3x\r\nabc\r\n",
      "MSG a 1 99999999999999999999999\r\n",  // overflows
      "MSG a 1 1025\r\n",                // over max_payload
      "MSG a 1 3\r\nabcd\r\n",           // payload not followed by CRLF
      "MSG a 1 3\r\nabc\n\n",
      "HMSG a 1 5\r\nabcde\r\n",          // missing total
      "HMSG a 1 6 5\r\nabcde\r\n",        // headers longer than the total
      "HMSG a 1 r s 2 5\r\nabcde\r\n",
      "HMSG a 1 0 1025\r\n",
      "MSG a\rb 1 0\r\n\r\n",          // CR inside the control line
      "PING\r\r\n",
  };
  for (const char* s : bad) EXPECT_EQ(first_error(s), -1) << s;
}

TEST(NatsParser, ErrorsAreStickyUntilReset) {
  NatsParser p;
  ASSERT_TRUE(p.feed("BAD\r\nPING\r\n", 11));
  NatsEvent ev;
  EXPECT_EQ(p.next(ev), -1);
  EXPECT_EQ(p.next(ev), -1);
  EXPECT_FALSE(p.feed("PING\r\n", 6));
  p.reset();
  ASSERT_TRUE(p.feed("PING\r\n", 6));
  ASSERT_EQ(p.next(ev), 1);
  EXPECT_EQ(ev.kind, NatsKind::ping);
  EXPECT_EQ(p.next(ev), 0);
}

TEST(NatsParser, ControlLineLimits) {
  // 4096 bytes of control line are accepted, one more is refused (with or without its CRLF yet).
  const std::string subject(4096 - std::string_view("MSG  1 0").size(), 's');
  const std::string at_limit = "MSG " + subject + " 1 0";
  ASSERT_EQ(at_limit.size(), NatsParser::kMaxControlLine);
  EXPECT_EQ(first_error(at_limit + "\r\n\r\n"), 0);
  const std::string over = "MSG " + subject + "s 1 0";
  EXPECT_EQ(first_error(over + "\r\n\r\n"), -1);
  EXPECT_EQ(first_error(over + "\r"), -1);                 // no LF yet, but already too long
  EXPECT_EQ(first_error(std::string(4097, 'M')), 0);       // 4097 bytes could still be 4096 + CR
  EXPECT_EQ(first_error(std::string(4098, 'M')), -1);
  // INFO has its own, larger limit.
  const std::string info = "INFO {\"x\":\"" + std::string(20000, 'x') + "\"}\r\n";
  EXPECT_EQ(first_error(info), 0);
  EXPECT_EQ(first_error("INFO " + std::string(NatsParser::kMaxInfoLine, 'x') + "\r\n"), -1);
}

TEST(NatsParser, WaitsForThePayloadAndKeepsViewsUntilTheNextCall) {
  NatsParser p(1 << 20);
  const std::string big(100000, 'p');
  const std::string head = "MSG big 3 100000\r\n";
  ASSERT_TRUE(p.feed(head.data(), head.size()));
  NatsEvent ev;
  EXPECT_EQ(p.next(ev), 0);
  ASSERT_TRUE(p.feed(big.data(), 60000));
  EXPECT_EQ(p.next(ev), 0);
  const std::string tail = big.substr(60000) + "\r\nMSG small 4 2\r\nhi\r\n";
  ASSERT_TRUE(p.feed(tail.data(), tail.size()));
  ASSERT_EQ(p.next(ev), 1);
  EXPECT_EQ(ev.sid, 3u);
  EXPECT_EQ(ev.payload, big);
  NatsEvent ev2;
  ASSERT_EQ(p.next(ev2), 1);
  EXPECT_EQ(ev.payload, big);  // the first event's views still hold
  EXPECT_EQ(ev2.subject, "small");
  EXPECT_EQ(ev2.payload, "hi");
  EXPECT_EQ(p.next(ev2), 0);
}

TEST(NatsParser, PayloadAtTheLimit) {
  const std::string ok = "MSG a 1 1024\r\n" + std::string(1024, 'z') + "\r\n";
  EXPECT_EQ(first_error(ok, 1024), 0);
  EXPECT_EQ(first_error(ok, 1023), -1);
}

// ---------------------------------------------------------------------------------------------

TEST(NatsBuilders, ExactBytes) {
  std::string out;
  nats_connect(out, "gw \"1\"\n");
  EXPECT_EQ(out,
            "CONNECT {\"verbose\":false,\"pedantic\":false,\"echo\":true,\"headers\":true,\"no_responders\":false,"
            "\"lang\":\"c++\",\"version\":\"0.7\",\"protocol\":1,\"name\":\"gw \\\"1\\\"\\u000a\"}\r\n");
  out.clear();
  nats_sub(out, "chat.room", 17);
  nats_unsub(out, 17);
  nats_pub(out, "chat.room", "GW1 x\n", "{\"a\":1}");
  nats_pub(out, "e", "", "");
  nats_ping(out);
  nats_pong(out);
  EXPECT_EQ(out,
            "SUB chat.room 17\r\nUNSUB 17\r\nPUB chat.room 13\r\nGW1 x\n{\"a\":1}\r\nPUB e 0\r\n\r\n"
            "PING\r\nPONG\r\n");
}

TEST(NatsBuilders, APubParsesBackAsAMsg) {
  // PUB and MSG share their framing: rewrite the verb and the parser must find the same payload.
  std::string out;
  nats_pub(out, "t", "head\r\n", std::string_view("x\0y", 3));
  ASSERT_EQ(out.rfind("PUB t ", 0), 0u);
  out = "MSG t 1 " + out.substr(6);
  NatsParser p;
  ASSERT_TRUE(p.feed(out.data(), out.size()));
  NatsEvent ev;
  ASSERT_EQ(p.next(ev), 1);
  EXPECT_EQ(ev.payload, std::string_view("head\r\nx\0y", 9));
}

TEST(NatsMaxPayload, FromInfo) {
  EXPECT_EQ(nats_max_payload(kInfo), 1048576u);
  EXPECT_EQ(nats_max_payload("{\"max_payload\" : 64}"), 64u);
  EXPECT_EQ(nats_max_payload("{\"port\":1}"), 0u);
  EXPECT_EQ(nats_max_payload("{\"max_payload\":\"x\"}"), 0u);
  EXPECT_EQ(nats_max_payload("{\"max_payload\":-1}"), 0u);
  EXPECT_EQ(nats_max_payload("{\"max_payload\":99999999999999999999999}"), 0u);
  EXPECT_EQ(nats_max_payload("{\"max_payload\""), 0u);
  EXPECT_EQ(nats_max_payload(""), 0u);
}

}  // namespace
}  // namespace ringgate::pubsub
