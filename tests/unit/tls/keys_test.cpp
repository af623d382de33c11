// Ticket key ring (crypto, rotation, key files, seq-lock under concurrent rotation) and the
// striped session-ID cache (expiry, eviction, bounds, concurrency).
#include "ringgate/tls/keys.hpp"

#include <gtest/gtest.h>
#include <unistd.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace ringgate::tls {
namespace {

std::string b64(const std::vector<std::uint8_t>& in, bool pad = true) {
  static const char* kAlpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    std::uint32_t v = (in[i] << 16) | (in[i + 1] << 8) | in[i + 2];
    for (int s = 18; s >= 0; s -= 6) out += kAlpha[(v >> s) & 63];
  }
  std::size_t rest = in.size() - i;
  if (rest == 1) {
    std::uint32_t v = in[i] << 16;
    out += kAlpha[(v >> 18) & 63];
    out += kAlpha[(v >> 12) & 63];
    if (pad) out += "==";
  } else if (rest == 2) {
    std::uint32_t v = (in[i] << 16) | (in[i + 1] << 8);
    out += kAlpha[(v >> 18) & 63];
    out += kAlpha[(v >> 12) & 63];
    out += kAlpha[(v >> 6) & 63];
    if (pad) out += "=";
  }
  return out;
}

std::vector<std::uint8_t> pattern(std::size_t n, std::uint8_t seed) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(seed + i * 7);
  return v;
}

bool same_name(const TicketKey& a, const std::uint8_t* name) { return std::memcmp(a.name, name, 16) == 0; }

struct Sealed {
  std::uint8_t name[16], iv[16], mac[32];
  std::vector<std::uint8_t> body;
};

Sealed seal(const TicketKeyRing& ring, const std::vector<std::uint8_t>& plain) {
  Sealed s;
  s.body = plain;
  EXPECT_TRUE(ring.encrypt(s.name, s.iv, s.mac, s.body.data(), static_cast<int>(s.body.size())));
  return s;
}

int unseal(const TicketKeyRing& ring, Sealed s, std::vector<std::uint8_t>* plain = nullptr) {
  int rc = ring.open(s.name, s.iv, s.mac, s.body.data(), static_cast<int>(s.body.size()));
  if (plain != nullptr) *plain = s.body;
  return rc;
}

class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    char tmpl[] = "/tmp/ringgate_keys_XXXXXX";
    int fd = ::mkstemp(tmpl);
    EXPECT_GE(fd, 0);
    ::close(fd);
    path_ = tmpl;
    std::ofstream(path_, std::ios::binary) << text;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// ----- TicketKeyRing: crypto -------------------------------------------------------------------

TEST(TicketKeyRing, StartsWithOneRandomKey) {
  TicketKeyRing a, b;
  EXPECT_EQ(a.size(), 1u);
  EXPECT_EQ(a.rotations(), 0u);
  TicketKey ka = a.current(), kb = b.current();
  EXPECT_NE(std::memcmp(&ka, &kb, sizeof ka), 0);
  TicketKey found;
  bool is_current = false;
  ASSERT_TRUE(a.find(ka.name, found, is_current));
  EXPECT_TRUE(is_current);
  EXPECT_EQ(std::memcmp(&found, &ka, sizeof ka), 0);
  EXPECT_FALSE(a.find(kb.name, found, is_current));
}

TEST(TicketKeyRing, RoundTripVariedLengths) {
  TicketKeyRing ring;
  for (std::size_t len : {0u, 1u, 200u, 2000u}) {
    SCOPED_TRACE(len);
    auto plain = pattern(len, 3);
    Sealed s = seal(ring, plain);
    EXPECT_TRUE(same_name(ring.current(), s.name));
    for (int i = 12; i < 16; ++i) EXPECT_EQ(s.iv[i], 0);
    for (int i = 16; i < 32; ++i) EXPECT_EQ(s.mac[i], 0);
    if (len >= 16) {
      EXPECT_NE(s.body, plain);
    }
    std::vector<std::uint8_t> out;
    EXPECT_EQ(unseal(ring, s, &out), 0);
    EXPECT_EQ(out, plain);
  }
}

