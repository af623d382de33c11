// SharedFrame: the bytes are one valid unmasked, final WebSocket text frame whose payload is exactly
// {"op":"msg","topic":T,"seq":S,"data":D}, for payload sizes on both sides of the 7-bit/16-bit and
// 16-bit/64-bit length boundaries; data_json() and topic() view the right bytes; the reference
// count frees the frame exactly once, at zero (run under ASan: a leak or a double free fails).
#include "ringgate/pubsub/frame.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <atomic>
#include <memory>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "ringgate/pubsub/codec.hpp"

namespace ringgate::pubsub {
namespace {

struct Header {
  bool fin = false;
  unsigned opcode = 0;
  bool masked = false;
  std::uint64_t payload = 0;
  std::size_t size = 0;  // header bytes
  bool minimal = false;  // the shortest length form was used (RFC 6455 5.2)
};

Header parse_header(const std::uint8_t* b) {
  Header h;
  h.fin = (b[0] & 0x80) != 0;
  h.opcode = b[0] & 0x0f;
  EXPECT_EQ(b[0] & 0x70, 0) << "RSV bits must be clear";
  h.masked = (b[1] & 0x80) != 0;
  const unsigned len7 = b[1] & 0x7f;
  if (len7 < 126) {
    h.payload = len7;
    h.size = 2;
    h.minimal = true;
  } else if (len7 == 126) {
    h.payload = (std::uint64_t(b[2]) << 8) | b[3];
    h.size = 4;
    h.minimal = h.payload >= 126;
  } else {
    for (int i = 0; i < 8; ++i) h.payload = (h.payload << 8) | b[2 + i];
    h.size = 10;
    h.minimal = h.payload > 0xffff && (h.payload >> 63) == 0;
  }
  return h;
}

std::string expected_json(std::string_view topic, std::uint64_t seq, std::string_view data) {
  std::string s = R"({"op":"msg","topic":")";
  s.append(topic).append(R"(","seq":)").append(std::to_string(seq)).append(R"(,"data":)").append(data);
  s.push_back('}');
  return s;
}

// A JSON string value of exactly n bytes (n >= 2), quotes included.
std::string json_string_of(std::size_t n) {
  std::string s(n, 'x');
  s.front() = s.back() = '"';
  return s;
}

struct FrameDeleter {
  void operator()(SharedFrame* f) const { f->release(); }
};
using FramePtr = std::unique_ptr<SharedFrame, FrameDeleter>;

void check_frame(const SharedFrame& f, std::string_view topic, std::uint64_t seq, std::string_view data) {
  const std::string want = expected_json(topic, seq, data);
  const Header h = parse_header(f.bytes);
  EXPECT_TRUE(h.fin);
  EXPECT_EQ(h.opcode, 0x1u) << "text frame";
  EXPECT_FALSE(h.masked) << "server frames are never masked";
  EXPECT_TRUE(h.minimal) << "payload " << h.payload << " in a " << h.size << "-byte header";
  EXPECT_EQ(h.payload, want.size());
  EXPECT_EQ(f.len, h.size + want.size()) << "len covers header + payload, nothing more";
  const std::string_view payload(reinterpret_cast<const char*>(f.bytes) + h.size, f.len - h.size);
  EXPECT_TRUE(payload == want) << "payload differs (size " << payload.size() << " vs " << want.size() << ")";
  EXPECT_EQ(static_cast<const void*>(f.data_json().data()), static_cast<const void*>(payload.data())) << "data_json() starts right after the header";
  EXPECT_EQ(f.data_json().size(), payload.size());
  EXPECT_EQ(f.topic(), topic);
  EXPECT_EQ(f.seq, seq);
}

TEST(SharedFrame, SmallMessageExactBytes) {
  FramePtr f(SharedFrame::make("news", 42, 17, R"({"a":[1,2,3]})", 123456789, 1));
  ASSERT_NE(f, nullptr);
  check_frame(*f, "news", 17, R"({"a":[1,2,3]})");
  EXPECT_EQ(f->topic_id, 42u);
  EXPECT_EQ(f->published_ns, 123456789u);
  EXPECT_EQ(f->refs.load(), 1u);
  const std::string want = std::string("\x81", 1) + char(57) +
                           R"({"op":"msg","topic":"news","seq":17,"data":{"a":[1,2,3]}})";
  ASSERT_EQ(want.size(), 2u + 57);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(f->bytes), f->len), want);
}

