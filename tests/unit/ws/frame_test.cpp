// Parser and writer: the RFC 6455 §5.7 examples byte for byte, every protocol error class with its
// close code, and the behaviour around fragmentation, control frames and the closed state.
#include "ringgate/ws/frame.hpp"

#include <gtest/gtest.h>

#include "ws_test_util.hpp"

namespace ringgate::ws::test {
namespace {

using E = Event;

TEST(WsFrame, ParserStateIsSmall) { EXPECT_LE(sizeof(Parser), 48u); }

// ---- RFC 6455 §5.7 examples ----

TEST(WsFrameRfc, SingleFrameUnmaskedText) {
  const Bytes wire = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
  Outcome o = run_once(wire, Role::client);
  EXPECT_EQ(o.close_code, 0);
  EXPECT_EQ(o.consumed, wire.size());
  EXPECT_EQ(o.events, (std::vector<E>{{E::message, Opcode::text, bytes("Hello")}}));

  std::uint8_t h[14];
  ASSERT_EQ(write_header(h, Opcode::text, true, 5), 2u);
  EXPECT_EQ(Bytes(h, h + 2), Bytes(wire.begin(), wire.begin() + 2));
}

TEST(WsFrameRfc, SingleFrameMaskedText) {
  const Bytes wire = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  Outcome o = run_once(wire, Role::server);
  EXPECT_EQ(o.close_code, 0);
  EXPECT_EQ(o.events, (std::vector<E>{{E::message, Opcode::text, bytes("Hello")}}));

  EXPECT_EQ(frame(0x1, bytes("Hello")), wire);  // writer + client-side masking give the same bytes
  Bytes payload = bytes("Hello");
  EXPECT_EQ(unmask(payload.data(), payload.size(), kKey), 1u);
  EXPECT_EQ(payload, Bytes(wire.begin() + 6, wire.end()));
}

TEST(WsFrameRfc, FragmentedUnmaskedText) {
  const Bytes wire = {0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f};
  Outcome o = run_once(wire, Role::client);
  EXPECT_EQ(o.close_code, 0);
  EXPECT_EQ(o.chunks, 2u);
  EXPECT_FALSE(o.op_mismatch);
  EXPECT_EQ(o.events, (std::vector<E>{{E::message, Opcode::text, bytes("Hello")}}));

  std::uint8_t h[14];
  write_header(h, Opcode::text, false, 3);
  EXPECT_EQ(h[0], 0x01);
  EXPECT_EQ(h[1], 0x03);
  write_header(h, Opcode::continuation, true, 2);
  EXPECT_EQ(h[0], 0x80);
  EXPECT_EQ(h[1], 0x02);
}

TEST(WsFrameRfc, PingAndMaskedPong) {
  const Bytes ping = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
  EXPECT_EQ(run_once(ping, Role::client).events, (std::vector<E>{{E::ping, Opcode::ping, bytes("Hello")}}));
  const Bytes pong = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  EXPECT_EQ(run_once(pong, Role::server).events, (std::vector<E>{{E::pong, Opcode::pong, bytes("Hello")}}));
  EXPECT_EQ(frame(0xA, bytes("Hello")), pong);
}

TEST(WsFrameRfc, BinaryLengths256And65536) {
  for (std::size_t n : {std::size_t{256}, std::size_t{65536}}) {
    Bytes payload(n);
    for (std::size_t i = 0; i < n; ++i) payload[i] = static_cast<std::uint8_t>(i * 7);
    std::uint8_t h[14];
    const std::size_t hl = write_header(h, Opcode::binary, true, n);
    const Bytes expect_header = n == 256 ? Bytes{0x82, 0x7E, 0x01, 0x00}
                                         : Bytes{0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00};
    EXPECT_EQ(Bytes(h, h + hl), expect_header);
    Bytes wire = cat({expect_header, payload});
    Outcome o = run_once(wire, Role::client);
    EXPECT_EQ(o.close_code, 0);
    EXPECT_EQ(o.consumed, wire.size());
    EXPECT_EQ(o.events, (std::vector<E>{{E::message, Opcode::binary, payload}}));
  }
}

// ---- writer ----

TEST(WsWriter, HeaderLengthsAndMaskBit) {
  std::uint8_t h[14];
  EXPECT_EQ(write_header(h, Opcode::binary, true, 125), 2u);
  EXPECT_EQ(h[1], 125);
  EXPECT_EQ(write_header(h, Opcode::binary, true, 126), 4u);
  EXPECT_EQ(write_header(h, Opcode::binary, true, 65535), 4u);
  EXPECT_EQ(write_header(h, Opcode::binary, true, 65536), 10u);
  EXPECT_EQ(write_header(h, Opcode::binary, true, 65536, kKey), 14u);
  EXPECT_EQ(h[1], 0x80 | 127);
  EXPECT_EQ(Bytes(h + 10, h + 14), Bytes(kKey, kKey + 4));
  EXPECT_EQ(write_header(h, Opcode::close, true, 0, kKey), 6u);
  EXPECT_EQ(h[0], 0x88);
  EXPECT_EQ(h[1], 0x80);
}

TEST(WsWriter, ClosePayload) {
  std::uint8_t out[125];
  ASSERT_EQ(write_close_payload(out, 1000, "bye"), 5u);
  EXPECT_EQ(Bytes(out, out + 5), (Bytes{0x03, 0xE8, 'b', 'y', 'e'}));

  std::string long_ascii(200, 'a');
  EXPECT_EQ(write_close_payload(out, 1001, long_ascii), 125u);

  // 122 ASCII bytes then "é" (C3 A9) straddles the 123-byte limit: the whole character goes.
  std::string straddle = std::string(122, 'x') + "\xC3\xA9" + "tail";
  EXPECT_EQ(write_close_payload(out, 1001, straddle), 2u + 122u);
  // A 3-byte character ending exactly at byte 123 stays.
  std::string fits = std::string(120, 'x') + "\xE2\x82\xAC" + "tail";
  EXPECT_EQ(write_close_payload(out, 1001, fits), 125u);
  EXPECT_TRUE(validate_utf8_scalar(out + 2, 123));
}

TEST(WsWriter, CloseCodeValidity) {
  for (std::uint16_t c :
       {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999}) {
    EXPECT_TRUE(is_valid_close_code(c)) << c;
  }
  for (std::uint16_t c : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    EXPECT_FALSE(is_valid_close_code(c)) << c;
  }
}

// ---- normal traffic ----

TEST(WsFrame, ControlFramesInsideFragmentedMessage) {
  Bytes wire = cat({frame(0x1, bytes("fragment1 ")), frame(0x9, bytes("p1")), frame(0x0, bytes("fragment2 "), false),
                    frame(0xA, bytes("")), frame(0x0, bytes("end"), true), frame(0x2, bytes("bin"))});
  wire[0] &= 0x7F;  // first frame: FIN = 0
  Outcome o = run_once(wire);
  EXPECT_EQ(o.close_code, 0);
  EXPECT_EQ(o.events, (std::vector<E>{{E::ping, Opcode::ping, bytes("p1")},
                                      {E::pong, Opcode::pong, {}},
                                      {E::message, Opcode::text, bytes("fragment1 fragment2 end")},
                                      {E::message, Opcode::binary, bytes("bin")}}));
  EXPECT_FALSE(o.op_mismatch);
}

TEST(WsFrame, InMessageTracksFragmentation) {
  Parser p;
  RecordingSink s;
  Bytes f1 = frame(0x2, bytes("ab"), false);
  Bytes f2 = frame(0x0, bytes("cd"), true);
  EXPECT_FALSE(p.in_message());
  EXPECT_EQ(p.feed(f1.data(), f1.size(), s, {}).close_code, 0);
  EXPECT_TRUE(p.in_message());
  EXPECT_EQ(p.feed(f2.data(), f2.size() - 1, s, {}).close_code, 0);
  EXPECT_TRUE(p.in_message());
  EXPECT_EQ(p.feed(f2.data() + f2.size() - 1, 1, s, {}).close_code, 0);
  EXPECT_FALSE(p.in_message());
  EXPECT_EQ(s.events.size(), 1u);
}

TEST(WsFrame, EmptyMessages) {
  // Empty final frame: one empty chunk with message_end. Empty non-final frames: no chunk at all.
  Bytes first = frame(0x1, {}, false);
  Outcome o = run_once(cat({frame(0x1, {}), first, frame(0x0, {}, false), frame(0x0, {}, true), frame(0x2, {})}));
  EXPECT_EQ(o.close_code, 0);
  EXPECT_EQ(o.chunks, 3u);
  EXPECT_EQ(o.events, (std::vector<E>{{E::message, Opcode::text, {}},
                                      {E::message, Opcode::text, {}},
                                      {E::message, Opcode::binary, {}}}));
}

TEST(WsFrame, FrameSplitAcrossFeedsGivesSeveralChunksInPlace) {
  Bytes payload(1000);
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::uint8_t>(i);
  Bytes wire = frame(0x2, payload);
  struct Sink : RecordingSink {
    std::vector<const std::uint8_t*> ptrs;
    void on_data(Opcode op, std::span<std::uint8_t> c, bool end) {
      ptrs.push_back(c.data());
      RecordingSink::on_data(op, c, end);
    }
  } sink;
  Parser p;
  // Odd cut points: the mask phase must carry over between pieces.
  const std::size_t cuts[] = {0, 3, 9, 101, 102, 555, wire.size()};
  for (std::size_t i = 0; i + 1 < std::size(cuts); ++i) {
    FeedResult r = p.feed(wire.data() + cuts[i], cuts[i + 1] - cuts[i], sink, {});
    ASSERT_EQ(r.close_code, 0);
    EXPECT_EQ(r.consumed, cuts[i + 1] - cuts[i]);
  }
  ASSERT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(sink.events[0].payload, payload);
  EXPECT_EQ(sink.chunks, 5u);  // the 8-byte header ends inside the second piece
  EXPECT_EQ(sink.ptrs[0], wire.data() + 8);       // in place, right after the 8-byte header
  EXPECT_EQ(Bytes(wire.begin() + 8, wire.end()), payload);  // unmasked in the caller's buffer
}

TEST(WsFrame, CloseFrames) {
  Bytes reason_frame = frame(0x8, cat({Bytes{0x03, 0xE8}, bytes("done")}));
  Outcome o = run_once(cat({reason_frame, frame(0x1, bytes("after close"))}));
  EXPECT_EQ(o.close_code, 0);
  EXPECT_EQ(o.consumed, reason_frame.size());  // stops right after the close frame
  EXPECT_TRUE(o.closed);
  EXPECT_EQ(o.events, (std::vector<E>{{E::close, Opcode::close, bytes("done"), 1000}}));

  Outcome empty = run_once(frame(0x8, {}));
  EXPECT_EQ(empty.events, (std::vector<E>{{E::close, Opcode::close, {}, 1005}}));

  Outcome private_code = run_once(frame(0x8, {0x0F, 0xA0}));  // 4000
  EXPECT_EQ(private_code.events, (std::vector<E>{{E::close, Opcode::close, {}, 4000}}));

  // A valid UTF-8 reason, split inside a multi-byte character across feeds.
  Bytes utf8 = frame(0x8, cat({Bytes{0x03, 0xE9}, bytes("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5")}));
  Outcome split = run(utf8, {1, 7, 10, 15});
  EXPECT_EQ(split.close_code, 0);
  EXPECT_EQ(split.events,
            (std::vector<E>{{E::close, Opcode::close, bytes("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5"), 1001}}));
}

TEST(WsFrame, ClosedParserConsumesNothing) {
  Parser p;
  RecordingSink s;
  Bytes c = frame(0x8, {0x03, 0xE8});
  EXPECT_EQ(p.feed(c.data(), c.size(), s, {}).close_code, 0);
  EXPECT_TRUE(p.closed());
  Bytes more = frame(0x9, {});
  FeedResult r = p.feed(more.data(), more.size(), s, {});
  EXPECT_EQ(r.consumed, 0u);
  EXPECT_EQ(r.close_code, 0);
  EXPECT_EQ(s.events.size(), 1u);

  p.reset(Role::server);
  EXPECT_FALSE(p.closed());
  r = p.feed(more.data(), more.size(), s, {});
  EXPECT_EQ(r.consumed, more.size());
  EXPECT_EQ(s.events.size(), 2u);
}

TEST(WsFrame, MoveKeepsStateIncludingSplitControlFrame) {
  Parser a;
  RecordingSink s;
  Bytes ping = frame(0x9, bytes("split ping payload"));
  EXPECT_EQ(a.feed(ping.data(), 10, s, {}).close_code, 0);  // header + 4 payload bytes: gathered
  Parser b(std::move(a));
  Parser c(Role::client);
  c = std::move(b);
  EXPECT_EQ(c.feed(ping.data() + 10, ping.size() - 10, s, {}).close_code, 0);
  EXPECT_EQ(s.events, (std::vector<E>{{E::ping, Opcode::ping, bytes("split ping payload")}}));
}

TEST(WsFrame, ClientRoleAcceptsUnmaskedFrames) {
  Outcome o = run_once(cat({frame(0x1, bytes("hi"), true, false), frame(0x8, {}, true, false)}), Role::client);
  EXPECT_EQ(o.close_code, 0);
  EXPECT_EQ(o.events.size(), 2u);
}

// ---- errors: every class with its code ----

struct ErrorCase {
  const char* name;
  Bytes wire;
  std::uint16_t code;
  Role role = Role::server;
  Limits limits = {};
};

std::vector<ErrorCase> error_cases() {
  Bytes big64 = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
  Bytes frag_text = frame(0x1, bytes("abc"), false);
  Limits small{10};
  return {
      {"rsv1", frame(0x1, bytes("x"), true, true, 0x40), 1002},
      {"rsv2", frame(0x2, bytes("x"), true, true, 0x20), 1002},
      {"rsv3", frame(0x9, bytes("x"), true, true, 0x10), 1002},
      {"opcode3", frame(0x3, {}), 1002},
      {"opcode7", frame(0x7, bytes("x")), 1002},
      {"opcodeB", frame(0xB, {}), 1002},
      {"opcodeF", frame(0xF, bytes("x")), 1002},
      {"ping_fin0", frame(0x9, bytes("x"), false), 1002},
      {"close_fin0", frame(0x8, {}, false), 1002},
      {"ping_126", frame(0x9, Bytes(126, 'p')), 1002},
      {"pong_65536", frame(0xA, Bytes(65536, 'p')), 1002},
      {"continuation_alone", frame(0x0, bytes("x")), 1002},
      {"continuation_after_complete", cat({frame(0x1, bytes("done")), frame(0x0, bytes("x"))}), 1002},
      {"text_inside_fragmented", cat({frag_text, frame(0x1, bytes("x"))}), 1002},
      {"binary_inside_fragmented", cat({frag_text, frame(0x9, {}), frame(0x2, bytes("x"))}), 1002},
      {"unmasked_to_server", frame(0x1, bytes("x"), true, false), 1002},
      {"masked_to_client", frame(0x1, bytes("x"), true, true), 1002, Role::client},
      {"length_top_bit", big64, 1002},
      {"close_1_byte", frame(0x8, {0x03}), 1002},
      {"close_code_999", frame(0x8, {0x03, 0xE7}), 1002},
      {"close_code_1005", frame(0x8, {0x03, 0xED}), 1002},
      {"close_code_1006", frame(0x8, {0x03, 0xEE}), 1002},
      {"close_code_1015", frame(0x8, {0x03, 0xF7}), 1002},
      {"close_code_2999", frame(0x8, {0x0B, 0xB7}), 1002},
      {"close_code_5000", frame(0x8, {0x13, 0x88}), 1002},
      {"close_reason_bad_utf8", frame(0x8, {0x03, 0xE8, 'a', 0xED, 0xA0, 0x80}), 1007},
      {"close_reason_truncated_utf8", frame(0x8, {0x03, 0xE8, 'a', 0xE2, 0x82}), 1007},
      {"too_big_single", frame(0x2, Bytes(11, 'x')), 1009, Role::server, small},
      {"too_big_cumulative", cat({frame(0x2, Bytes(6, 'x'), false), frame(0x0, Bytes(5, 'x'))}), 1009, Role::server,
       small},
      {"text_bad_utf8", frame(0x1, {'a', 0xC0, 0xAF}), 1007},
      {"text_surrogate", frame(0x1, {0xED, 0xA0, 0x80}), 1007},
      {"text_above_10ffff", frame(0x1, {0xF4, 0x90, 0x80, 0x80}), 1007},
      {"text_truncated_at_end", frame(0x1, {'a', 0xE2, 0x82}), 1007},
      {"text_truncated_across_fragments", cat({frame(0x1, {'a', 0xE2}, false), frame(0x0, {0x82})}), 1007},
      {"text_bad_in_second_fragment", cat({frame(0x1, {'a', 0xE2}, false), frame(0x0, {0x41, 0x82, 0xAC})}), 1007},
  };
}

TEST(WsFrameErrors, EveryClassGivesItsCode) {
  for (const ErrorCase& c : error_cases()) {
    Outcome o = run_once(c.wire, c.role, c.limits);
    EXPECT_EQ(o.close_code, c.code) << c.name << " reason: " << o.reason;
    EXPECT_TRUE(o.closed) << c.name;
    EXPECT_FALSE(o.reason.empty()) << c.name;
    EXPECT_LE(o.reason.size(), 123u) << c.name;
    for (const Event& e : o.events) EXPECT_NE(e.kind, Event::close) << c.name;
  }
}

TEST(WsFrameErrors, EveryClassGivesItsCodeAtEverySplit) {
  for (const ErrorCase& c : error_cases()) {
    const Outcome once = run_once(c.wire, c.role, c.limits);
    for (std::size_t cut = 1; cut < c.wire.size(); ++cut) {
      Outcome o = run(c.wire, {cut}, c.role, c.limits);
      EXPECT_EQ(o.close_code, c.code) << c.name << " cut " << cut;
      EXPECT_EQ(o.events, once.events) << c.name << " cut " << cut;
    }
  }
}

TEST(WsFrameErrors, ErrorClosesParser) {
  Parser p;
  RecordingSink s;
  Bytes bad = frame(0x3, {});
  FeedResult r = p.feed(bad.data(), bad.size(), s, {});
  EXPECT_EQ(r.close_code, 1002);
  EXPECT_STREQ(r.reason, "reserved opcode");
  Bytes good = frame(0x1, bytes("x"));
  r = p.feed(good.data(), good.size(), s, {});
  EXPECT_EQ(r.consumed, 0u);
  EXPECT_EQ(r.close_code, 0);
  EXPECT_TRUE(s.events.empty());
}

TEST(WsFrameErrors, FailsFastOnHeaderBeforeWholeHeaderArrives) {
  Parser p;
  RecordingSink s;
  std::uint8_t two[2] = {0x83, 0xFF};  // reserved opcode, header would be 14 bytes long
  EXPECT_EQ(p.feed(two, 2, s, {}).close_code, 1002);
}

TEST(WsFrameErrors, TooBigFailsOnHeaderBeforePayload) {
  Parser p;
  RecordingSink s;
  Bytes f = frame(0x2, Bytes(200, 'x'));
  FeedResult r = p.feed(f.data(), 8, s, Limits{100});  // only the header
  EXPECT_EQ(r.close_code, 1009);
  EXPECT_EQ(s.chunks, 0u);
}

TEST(WsFrameErrors, MessageAtExactLimitIsAccepted) {
  Outcome o = run_once(cat({frame(0x2, Bytes(6, 'x'), false), frame(0x9, Bytes(20, 'p')), frame(0x0, Bytes(4, 'y'))}),
                       Role::server, Limits{10});
  EXPECT_EQ(o.close_code, 0);
  ASSERT_EQ(o.events.size(), 2u);
  EXPECT_EQ(o.events[1].payload.size(), 10u);
  // The count restarts with each message.
  Outcome two = run_once(cat({frame(0x2, Bytes(10, 'x')), frame(0x1, Bytes(10, 'y'))}), Role::server, Limits{10});
  EXPECT_EQ(two.close_code, 0);
  EXPECT_EQ(two.events.size(), 2u);
}

TEST(WsFrameErrors, InvalidUtf8FailsFastInsideAFragment) {
  // The first fragment is fine, the second has a bad byte; the final fragment never arrives.
  Parser p;
  RecordingSink s;
  Bytes f1 = frame(0x1, bytes("hello "), false);
  Bytes f2 = frame(0x0, {'w', 0xF4, 0x90, 0x80, 0x80, 'd'}, false);
  EXPECT_EQ(p.feed(f1.data(), f1.size(), s, {}).close_code, 0);
  EXPECT_EQ(s.chunks, 1u);
  FeedResult r = p.feed(f2.data(), f2.size() - 3, s, {});  // stops inside F4 90 80: already invalid
  EXPECT_EQ(r.close_code, 1007);
  EXPECT_EQ(s.chunks, 1u);  // the bad chunk is not delivered
}

TEST(WsFrameErrors, InvalidUtf8FailsFastInsideASplitFrame) {
  Bytes payload = bytes("0123456789");
  payload.push_back(0xC0);  // never valid
  payload.insert(payload.end(), 100, 'z');
  Bytes wire = frame(0x1, payload);
  Parser p;
  RecordingSink s;
  FeedResult r = p.feed(wire.data(), 6 + 12, s, {});
  EXPECT_EQ(r.close_code, 1007);
}

}  // namespace
}  // namespace ringgate::ws::test