TEST(TicketKeyRing, NullTicketWithZeroLength) {
  TicketKeyRing ring;
  std::uint8_t name[16], iv[16], mac[32];
  ASSERT_TRUE(ring.encrypt(name, iv, mac, nullptr, 0));
  EXPECT_EQ(ring.open(name, iv, mac, nullptr, 0), 0);
  mac[0] ^= 1;
  EXPECT_EQ(ring.open(name, iv, mac, nullptr, 0), -1);
}

TEST(TicketKeyRing, NegativeLengthOrNullBufferRejected) {
  TicketKeyRing ring;
  std::uint8_t name[16], iv[16], mac[32], buf[8] = {};
  EXPECT_FALSE(ring.encrypt(name, iv, mac, buf, -1));
  EXPECT_FALSE(ring.encrypt(name, iv, mac, nullptr, 8));
  ASSERT_TRUE(ring.encrypt(name, iv, mac, buf, 8));
  EXPECT_EQ(ring.open(name, iv, mac, buf, -1), -1);
  EXPECT_EQ(ring.open(name, iv, mac, nullptr, 8), -1);
}

TEST(TicketKeyRing, FreshIvPerTicket) {
  TicketKeyRing ring;
  auto plain = pattern(64, 9);
  Sealed a = seal(ring, plain), b = seal(ring, plain);
  EXPECT_NE(std::memcmp(a.iv, b.iv, 12), 0);
  EXPECT_NE(a.body, b.body);
}

TEST(TicketKeyRing, TamperingFails) {
  TicketKeyRing ring;
  auto plain = pattern(200, 1);
  Sealed good = seal(ring, plain);
  ASSERT_EQ(unseal(ring, good), 0);

  Sealed s = good;
  s.body[100] ^= 0x01;
  EXPECT_EQ(unseal(ring, s), -1);
  s = good;
  s.mac[15] ^= 0x80;
  EXPECT_EQ(unseal(ring, s), -1);
  s = good;
  s.iv[0] ^= 0x01;  // nonce is authenticated data too
  EXPECT_EQ(unseal(ring, s), -1);
  s = good;
  s.iv[13] = 1;  // unused IV bytes are still bound by the AAD
  EXPECT_EQ(unseal(ring, s), -1);
  s = good;
  s.name[5] ^= 0x01;  // unknown name
  EXPECT_EQ(unseal(ring, s), -1);
  s = good;
  s.body.pop_back();  // truncated
  EXPECT_EQ(unseal(ring, s), -1);

  TicketKeyRing other;  // another gateway with its own random key
  EXPECT_EQ(unseal(other, good), -1);
}

TEST(TicketKeyRing, RotationKeepsOlderKeysThenDropsThem) {
  TicketKeyRing ring;
  auto plain = pattern(100, 5);
  Sealed s = seal(ring, plain);
  TicketKey first = ring.current();
  for (std::size_t r = 1; r < TicketKeyRing::kMaxKeys; ++r) {
    ring.rotate();
    EXPECT_EQ(ring.rotations(), r);
    EXPECT_EQ(ring.size(), r + 1);
    EXPECT_FALSE(same_name(ring.current(), first.name));
    std::vector<std::uint8_t> out;
    EXPECT_EQ(unseal(ring, s, &out), 1) << "after " << r << " rotations";
    EXPECT_EQ(out, plain);
    TicketKey k;
    bool is_current = true;
    ASSERT_TRUE(ring.find(first.name, k, is_current));
    EXPECT_FALSE(is_current);
  }
  // New tickets use the newest key and open with 0.
  EXPECT_EQ(unseal(ring, seal(ring, plain)), 0);
  ring.rotate();
  EXPECT_EQ(ring.size(), TicketKeyRing::kMaxKeys);
  EXPECT_EQ(unseal(ring, s), -1);
  TicketKey k;
  bool is_current;
  EXPECT_FALSE(ring.find(first.name, k, is_current));
}