TEST(SharedFrame, PayloadsAroundEveryHeaderBoundary) {
  const std::string topic = "a.b:c/d@e=f+g-h_i";
  const std::uint64_t seq = 9007199254740991ull;  // 2^53-1: the widest seq a client sees
  const std::size_t fixed = msg_bytes(topic, seq, 0);
  ASSERT_EQ(fixed, expected_json(topic, seq, "").size()) << "msg_bytes() agrees with the wire format";
  for (std::size_t target : {std::size_t(124), std::size_t(125), std::size_t(126), std::size_t(127),
                             std::size_t(65534), std::size_t(65535), std::size_t(65536), std::size_t(65537),
                             std::size_t(200000)}) {
    SCOPED_TRACE("payload " + std::to_string(target));
    ASSERT_GT(target, fixed + 2);
    const std::string data = json_string_of(target - fixed);
    FramePtr f(SharedFrame::make(topic, 7, seq, data, 0, 1));
    ASSERT_NE(f, nullptr);
    check_frame(*f, topic, seq, data);
    const std::size_t want_header = target < 126 ? 2 : (target <= 0xffff ? 4 : 10);
    EXPECT_EQ(f->len, want_header + target);
  }
}

TEST(SharedFrame, EveryPayloadSizeNearTheSmallBoundary) {
  // Every size from tiny to past 300: data_json() re-derives the header size from len alone.
  const std::size_t fixed = msg_bytes("t", 1, 0);
  for (std::size_t target = fixed + 1; target < 300; ++target) {
    SCOPED_TRACE("payload " + std::to_string(target));
    const std::string data = target - fixed == 1 ? "1" : json_string_of(target - fixed);
    FramePtr f(SharedFrame::make("t", 1, 1, data, 0, 1));
    ASSERT_NE(f, nullptr);
    check_frame(*f, "t", 1, data);
  }
}

TEST(SharedFrame, PayloadParsesAsTheMessageObject) {
  const std::string data = R"({"k":"v\"q","n":[true,null,-1.5e3],"u":"\u00e9"})";
  FramePtr f(SharedFrame::make("room.42", 3, 1000, data, 0, 1));
  ASSERT_NE(f, nullptr);
  simdjson::dom::parser parser;
  simdjson::padded_string json(f->data_json());
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS);
  EXPECT_EQ(std::string_view(doc["op"].get_string().value()), "msg");
  EXPECT_EQ(std::string_view(doc["topic"].get_string().value()), "room.42");
  EXPECT_EQ(std::uint64_t(doc["seq"].get_uint64().value()), 1000u);
  EXPECT_EQ(std::string_view(doc["data"]["k"].get_string().value()), "v\"q");
  // The data is passed on verbatim, not re-serialized.
  EXPECT_NE(f->data_json().find(data), std::string_view::npos);
}

TEST(SharedFrame, MaxLengthTopicIsKeptAfterTheFrame) {
  const std::string topic(kMaxTopicBytes, 'z');
  FramePtr f(SharedFrame::make(topic, 1, 5, "null", 0, 1));
  ASSERT_NE(f, nullptr);
  check_frame(*f, topic, 5, "null");
  EXPECT_EQ(f->topic_len, kMaxTopicBytes);
}

TEST(SharedFrame, ReleaseFreesOnlyAtZero) {
  // Under ASan a premature free shows up as a use-after-free on the next access, a missing free
  // as a leak at exit, a second free as a double free.
  SharedFrame* f = SharedFrame::make("x", 1, 1, "1", 0, 3);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->refs.load(), 3u);
  f->release();
  EXPECT_EQ(f->refs.load(), 2u);
  f->retain(2);
  EXPECT_EQ(f->refs.load(), 4u);
  f->release(3);
  EXPECT_EQ(f->refs.load(), 1u);
  EXPECT_EQ(f->topic(), "x") << "still alive with one reference";
  f->release();  // frees; ASan's leak check at exit proves it did
}

TEST(SharedFrame, ReleaseManyAtOnce) {
  SharedFrame* f = SharedFrame::make("x", 1, 1, "1", 0, 8);
  ASSERT_NE(f, nullptr);
  f->release(8);  // one call drops every reference: freed now, exactly once
}

TEST(SharedFrame, ConcurrentReleasesFreeExactlyOnce) {
  constexpr int kThreads = 4, kPerThread = 10000;
  for (int round = 0; round < 20; ++round) {
    SharedFrame* f = SharedFrame::make("fan.out", 1, std::uint64_t(round) + 1, R"("d")", 0, kThreads * kPerThread);
    ASSERT_NE(f, nullptr);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([f] {
        for (int i = 0; i < kPerThread; ++i) {
          f->retain();
          f->release();
          f->release();  // this thread's share
        }
      });
    }
    for (auto& t : threads) t.join();
    // f is gone now: the last release freed it (a leak or double free fails under ASan).
  }
}

}  // namespace
}  // namespace ringgate::pubsub
