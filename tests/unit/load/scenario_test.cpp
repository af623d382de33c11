// EchoScenario against a fake Outbox: in-flight window, payload verification across split chunks,
// mismatches as errors (never aborts), phases (no sends outside warm-up/measure; latency only in
// measure). Also the handshake check and the loopback-only URL rule.
#include "scenario.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "options.hpp"
#include "ringgate/ws/accept.hpp"
#include "worker.hpp"

namespace ringgate::load {
namespace {

struct FakeOutbox : Outbox {
  struct Frame {
    std::uint32_t conn;
    ws::Opcode op;
    std::vector<std::uint8_t> payload;
  };
  std::vector<Frame> frames;
  bool refuse = false;
  std::uint8_t* begin(std::uint32_t conn, ws::Opcode op, std::size_t size) noexcept override {
    if (refuse) return nullptr;
    frames.push_back({conn, op, std::vector<std::uint8_t>(size)});
    return frames.back().payload.data();
  }
  void commit(std::uint32_t) noexcept override {}
};

TEST(Pattern, FillAndCheckAgreeAndDetectChanges) {
  std::vector<std::uint8_t> p(100);
  fill_pattern(p.data(), p.size(), 42, 0);
  EXPECT_TRUE(check_pattern(p.data(), p.size(), 42, 0));
  EXPECT_FALSE(check_pattern(p.data(), p.size(), 43, 0));  // another message's payload
  EXPECT_TRUE(check_pattern(p.data() + 10, 90, 42, 10));   // a later chunk of the same payload
  p[57] ^= 1;
  EXPECT_FALSE(check_pattern(p.data(), p.size(), 42, 0));
  for (std::uint8_t b : p) EXPECT_TRUE(b >= 'a' - 1 && b <= 'z' + 1);  // ASCII: valid text frames
}

class Echo : public ::testing::Test {
 protected:
  EchoScenario s{64, 3, false};
  FakeOutbox out;
  void SetUp() override { s.attach(4); }
  void echo(std::size_t i, std::size_t split = 0) {
    auto& f = out.frames[i];
    std::span<const std::uint8_t> all(f.payload);
    if (split) {
      s.on_data(f.conn, f.op, all.first(split), false, out);
      s.on_data(f.conn, f.op, all.subspan(split), true, out);
    } else {
      s.on_data(f.conn, f.op, all, true, out);
    }
  }
};

TEST_F(Echo, NoTrafficBeforeWarmup) {
  s.begin_turn(Phase::connecting, 0);
  s.on_open(1, out);
  EXPECT_TRUE(out.frames.empty());
  EXPECT_TRUE(s.idle(1));
}

TEST_F(Echo, KeepsInflightWindowAndRecordsLatencyInMeasureOnly) {
  s.begin_turn(Phase::warmup, 1000);
  s.on_open(2, out);
  ASSERT_EQ(out.frames.size(), 3u);
  EXPECT_EQ(out.frames[0].op, ws::Opcode::text);
  EXPECT_FALSE(s.idle(2));
  EXPECT_EQ(s.stats().inflight, 3u);
  s.begin_turn(Phase::warmup, 2000);
  echo(0);  // reply in warm-up: counted, not measured, and replaced by a new message
  EXPECT_EQ(s.stats().messages, 1u);
  EXPECT_EQ(s.stats().measured, 0u);
  EXPECT_EQ(out.frames.size(), 4u);
  s.begin_turn(Phase::measure, 6000);
  echo(1, 10);  // split across two chunks
  EXPECT_EQ(s.stats().measured, 1u);
  EXPECT_EQ(s.stats().latency_ns.total(), 1u);
  EXPECT_EQ(s.stats().latency_ns.max(), 5000u);  // sent at 1000, back at 6000
  EXPECT_EQ(s.stats().mismatches, 0u);
  s.begin_turn(Phase::drain, 7000);
  echo(2);
  echo(3);
  echo(4);
  EXPECT_EQ(out.frames.size(), 5u);  // no new sends while draining
  EXPECT_TRUE(s.idle(2));
  EXPECT_EQ(s.stats().inflight, 0u);
  EXPECT_EQ(s.stats().mismatches, 0u);
}

TEST_F(Echo, WrongPayloadOpcodeLengthAndOrderAreMismatches) {
  s.begin_turn(Phase::measure, 0);
  s.on_open(0, out);
  ASSERT_EQ(out.frames.size(), 3u);
  out.frames[0].payload[5] ^= 0x20;
  echo(0);
  EXPECT_EQ(s.stats().mismatches, 1u);
  out.frames[1].op = ws::Opcode::binary;
  echo(1);
  EXPECT_EQ(s.stats().mismatches, 2u);
  out.frames[2].payload.pop_back();  // short reply
  echo(2);
  EXPECT_EQ(s.stats().mismatches, 3u);
  echo(4);  // out of order: seq 4 arrives where seq 3 is due
  EXPECT_EQ(s.stats().mismatches, 4u);
  std::vector<std::uint8_t> longer(65, 'a');
  s.on_data(0, ws::Opcode::text, longer, true, out);  // too long
  EXPECT_EQ(s.stats().mismatches, 5u);
}

TEST_F(Echo, UnsolicitedReplyIsAMismatch) {
  s.begin_turn(Phase::measure, 0);
  std::vector<std::uint8_t> p(64);
  fill_pattern(p.data(), 64, 0, 0);
  s.on_data(3, ws::Opcode::text, p, true, out);
  EXPECT_EQ(s.stats().mismatches, 1u);
  EXPECT_EQ(s.stats().messages, 0u);
}

TEST_F(Echo, RefusedSendLeavesNothingOutstanding) {
  s.begin_turn(Phase::measure, 0);
  out.refuse = true;  // connection closing
  s.on_open(1, out);
  EXPECT_TRUE(s.idle(1));
  EXPECT_EQ(s.stats().inflight, 0u);
}

TEST(Hold, AlwaysIdleAndCountsMessages) {
  HoldScenario h;
  FakeOutbox out;
  h.attach(10);
  h.on_open(0, out);
  EXPECT_TRUE(out.frames.empty());
  EXPECT_TRUE(h.idle(0));
  h.on_data(0, ws::Opcode::text, {}, true, out);
  EXPECT_EQ(h.stats().messages, 1u);
}

TEST(Handshake, AcceptsValid101AndRejectsTheRest) {
  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  auto acc = ws::accept_key(key);
  std::string good = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "sec-websocket-accept:  " + std::string(acc.data(), 28) + "\r\n";
  EXPECT_EQ(check_handshake(good, key), -1);
  EXPECT_EQ(check_handshake("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n", key), int(Cause::handshake_status));
  std::string wrong = "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
  EXPECT_EQ(check_handshake(wrong, "AAAAAAAAAAAAAAAAAAAAAA=="), int(Cause::handshake_accept));
  EXPECT_EQ(check_handshake("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n", key),
            int(Cause::handshake_accept));
  EXPECT_EQ(check_handshake("SSH-2.0-OpenSSH\r\n", key), int(Cause::handshake_malformed));
  EXPECT_EQ(check_handshake("", key), int(Cause::handshake_malformed));
}

TEST(Options, LoopbackOnlyTargets) {
  Options o;
  EXPECT_EQ(parse_url("ws://127.0.0.1:8080/echo", o), "");
  EXPECT_EQ(o.path, "/echo");
  EXPECT_EQ(o.target.port(), 8080);
  EXPECT_EQ(parse_url("ws://127.9.8.7:1/", o), "");
  EXPECT_EQ(parse_url("ws://[::1]:9000", o), "");
  EXPECT_EQ(o.path, "/");
  EXPECT_NE(parse_url("ws://10.0.0.1:8080/echo", o).find("not a loopback"), std::string::npos);
  EXPECT_NE(parse_url("ws://8.8.8.8:80/", o).find("not a loopback"), std::string::npos);
  EXPECT_NE(parse_url("http://127.0.0.1:8080/", o), "");
  EXPECT_NE(parse_url("wss://10.0.0.1:8080/", o).find("not a loopback"), std::string::npos);
  EXPECT_NE(parse_url("ws://127.0.0.1:0/", o), "");
}

TEST(Options, FlagsAndErrors) {
  const char* argv[] = {"ringgate-load", "echo", "--url", "ws://127.0.0.1:1/echo", "--connections", "50",
                        "--size", "1024", "--inflight", "4", "--duration", "2", "--binary"};
  Options o;
  EXPECT_EQ(parse_options(13, const_cast<char**>(argv), o), "");
  EXPECT_EQ(o.connections, 50u);
  EXPECT_EQ(o.size, 1024u);
  EXPECT_EQ(o.inflight, 4u);
  EXPECT_TRUE(o.binary);
  const char* bad[] = {"ringgate-load", "echo", "--url", "ws://127.0.0.1:1/", "--connections", "x"};
  Options o2;
  EXPECT_NE(parse_options(6, const_cast<char**>(bad), o2), "");
  const char* mode[] = {"ringgate-load", "flood", "--url", "ws://127.0.0.1:1/"};
  Options o3;
  EXPECT_NE(parse_options(4, const_cast<char**>(mode), o3).find("unknown subcommand"), std::string::npos);
  const char* nourl[] = {"ringgate-load", "hold", "--connections", "5"};
  Options o4;
  EXPECT_NE(parse_options(4, const_cast<char**>(nourl), o4).find("--url"), std::string::npos);
}

}  // namespace
}  // namespace ringgate::load