// ----- TicketKeyRing: key files -----------------------------------------------------------------

std::vector<std::uint8_t> raw_key(std::size_t n, std::uint8_t seed) { return pattern(n, seed); }

TEST(TicketKeyParse, KnownVector48) {
  std::vector<TicketKey> keys;
  std::string err;
  ASSERT_TRUE(TicketKeyRing::parse_keys("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v\n",
                                        keys, err))
      << err;
  ASSERT_EQ(keys.size(), 1u);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(keys[0].name[i], i);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(keys[0].secret[i], 16 + i);
}

TEST(TicketKeyParse, EightyByteKeyDerivesSecretBySha256) {
  auto raw = raw_key(80, 11);
  std::vector<TicketKey> keys;
  std::string err;
  ASSERT_TRUE(TicketKeyRing::parse_keys(b64(raw), keys, err)) << err;
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(std::memcmp(keys[0].name, raw.data(), 16), 0);
  std::uint8_t want[32];
  ASSERT_EQ(wc_Sha256Hash(raw.data() + 16, 64, want), 0);
  EXPECT_EQ(std::memcmp(keys[0].secret, want, 32), 0);
  // The AES half matters too.
  auto raw2 = raw;
  raw2[79] ^= 1;
  std::vector<TicketKey> keys2;
  ASSERT_TRUE(TicketKeyRing::parse_keys(b64(raw2), keys2, err));
  EXPECT_NE(std::memcmp(keys[0].secret, keys2[0].secret, 32), 0);
}

TEST(TicketKeyParse, CommentsBlankLinesWhitespaceCrlf) {
  auto k1 = raw_key(48, 1), k2 = raw_key(80, 2), k3 = raw_key(48, 3);
  std::string text = "# ticket keys\r\n\r\n   \n  " + b64(k1) + "  \r\n\t# old\n" + b64(k2) + "\t\n" +
                     b64(k3, /*pad=*/false);  // no final newline, unpadded
  std::vector<TicketKey> keys;
  std::string err;
  ASSERT_TRUE(TicketKeyRing::parse_keys(text, keys, err)) << err;
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(std::memcmp(keys[0].name, k1.data(), 16), 0);
  EXPECT_EQ(std::memcmp(keys[0].secret, k1.data() + 16, 32), 0);
  EXPECT_EQ(std::memcmp(keys[1].name, k2.data(), 16), 0);
  EXPECT_EQ(std::memcmp(keys[2].name, k3.data(), 16), 0);
}

TEST(TicketKeyParse, Errors) {
  std::vector<TicketKey> keys;
  std::string err;
  auto good = b64(raw_key(48, 1));

  EXPECT_FALSE(TicketKeyRing::parse_keys("", keys, err));
  EXPECT_EQ(err, "no key");
  EXPECT_FALSE(TicketKeyRing::parse_keys("# only a comment\n\n", keys, err));
  EXPECT_EQ(err, "no key");

  EXPECT_FALSE(TicketKeyRing::parse_keys(good + "\n\n" + b64(raw_key(47, 2)) + "\n", keys, err));
  EXPECT_EQ(err, "line 3: 47 bytes, expected 48 or 80");
  EXPECT_TRUE(keys.empty());
  EXPECT_FALSE(TicketKeyRing::parse_keys(b64(raw_key(64, 2)), keys, err));
  EXPECT_EQ(err, "line 1: 64 bytes, expected 48 or 80");

  std::string bad = good;
  bad[10] = '*';
  EXPECT_FALSE(TicketKeyRing::parse_keys("#\n" + bad, keys, err));
  EXPECT_EQ(err, "line 2: bad base64");
  bad = good;
  bad.insert(20, " ");  // whitespace inside a key
  EXPECT_FALSE(TicketKeyRing::parse_keys(bad, keys, err));
  EXPECT_EQ(err, "line 1: bad base64");
  EXPECT_FALSE(TicketKeyRing::parse_keys(good + "=", keys, err));  // padding on a full group
  EXPECT_EQ(err, "line 1: bad base64");
  auto k3 = b64(raw_key(49, 0));  // 49 bytes -> ends in "=="; remove one '=' -> bad length
  EXPECT_FALSE(TicketKeyRing::parse_keys(k3.substr(0, k3.size() - 1), keys, err));
  EXPECT_EQ(err, "line 1: bad base64");
  EXPECT_FALSE(TicketKeyRing::parse_keys("A=B=\n", keys, err));
  EXPECT_EQ(err, "line 1: bad base64");
}

