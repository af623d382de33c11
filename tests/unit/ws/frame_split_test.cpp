// Split invariance: any way of cutting the input into feed() calls must give the same events and
// the same outcome as one feed of the whole stream (headers, masks, UTF-8 sequences and control
// payloads all get cut somewhere).
#include <gtest/gtest.h>

#include <random>

#include "ws_test_util.hpp"

namespace ringgate::ws::test {
namespace {

struct Stream {
  const char* name;
  Bytes wire;
  Role role = Role::server;
  std::uint16_t code = 0;  // expected outcome
};

std::vector<Stream> streams() {
  Bytes kosme = bytes("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5 \xF0\x9F\x98\x80!");
  Bytes f1 = frame(0x1, Bytes(kosme.begin(), kosme.begin() + 5), false);
  Bytes f2 = frame(0x0, Bytes(kosme.begin() + 5, kosme.begin() + 13), false);
  Bytes f3 = frame(0x0, Bytes(kosme.begin() + 13, kosme.end()), true);
  Bytes binary300(300);
  for (std::size_t i = 0; i < binary300.size(); ++i) binary300[i] = static_cast<std::uint8_t>(i * 31 + 7);
  Bytes ping125(125, 'p');
  ping125[0] = 0;
  ping125[124] = 0xFF;
  return {
      {"text_hello", frame(0x1, bytes("Hello"))},
      {"fragmented_utf8_with_controls",
       cat({f1, frame(0x9, bytes("ping!")), f2, frame(0xA, {}), f3, frame(0x8, {0x03, 0xE8, 'o', 'k'})})},
      {"binary_126_and_empty", cat({frame(0x2, binary300), frame(0x2, {}), frame(0x1, {}), frame(0x9, {})})},
      {"control_125_split", cat({frame(0x9, ping125), frame(0xA, ping125), frame(0x2, bytes("x"))})},
      {"client_role_unmasked",
       cat({frame(0x1, bytes("abc"), false, false), frame(0x0, kosme, true, false), frame(0x8, {}, true, false)}),
       Role::client},
      {"close_with_utf8_reason", frame(0x8, cat({Bytes{0x0F, 0xA0}, kosme}))},
      {"error_utf8_in_third_fragment", cat({f1, f2, frame(0x0, {'a', 0xED, 0xBF, 0xBF})}), Role::server, 1007},
      {"error_after_messages", cat({frame(0x1, bytes("fine")), frame(0x2, binary300), frame(0x5, {})}), Role::server,
       1002},
  };
}

void expect_same(const Outcome& got, const Outcome& want, const std::string& what) {
  EXPECT_EQ(got.events, want.events) << what;
  EXPECT_EQ(got.close_code, want.close_code) << what;
  EXPECT_EQ(got.closed, want.closed) << what;
  EXPECT_FALSE(got.op_mismatch) << what;
  if (want.close_code == 0) {
    EXPECT_EQ(got.consumed, want.consumed) << what;
  }
}

TEST(WsFrameSplit, OneCutAtEveryPosition) {
  for (const Stream& s : streams()) {
    const Outcome once = run_once(s.wire, s.role);
    ASSERT_EQ(once.close_code, s.code) << s.name;
    ASSERT_TRUE(!once.events.empty() || once.close_code != 0) << s.name;
    for (std::size_t cut = 0; cut <= s.wire.size(); ++cut) {
      expect_same(run(s.wire, {cut}, s.role), once, std::string(s.name) + " cut " + std::to_string(cut));
    }
  }
}

TEST(WsFrameSplit, ByteAtATime) {
  for (const Stream& s : streams()) {
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < s.wire.size(); ++i) cuts.push_back(i);
    expect_same(run(s.wire, cuts, s.role), run_once(s.wire, s.role), s.name);
  }
}

TEST(WsFrameSplit, TwoCutsAtEveryPair) {
  const Stream s = streams()[1];  // fragmented UTF-8 with interleaved control frames
  const Outcome once = run_once(s.wire, s.role);
  for (std::size_t a = 0; a <= s.wire.size(); ++a) {
    for (std::size_t b = a; b <= s.wire.size(); ++b) {
      expect_same(run(s.wire, {a, b}, s.role), once, "cuts " + std::to_string(a) + "," + std::to_string(b));
    }
  }
}

TEST(WsFrameSplit, RandomCutsOfAllStreams) {
  std::mt19937 rng(12345);
  const std::vector<Stream> ss = streams();
  const Bytes all = cat({ss[0].wire, ss[2].wire, ss[3].wire, ss[1].wire});  // the last one ends with a close
  const Outcome once = run_once(all);
  EXPECT_EQ(once.close_code, 0);
  EXPECT_EQ(once.events.size(), 12u);
  for (int iter = 0; iter < 300; ++iter) {
    std::vector<std::size_t> cuts;
    for (std::size_t pos = 0;;) {
      pos += 1 + rng() % 40;
      if (pos >= all.size()) break;
      cuts.push_back(pos);
    }
    expect_same(run(all, cuts), once, "iteration " + std::to_string(iter));
  }
}

}  // namespace
}  // namespace ringgate::ws::test
