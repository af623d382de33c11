// UTF-8: Markus Kuhn's decoder test cases / Autobahn 6.x classes through both validators and the
// stream (split everywhere), exhaustive small-sequence checks against a decoding reference, and
// the fail-fast property: the stream rejects exactly the first piece after which no valid
// continuation exists.
#include "ringgate/ws/utf8.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "ws_test_util.hpp"

namespace ringgate::ws::test {
namespace {

// Reference by decoding code points: independent of the Table 3-7 form the library uses.
bool ref_valid(const std::uint8_t* p, std::size_t n) {
  static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  for (std::size_t i = 0; i < n;) {
    const std::uint8_t b = p[i];
    std::size_t len;
    std::uint32_t cp;
    if (b < 0x80) {
      ++i;
      continue;
    } else if ((b & 0xE0) == 0xC0) {
      len = 2, cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      len = 3, cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      len = 4, cp = b & 0x07;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (std::size_t j = 1; j < len; ++j) {
      if ((p[i + j] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + j] & 0x3F);
    }
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

bool ref_valid(const Bytes& b) { return ref_valid(b.data(), b.size()); }

// True if some continuation makes the bytes valid: at most 3 bytes are missing, and only the first
// missing byte has a lead-dependent range.
bool ref_valid_prefix(const Bytes& s) {
  if (ref_valid(s)) return true;
  for (std::size_t k = 1; k <= 3; ++k) {
    for (int b = 0x80; b <= 0xBF; ++b) {
      Bytes t = s;
      t.push_back(static_cast<std::uint8_t>(b));
      t.insert(t.end(), k - 1, 0x80);
      if (ref_valid(t)) return true;
    }
  }
  return false;
}

struct Case {
  const char* name;
  Bytes bytes;
  bool valid;
};

Bytes hex(std::initializer_list<int> v) {
  Bytes b;
  for (int x : v) b.push_back(static_cast<std::uint8_t>(x));
  return b;
}

std::vector<Case> kuhn_cases() {
  Bytes all_continuations;
  for (int b = 0x80; b <= 0xBF; ++b) all_continuations.push_back(static_cast<std::uint8_t>(b));
  Bytes lonely_2byte_starts;
  for (int b = 0xC0; b <= 0xDF; ++b) lonely_2byte_starts.insert(lonely_2byte_starts.end(), {std::uint8_t(b), ' '});
  Bytes lonely_3byte_starts;
  for (int b = 0xE0; b <= 0xEF; ++b) lonely_3byte_starts.insert(lonely_3byte_starts.end(), {std::uint8_t(b), ' '});
  return {
      // 1: some correct UTF-8 text
      {"empty", {}, true},
      {"ascii", bytes("Hello-World"), true},
      {"kosme", hex({0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5}), true},
      {"kosme_edited",  // Autobahn 6.3: a surrogate in the middle
       cat({hex({0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80}), bytes("edited")}),
       false},
      // 2.1 first possible sequence of each length
      {"first_1", hex({0x00}), true},
      {"first_2", hex({0xC2, 0x80}), true},
      {"first_3", hex({0xE0, 0xA0, 0x80}), true},
      {"first_4", hex({0xF0, 0x90, 0x80, 0x80}), true},
      {"first_5", hex({0xF8, 0x88, 0x80, 0x80, 0x80}), false},
      {"first_6", hex({0xFC, 0x84, 0x80, 0x80, 0x80, 0x80}), false},
      // 2.2 last possible sequence of each length
      {"last_1", hex({0x7F}), true},
      {"last_2", hex({0xDF, 0xBF}), true},
      {"last_3", hex({0xEF, 0xBF, 0xBF}), true},
      {"last_4_in_range", hex({0xF4, 0x8F, 0xBF, 0xBF}), true},
      {"last_4", hex({0xF7, 0xBF, 0xBF, 0xBF}), false},
      {"last_5", hex({0xFB, 0xBF, 0xBF, 0xBF, 0xBF}), false},
      // 2.3 other boundaries
      {"U+D7FF", hex({0xED, 0x9F, 0xBF}), true},
      {"U+E000", hex({0xEE, 0x80, 0x80}), true},
      {"U+FFFD", hex({0xEF, 0xBF, 0xBD}), true},
      {"U+10FFFF", hex({0xF4, 0x8F, 0xBF, 0xBF}), true},
      {"U+110000", hex({0xF4, 0x90, 0x80, 0x80}), false},
      // 3.1 unexpected continuation bytes
      {"first_continuation", hex({0x80}), false},
      {"last_continuation", hex({0xBF}), false},
      {"two_continuations", hex({0x80, 0xBF}), false},
      {"three_continuations", hex({0x80, 0xBF, 0x80}), false},
      {"all_continuations", all_continuations, false},
      // 3.2 lonely start characters
      {"lonely_2byte_starts", lonely_2byte_starts, false},
      {"lonely_3byte_starts", lonely_3byte_starts, false},
      {"lonely_4byte_start", hex({0xF0, ' ', 0xF4, ' '}), false},
      // 3.3 sequences with the last byte missing
      {"missing_last_2", hex({0xC2}), false},
      {"missing_last_3", hex({0xE1, 0x80}), false},
      {"missing_last_4", hex({0xF1, 0x80, 0x80}), false},
      {"missing_last_overlong_3", hex({0xE0, 0x80}), false},
      {"missing_last_then_ascii", hex({0xE1, 0x80, 'a'}), false},
      // 3.4 concatenation of incomplete sequences
      {"incomplete_concat", hex({0xC2, 0xE1, 0x80, 0xF1, 0x80, 0x80, 0xDF, 0xEF, 0xBF, 0xF4, 0x8F, 0xBF}), false},
      // 3.5 impossible bytes
      {"FE", hex({0xFE}), false},
      {"FF", hex({0xFF}), false},
      {"FEFEFFFF", hex({0xFE, 0xFE, 0xFF, 0xFF}), false},
      {"F5", hex({0xF5, 0x80, 0x80, 0x80}), false},
      // 4 overlong sequences
      {"overlong_slash_2", hex({0xC0, 0xAF}), false},
      {"overlong_slash_3", hex({0xE0, 0x80, 0xAF}), false},
      {"overlong_slash_4", hex({0xF0, 0x80, 0x80, 0xAF}), false},
      {"overlong_max_2", hex({0xC1, 0xBF}), false},
      {"overlong_max_3", hex({0xE0, 0x9F, 0xBF}), false},
      {"overlong_max_4", hex({0xF0, 0x8F, 0xBF, 0xBF}), false},
      {"overlong_nul_2", hex({0xC0, 0x80}), false},
      {"overlong_nul_3", hex({0xE0, 0x80, 0x80}), false},
      {"overlong_nul_4", hex({0xF0, 0x80, 0x80, 0x80}), false},
      // 5 surrogates
      {"U+D800", hex({0xED, 0xA0, 0x80}), false},
      {"U+DB7F", hex({0xED, 0xAD, 0xBF}), false},
      {"U+DB80", hex({0xED, 0xAE, 0x80}), false},
      {"U+DBFF", hex({0xED, 0xAF, 0xBF}), false},
      {"U+DC00", hex({0xED, 0xB0, 0x80}), false},
      {"U+DF80", hex({0xED, 0xBE, 0x80}), false},
      {"U+DFFF", hex({0xED, 0xBF, 0xBF}), false},
      {"pair_D800_DC00", hex({0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80}), false},
      {"pair_DBFF_DFFF", hex({0xED, 0xAF, 0xBF, 0xED, 0xBF, 0xBF}), false},
      // noncharacters are valid UTF-8
      {"U+FFFE", hex({0xEF, 0xBF, 0xBE}), true},
      {"U+FFFF", hex({0xEF, 0xBF, 0xBF}), true},
      {"U+1FFFF", hex({0xF0, 0x9F, 0xBF, 0xBF}), true},
      {"U+10FFFE", hex({0xF4, 0x8F, 0xBF, 0xBE}), true},
      {"mixed", bytes("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z"), true},
  };
}

Bytes padded(const Bytes& b) {
  Bytes p(67 + b.size() + 61, 'z');
  std::fill_n(p.begin(), 67, 'A');
  std::copy(b.begin(), b.end(), p.begin() + 67);
  return p;
}

// Feeds the pieces; returns the index of the piece that failed, or pieces.size() if none did, and
// sets `ok` to the overall verdict (all pieces accepted and complete at the end).
std::size_t stream_pieces(const Bytes& b, const std::vector<std::size_t>& cuts, bool& ok) {
  Utf8Stream s;
  std::size_t start = 0, i = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(b.size());
  for (; i < ends.size(); ++i) {
    if (!s.feed(b.data() + start, ends[i] - start)) {
      ok = false;
      EXPECT_FALSE(s.complete());
      EXPECT_FALSE(s.feed(b.data(), 0));  // sticky
      return i;
    }
    start = ends[i];
  }
  ok = s.complete();
  return i;
}

TEST(WsUtf8, KuhnCasesBothValidators) {
  for (const Case& c : kuhn_cases()) {
    ASSERT_EQ(ref_valid(c.bytes), c.valid) << "reference disagrees with the table: " << c.name;
    EXPECT_EQ(validate_utf8_scalar(c.bytes.data(), c.bytes.size()), c.valid) << c.name;
    EXPECT_EQ(validate_utf8(c.bytes.data(), c.bytes.size()), c.valid) << c.name;
    const Bytes p = padded(c.bytes);  // long enough for the SIMD path
    EXPECT_EQ(validate_utf8_scalar(p.data(), p.size()), c.valid) << c.name;
    EXPECT_EQ(validate_utf8(p.data(), p.size()), c.valid) << c.name;
  }
}

TEST(WsUtf8, KuhnCasesStreamSplitEverywhere) {
  for (const Case& c : kuhn_cases()) {
    for (const Bytes& b : {c.bytes, padded(c.bytes)}) {
      for (std::size_t cut = 0; cut <= b.size(); ++cut) {
        bool ok = false;
        stream_pieces(b, {cut}, ok);
        EXPECT_EQ(ok, c.valid) << c.name << " cut " << cut;
      }
      std::vector<std::size_t> every;
      for (std::size_t i = 1; i < b.size(); ++i) every.push_back(i);
      bool ok = false;
      stream_pieces(b, every, ok);
      EXPECT_EQ(ok, c.valid) << c.name << " byte at a time";
    }
  }
}

TEST(WsUtf8, StreamFailsFastAtTheFirstImpossiblePrefix) {
  for (const Case& c : kuhn_cases()) {
    const Bytes& b = c.bytes;
    if (b.empty()) continue;
    std::size_t first_bad = b.size();  // index of the first byte after which no completion exists
    for (std::size_t i = 0; i < b.size(); ++i) {
      if (!ref_valid_prefix(Bytes(b.begin(), b.begin() + i + 1))) {
        first_bad = i;
        break;
      }
    }
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < b.size(); ++i) every.push_back(i);
    bool ok = false;
    EXPECT_EQ(stream_pieces(b, every, ok), first_bad) << c.name;
  }
}

TEST(WsUtf8, CutSequencesThatAreAlreadyInvalid) {
  const Bytes bad[] = {hex({0xF4, 0x90}), hex({0xED, 0xA0}), hex({0xF5}), hex({0xC0}), hex({0xC1}),
                       hex({0xE0, 0x80}), hex({0xF0, 0x80}), hex({0xF0, 0x8F}), hex({0xFF}), hex({'a', 0xE2, 0x41})};
  for (const Bytes& b : bad) {
    Utf8Stream s;
    EXPECT_FALSE(s.feed(b.data(), b.size())) << int(b[0]);
    Bytes after = cat({bytes("some ascii first "), b});
    Utf8Stream s2;
    EXPECT_FALSE(s2.feed(after.data(), after.size())) << int(b[0]);
  }
  const Bytes good_prefixes[] = {hex({0xF4}), hex({0xF4, 0x8F}), hex({0xED}), hex({0xED, 0x9F}), hex({0xE0, 0xA0}),
                                 hex({0xF0, 0x90, 0x80}), hex({0xC2})};
  for (const Bytes& b : good_prefixes) {
    Utf8Stream s;
    EXPECT_TRUE(s.feed(b.data(), b.size()));
    EXPECT_FALSE(s.complete());
    s.reset();
    EXPECT_TRUE(s.complete());
  }
  // A pending sequence completed by the next piece, then a bad continuation after it.
  Utf8Stream s;
  const Bytes p1 = hex({'x', 0xE2}), p2 = hex({0x82}), p3 = hex({0xAC, 0xBF});
  EXPECT_TRUE(s.feed(p1.data(), p1.size()));
  EXPECT_TRUE(s.feed(p2.data(), p2.size()));
  EXPECT_FALSE(s.feed(p3.data(), p3.size()));
}

TEST(WsUtf8, ExhaustiveTwoAndThreeByteSequences) {
  std::uint8_t b[3];
  for (int x = 0; x < 256; ++x) {
    for (int y = 0; y < 256; ++y) {
      b[0] = static_cast<std::uint8_t>(x), b[1] = static_cast<std::uint8_t>(y);
      ASSERT_EQ(validate_utf8_scalar(b, 2), ref_valid(b, 2)) << x << " " << y;
    }
  }
  for (int x = 0xE0; x <= 0xEF; ++x) {
    for (int y = 0; y < 256; ++y) {
      for (int z = 0x70; z < 0xD0; ++z) {
        b[0] = static_cast<std::uint8_t>(x), b[1] = static_cast<std::uint8_t>(y), b[2] = static_cast<std::uint8_t>(z);
        ASSERT_EQ(validate_utf8_scalar(b, 3), ref_valid(b, 3)) << x << " " << y << " " << z;
      }
    }
  }
}

// Random mixes of valid characters and random bytes, long enough for the SIMD path, at random cuts.
TEST(WsUtf8, RandomCrossCheck) {
  std::mt19937 rng(99);
  const Bytes chars[] = {bytes("a"), bytes("\xC3\xA9"), bytes("\xE2\x82\xAC"), bytes("\xF0\x9F\x98\x80"),
                         bytes("\xF4\x8F\xBF\xBF"), bytes("\xED\x9F\xBF"), bytes("0123456789abcdef")};
  for (int iter = 0; iter < 4000; ++iter) {
    Bytes b;
    const std::size_t parts = rng() % 60;
    for (std::size_t i = 0; i < parts; ++i) {
      if (rng() % 50 == 0) {
        b.push_back(static_cast<std::uint8_t>(rng()));
      } else {
        const Bytes& c = chars[rng() % std::size(chars)];
        b.insert(b.end(), c.begin(), c.end());
      }
    }
    const bool want = ref_valid(b);
    ASSERT_EQ(validate_utf8_scalar(b.data(), b.size()), want);
    ASSERT_EQ(validate_utf8(b.data(), b.size()), want);
    std::vector<std::size_t> cuts;
    for (std::size_t pos = 0;;) {
      pos += rng() % 20;
      if (pos >= b.size()) break;
      cuts.push_back(pos);
    }
    bool ok = false;
    stream_pieces(b, cuts, ok);
    ASSERT_EQ(ok, want) << iter;
  }
}

TEST(WsUtf8, StreamStateIsSmall) { EXPECT_LE(sizeof(Utf8Stream), 8u); }

}  // namespace
}  // namespace ringgate::ws::test