TEST(TicketKeyParse, TooManyKeysUsesTheFirst) {
  std::string text;
  for (int i = 0; i < 6; ++i) text += b64(raw_key(48, static_cast<std::uint8_t>(i * 40))) + "\n";
  std::vector<TicketKey> keys;
  std::string err;
  ASSERT_TRUE(TicketKeyRing::parse_keys(text, keys, err)) << err;
  ASSERT_EQ(keys.size(), TicketKeyRing::kMaxKeys);
  for (std::size_t i = 0; i < keys.size(); ++i)
    EXPECT_EQ(std::memcmp(keys[i].name, raw_key(48, static_cast<std::uint8_t>(i * 40)).data(), 16), 0);
  // Unused lines are still validated.
  EXPECT_FALSE(TicketKeyRing::parse_keys(text + "!!!!\n", keys, err));
  EXPECT_EQ(err, "line 7: bad base64");
}

TEST(TicketKeyFile, LoadFindCurrentRotations) {
  auto k1 = raw_key(48, 1), k2 = raw_key(80, 2), k3 = raw_key(48, 3);
  TempFile f(b64(k1) + "\n" + b64(k2) + "\n" + b64(k3) + "\n");
  TicketKeyRing ring;
  std::string err;
  ASSERT_TRUE(ring.load_file(f.path(), err)) << err;
  EXPECT_EQ(ring.size(), 3u);
  EXPECT_EQ(ring.rotations(), 1u);
  TicketKey cur = ring.current();
  EXPECT_EQ(std::memcmp(cur.name, k1.data(), 16), 0);
  EXPECT_EQ(std::memcmp(cur.secret, k1.data() + 16, 32), 0);
  TicketKey k;
  bool is_current = true;
  ASSERT_TRUE(ring.find(k3.data(), k, is_current));
  EXPECT_FALSE(is_current);
  EXPECT_EQ(std::memcmp(k.secret, k3.data() + 16, 32), 0);
  ASSERT_TRUE(ring.find(k1.data(), k, is_current));
  EXPECT_TRUE(is_current);

  // Reloading the same file is not a rotation.
  ASSERT_TRUE(ring.load_file(f.path(), err)) << err;
  EXPECT_EQ(ring.rotations(), 1u);
  // Same first name but another secret is.
  auto k1b = k1;
  k1b[40] ^= 1;
  TempFile g(b64(k1b) + "\n" + b64(k2) + "\n");
  ASSERT_TRUE(ring.load_file(g.path(), err)) << err;
  EXPECT_EQ(ring.rotations(), 2u);
  EXPECT_EQ(ring.size(), 2u);
  EXPECT_FALSE(ring.find(k3.data(), k, is_current));

  // rotate() keeps the file's keys behind the new one.
  ring.rotate();
  EXPECT_EQ(ring.rotations(), 3u);
  EXPECT_EQ(ring.size(), 3u);
  ASSERT_TRUE(ring.find(k1b.data(), k, is_current));
  EXPECT_FALSE(is_current);
}

TEST(TicketKeyFile, FailuresLeaveRingUnchanged) {
  TicketKeyRing ring;
  TicketKey before = ring.current();
  std::string err;
  EXPECT_FALSE(ring.load_file("/nonexistent/ringgate/keys", err));
  EXPECT_NE(err.find("/nonexistent/ringgate/keys"), std::string::npos);
  TempFile bad(b64(raw_key(48, 1)) + "\n" + b64(raw_key(30, 1)) + "\n");
  err.clear();
  EXPECT_FALSE(ring.load_file(bad.path(), err));
  EXPECT_NE(err.find("line 2: 30 bytes, expected 48 or 80"), std::string::npos) << err;
  TempFile empty("# nothing\n");
  EXPECT_FALSE(ring.load_file(empty.path(), err));
  EXPECT_NE(err.find("no key"), std::string::npos) << err;
  TicketKey after = ring.current();
  EXPECT_EQ(std::memcmp(&before, &after, sizeof before), 0);
  EXPECT_EQ(ring.size(), 1u);
  EXPECT_EQ(ring.rotations(), 0u);
}

TEST(TicketKeyFile, GatewaysSharingAFileResumeEachOther) {
  auto k_new = raw_key(80, 7), k_old = raw_key(48, 8);
  TempFile old_file(b64(k_old) + "\n");
  TempFile new_file(b64(k_new) + "\n" + b64(k_old) + "\n");
  TicketKeyRing a, b, c;
  std::string err;
  ASSERT_TRUE(a.load_file(old_file.path(), err)) << err;
  ASSERT_TRUE(b.load_file(new_file.path(), err)) << err;
  ASSERT_TRUE(c.load_file(new_file.path(), err)) << err;
  auto plain = pattern(300, 4);
  std::vector<std::uint8_t> out;
  EXPECT_EQ(unseal(b, seal(a, plain), &out), 1);  // older key: accepted, renew
  EXPECT_EQ(out, plain);
  EXPECT_EQ(unseal(c, seal(b, plain), &out), 0);
  EXPECT_EQ(out, plain);
  EXPECT_EQ(unseal(a, seal(b, plain)), -1);  // a does not know the new key yet
}

// ----- TicketKeyRing: concurrency ---------------------------------------------------------------

TEST(TicketKeyRing, ConcurrentReadersDuringRotation) {
  TicketKeyRing ring;
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<std::uint64_t> opened{0}, loops{0};
  auto reader = [&](int seed) {
    auto plain = pattern(64 + seed, static_cast<std::uint8_t>(seed));
    while (!stop.load(std::memory_order_relaxed)) {
      std::uint64_t r0 = ring.rotations();
      Sealed s = seal(ring, plain);
      std::vector<std::uint8_t> out;
      int rc = unseal(ring, s, &out);
      std::uint64_t r1 = ring.rotations();
      if (rc >= 0) {
        if (out != plain) failures.fetch_add(1);
        opened.fetch_add(1, std::memory_order_relaxed);
      } else if (r1 - r0 < TicketKeyRing::kMaxKeys - 1) {
        // The sealing key cannot have left the ring: a torn read.
        failures.fetch_add(1);
      }
      // Keys never change under a name, so a torn current() or find() shows as a name whose
      // secret differs between two reads (or a name that was never in the ring).
      for (int i = 0; i < 50; ++i) {
        std::uint64_t r2 = ring.rotations();
        TicketKey cur = ring.current(), k;
        bool is_current;
        if (ring.find(cur.name, k, is_current)) {
          if (std::memcmp(k.secret, cur.secret, 32) != 0) failures.fetch_add(1);
        } else if (ring.rotations() - r2 < TicketKeyRing::kMaxKeys - 1) {
          failures.fetch_add(1);
        }
      }
      loops.fetch_add(1, std::memory_order_relaxed);
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back(reader, i);
  // Rotate at least 1000 times and until the readers have overlapped the writer for a while
  // (on a loaded 2-core machine they may start late); bounded so the test cannot hang.
  while (loops.load() == 0) std::this_thread::yield();
  std::uint64_t rotated = 0;
  const std::uint64_t start_loops = loops.load();
  while (rotated < 1000 || (loops.load() < start_loops + 2000 && rotated < 2000000)) {
    ring.rotate();
    ++rotated;
  }
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(loops.load(), start_loops + 2000);
  EXPECT_GT(opened.load(), 0u);
  EXPECT_EQ(ring.rotations(), rotated);
  EXPECT_EQ(ring.size(), TicketKeyRing::kMaxKeys);
}

// ----- SessionCache -----------------------------------------------------------------------------

std::vector<std::uint8_t> id_of(std::uint32_t n, std::size_t len = 32) {
  std::vector<std::uint8_t> id(len, 0xA5);
  for (std::size_t i = 0; i < 4 && i < len; ++i) id[i] = static_cast<std::uint8_t>(n >> (8 * i));
  return id;
}

TEST(SessionCache, DisabledWhenZero) {
  SessionCache c(0, 300);
  EXPECT_EQ(c.capacity(), 0u);
  auto id = id_of(1), sess = pattern(100, 1);
  c.put(id, sess, 10);
  std::vector<std::uint8_t> out;
  EXPECT_FALSE(c.get(id, out, 10));
  c.remove(id);
  EXPECT_EQ(c.size(), 0u);
  EXPECT_EQ(c.stores(), 0u);
  EXPECT_EQ(c.misses(), 1u);
}

TEST(SessionCache, PutGetReplaceRemove) {
  SessionCache c(100, 300);
  auto id = id_of(7), a = pattern(100, 1), b = pattern(50, 2);
  std::vector<std::uint8_t> out;
  EXPECT_FALSE(c.get(id, out, 10));
  c.put(id, a, 10);
  ASSERT_TRUE(c.get(id, out, 11));
  EXPECT_EQ(out, a);
  c.put(id, b, 12);
  ASSERT_TRUE(c.get(id, out, 13));
  EXPECT_EQ(out, b);
  EXPECT_EQ(c.size(), 1u);
  EXPECT_FALSE(c.get(id_of(8), out, 13));
  auto short_id = id_of(7, 4);  // prefix of id: a different id
  EXPECT_FALSE(c.get(short_id, out, 13));
  c.remove(id);
  EXPECT_FALSE(c.get(id, out, 14));
  EXPECT_EQ(c.size(), 0u);
  EXPECT_EQ(c.stores(), 2u);
  EXPECT_EQ(c.hits(), 2u);
  EXPECT_EQ(c.misses(), 4u);
  EXPECT_EQ(c.evictions(), 0u);
}

TEST(SessionCache, InvalidIdsAndOversizedSessions) {
  SessionCache c(100, 300);
  std::vector<std::uint8_t> out, empty_id, long_id(33, 1);
  c.put(empty_id, pattern(10, 1), 1);
  c.put(long_id, pattern(10, 1), 1);
  EXPECT_FALSE(c.get(empty_id, out, 1));
  EXPECT_FALSE(c.get(long_id, out, 1));
  c.put(id_of(1), pattern(4097, 1), 1);
  EXPECT_FALSE(c.get(id_of(1), out, 1));
  c.put(id_of(2), pattern(4096, 1), 1);
  EXPECT_TRUE(c.get(id_of(2), out, 1));
  c.put(id_of(3, 1), pattern(0, 1), 1);  // 1-byte id, empty session
  EXPECT_TRUE(c.get(id_of(3, 1), out, 1));
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(c.stores(), 2u);
}

TEST(SessionCache, Expiry) {
  SessionCache c(100, 10);
  auto id = id_of(1), s = pattern(20, 1);
  std::vector<std::uint8_t> out;
  c.put(id, s, 100);
  EXPECT_TRUE(c.get(id, out, 109));
  EXPECT_FALSE(c.get(id, out, 110));
  EXPECT_EQ(c.size(), 0u);  // dropped on the expired lookup
  // A replace refreshes the age.
  c.put(id, s, 200);
  c.put(id, s, 208);
  EXPECT_TRUE(c.get(id, out, 215));
  EXPECT_EQ(c.evictions(), 0u);
}

TEST(SessionCache, EvictsOldestInStripe) {
  SessionCache c(4, 1000);  // < 8 entries: a single stripe
  std::vector<std::uint8_t> out;
  for (std::uint32_t i = 1; i <= 4; ++i) c.put(id_of(i), pattern(10, static_cast<std::uint8_t>(i)), i);
  c.put(id_of(1), pattern(10, 99), 5);  // replace moves 1 to the back
  c.put(id_of(5), pattern(10, 5), 6);   // evicts 2
  EXPECT_EQ(c.size(), 4u);
  EXPECT_EQ(c.evictions(), 1u);
  EXPECT_FALSE(c.get(id_of(2), out, 7));
  ASSERT_TRUE(c.get(id_of(1), out, 7));
  EXPECT_EQ(out, pattern(10, 99));
  for (std::uint32_t i = 3; i <= 5; ++i) EXPECT_TRUE(c.get(id_of(i), out, 7)) << i;
}

TEST(SessionCache, ExpiredEntriesMakeRoomWithoutEvictions) {
  SessionCache c(2, 10);
  c.put(id_of(1), pattern(5, 1), 0);
  c.put(id_of(2), pattern(5, 2), 0);
  c.put(id_of(3), pattern(5, 3), 20);
  EXPECT_EQ(c.evictions(), 0u);
  EXPECT_EQ(c.size(), 1u);
}

TEST(SessionCache, SizeBoundedByCapacity) {
  for (std::size_t cap : {1u, 7u, 64u, 100u, 1000u}) {
    SCOPED_TRACE(cap);
    SessionCache c(cap, 1000000);
    const std::uint32_t n = static_cast<std::uint32_t>(cap * 20 + 50);
    for (std::uint32_t i = 0; i < n; ++i) {
      c.put(id_of(i), pattern(16, 1), i);
      ASSERT_LE(c.size(), cap);
    }
    // Every stripe is full: the stripes' capacities add up to exactly `cap`.
    EXPECT_EQ(c.size(), cap);
    EXPECT_EQ(c.stores(), n);
    EXPECT_EQ(c.evictions(), n - cap);
    // The newest entry always survives.
    std::vector<std::uint8_t> out;
    EXPECT_TRUE(c.get(id_of(n - 1), out, n));
  }
}

TEST(SessionCache, EvictionIsPerStripe) {
  // 16 entries -> 2 stripes of 8: the first eviction happens when one stripe is full, before the
  // whole cache is, and never before 8 entries.
  SessionCache c(16, 1000000);
  std::uint32_t i = 0;
  while (c.evictions() == 0) {
    c.put(id_of(i), pattern(8, 1), i);
    ++i;
    ASSERT_LT(i, 1000u);
  }
  EXPECT_GE(i, 9u);
  EXPECT_LE(c.size(), 16u);
  EXPECT_GE(c.size(), 8u);
}

TEST(SessionCache, ConcurrentPutGet) {
  SessionCache c(4096, 1000000);
  constexpr int kThreads = 4, kPerThread = 500;
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::uint8_t> out;
      for (int i = 0; i < kPerThread; ++i) {
        std::uint32_t n = static_cast<std::uint32_t>(t * kPerThread + i);
        auto sess = pattern(32 + i % 64, static_cast<std::uint8_t>(n));
        c.put(id_of(n), sess, 1);
        if (!c.get(id_of(n), out, 2) || out != sess) bad.fetch_add(1);
        // Shared ids: contended replace/get/remove; content must be some writer's full value.
        auto shared = id_of(1u << 30 | static_cast<std::uint32_t>(i % 8));
        c.put(shared, std::vector<std::uint8_t>(40, static_cast<std::uint8_t>(t)), 1);
        if (c.get(shared, out, 2)) {
          if (out.size() != 40 || std::count(out.begin(), out.end(), out[0]) != 40) bad.fetch_add(1);
        }
        if (i % 50 == 0) c.remove(shared);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_LE(c.size(), c.capacity());
  EXPECT_GE(c.size(), static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(c.evictions(), 0u);
}

}  // namespace
}  // namespace ringgate::tls
