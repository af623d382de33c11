// Ticket key ring (sequence lock over atomic words) and the striped TLS 1.2 session-ID cache.
//
// Ticket sealing: ChaCha20-Poly1305 with the ring's current 32-byte key, a fresh 96-bit random
// nonce per ticket (iv[0..11]; iv[12..15] zero) and authenticated data name(16) || iv(16), so a
// ticket cannot be replayed under another key name or nonce. The 16-byte tag sits in mac[0..15];
// mac[16..31] is zero. Nonces come from getrandom(2): thread-safe, no shared RNG state.
//
// 80-byte nginx/HAProxy keys: our AEAD key is SHA-256 over bytes 16..79 (HMAC secret || AES
// secret). Gateways sharing the file derive the same key; it is not interoperable with nginx's
// own ticket format, only with other Ringgates reading the same file.
#include "ringgate/tls/keys.hpp"

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <list>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include "ringgate/core/check.hpp"

namespace ringgate::tls {
namespace {

constexpr std::size_t kWordsPerKey = 6;
static_assert(sizeof(TicketKey) == kWordsPerKey * sizeof(std::uint64_t));
constexpr std::size_t kMaxKeyFileBytes = 64 * 1024;

bool random_bytes(void* out, std::size_t n) noexcept {
  auto* p = static_cast<std::uint8_t*>(out);
  while (n > 0) {
    ssize_t r = ::getrandom(p, n, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

TicketKey random_key() noexcept {
  TicketKey k;
  // Without entropy every ticket would be forgeable; not a state to run in.
  RG_CHECK(random_bytes(&k, sizeof k));
  return k;
}

bool same_key(const TicketKey& a, const TicketKey& b) noexcept {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

// Standard alphabet; -1 = not base64.
int b64_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Decodes standard base64 with optional '=' padding (if present, the length must be a multiple
// of 4). No whitespace inside: callers strip line ends.
bool b64_decode(std::string_view in, std::vector<std::uint8_t>& out) {
  out.clear();
  std::size_t pad = 0;
  while (pad < in.size() && pad < 2 && in[in.size() - 1 - pad] == '=') ++pad;
  if (pad > 0 && in.size() % 4 != 0) return false;
  std::string_view body = in.substr(0, in.size() - pad);
  if (body.size() % 4 == 1) return false;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : body) {
    int v = b64_value(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  return true;
}

std::string_view trim(std::string_view s) noexcept {
  constexpr std::string_view kSpace = " \t\r\n\v\f";
  std::size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  std::size_t e = s.find_last_not_of(kSpace);
  return s.substr(b, e - b + 1);
}

bool key_from_bytes(const std::vector<std::uint8_t>& raw, TicketKey& k) noexcept {
  std::memcpy(k.name, raw.data(), sizeof k.name);
  if (raw.size() == 48) {
    std::memcpy(k.secret, raw.data() + 16, sizeof k.secret);
    return true;
  }
  return wc_Sha256Hash(raw.data() + 16, 64, k.secret) == 0;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// TicketKeyRing

TicketKeyRing::TicketKeyRing() noexcept {
  for (auto& key : words_)
    for (auto& w : key) w.store(0, std::memory_order_relaxed);
  TicketKey k = random_key();
  store(&k, 1);
}

// Single writer: rotate()/load_file() must not run concurrently with each other (the caller, the
// main thread, serializes them); two writers would interleave their odd/even sequence steps.
void TicketKeyRing::store(const TicketKey* keys, std::size_t n) noexcept {
  n = std::min(n, kMaxKeys);
  std::uint64_t s = seq_.load(std::memory_order_relaxed);
  seq_.store(s + 1, std::memory_order_relaxed);
  // Release data stores (not a fence: TSan does not model fences) keep the odd sequence ordered
  // before every word: a reader that sees a new word also sees seq_ moved, and retries.
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t w[kWordsPerKey];
    std::memcpy(w, &keys[i], sizeof w);
    for (std::size_t j = 0; j < kWordsPerKey; ++j) words_[i][j].store(w[j], std::memory_order_release);
  }
  count_.store(static_cast<std::uint32_t>(n), std::memory_order_release);
  seq_.store(s + 2, std::memory_order_release);
}

namespace {
struct Snapshot {
  std::size_t n = 0;
  TicketKey keys[TicketKeyRing::kMaxKeys];
};

// Seq-lock read: copies the whole ring (at most 192 bytes) and retries if a writer overlapped.
// A free function (members passed in) so the header needs no private declaration for it.
void read_ring(const std::atomic<std::uint64_t>& seq,
                      const std::atomic<std::uint64_t> (&words)[TicketKeyRing::kMaxKeys][kWordsPerKey],
                      const std::atomic<std::uint32_t>& count, Snapshot& snap) noexcept {
  for (;;) {
    std::uint64_t s1 = seq.load(std::memory_order_acquire);
    if (s1 & 1) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
      continue;
    }
    // Acquire data loads keep the re-check of seq below from moving above them.
    std::size_t n = std::min<std::size_t>(count.load(std::memory_order_acquire), TicketKeyRing::kMaxKeys);
    for (std::size_t i = 0; i < n; ++i) {
      std::uint64_t w[kWordsPerKey];
      for (std::size_t j = 0; j < kWordsPerKey; ++j) w[j] = words[i][j].load(std::memory_order_acquire);
      std::memcpy(&snap.keys[i], w, sizeof w);
    }
    if (seq.load(std::memory_order_relaxed) == s1) {
      snap.n = n;
      return;
    }
  }
}
}  // namespace

void TicketKeyRing::rotate() noexcept {
  Snapshot snap;
  read_ring(seq_, words_, count_, snap);
  TicketKey next[kMaxKeys];
  next[0] = random_key();
  std::size_t n = 1;
  for (std::size_t i = 0; i < snap.n && n < kMaxKeys; ++i) next[n++] = snap.keys[i];
  store(next, n);
  rotations_.fetch_add(1, std::memory_order_relaxed);
}

bool TicketKeyRing::parse_keys(std::string_view text, std::vector<TicketKey>& out, std::string& error) {
  out.clear();
  std::vector<TicketKey> keys;
  std::vector<std::uint8_t> raw;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    std::size_t nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    std::string where = "line " + std::to_string(line_no) + ": ";
    if (!b64_decode(line, raw)) {
      error = where + "bad base64";
      return false;
    }
    if (raw.size() != 48 && raw.size() != 80) {
      error = where + std::to_string(raw.size()) + " bytes, expected 48 or 80";
      return false;
    }
    // Lines past kMaxKeys are still validated (a typo anywhere is reported) but not used.
    TicketKey k;
    if (!key_from_bytes(raw, k)) {
      error = where + "key derivation failed";
      return false;
    }
    if (keys.size() < kMaxKeys) keys.push_back(k);
  }
  if (keys.empty()) {
    error = "no key";
    return false;
  }
  out = std::move(keys);
  return true;
}

bool TicketKeyRing::load_file(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  std::string text(kMaxKeyFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) {
    error = path + ": read error";
    return false;
  }
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxKeyFileBytes) {
    error = path + ": larger than " + std::to_string(kMaxKeyFileBytes) + " bytes";
    return false;
  }
  std::vector<TicketKey> keys;
  std::string perr;
  if (!parse_keys(text, keys, perr)) {
    error = path + ": " + perr;
    return false;
  }
  bool changed = !same_key(keys[0], current());
  store(keys.data(), keys.size());
  if (changed) rotations_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

TicketKey TicketKeyRing::current() const noexcept {
  Snapshot snap;
  read_ring(seq_, words_, count_, snap);
  return snap.keys[0];  // count_ >= 1 after construction
}

bool TicketKeyRing::find(const std::uint8_t name[16], TicketKey& out, bool& is_current) const noexcept {
  Snapshot snap;
  read_ring(seq_, words_, count_, snap);
  for (std::size_t i = 0; i < snap.n; ++i) {
    if (std::memcmp(snap.keys[i].name, name, 16) == 0) {
      out = snap.keys[i];
      is_current = i == 0;
      return true;
    }
  }
  return false;
}

std::size_t TicketKeyRing::size() const noexcept {
  Snapshot snap;
  read_ring(seq_, words_, count_, snap);
  return snap.n;
}

bool TicketKeyRing::encrypt(std::uint8_t name[16], std::uint8_t iv[16], std::uint8_t mac[32],
                            std::uint8_t* ticket, int len) const noexcept {
  if (len < 0 || (ticket == nullptr && len > 0)) return false;
  TicketKey k = current();
  std::memset(iv, 0, 16);
  if (!random_bytes(iv, CHACHA20_POLY1305_AEAD_IV_SIZE)) return false;
  std::memcpy(name, k.name, 16);
  std::uint8_t aad[32];
  std::memcpy(aad, name, 16);
  std::memcpy(aad + 16, iv, 16);
  std::uint8_t empty = 0;
  std::uint8_t* buf = ticket != nullptr ? ticket : &empty;
  std::memset(mac, 0, 32);
  int rc = wc_ChaCha20Poly1305_Encrypt(k.secret, iv, aad, sizeof aad, buf, static_cast<word32>(len), buf, mac);
  std::memset(&k, 0, sizeof k);
  return rc == 0;
}

int TicketKeyRing::open(const std::uint8_t name[16], const std::uint8_t iv[16], const std::uint8_t mac[32],
                        std::uint8_t* ticket, int len) const noexcept {
  if (len < 0 || (ticket == nullptr && len > 0)) return -1;
  TicketKey k;
  bool is_current = false;
  if (!find(name, k, is_current)) return -1;
  std::uint8_t aad[32];
  std::memcpy(aad, name, 16);
  std::memcpy(aad + 16, iv, 16);
  std::uint8_t empty = 0;
  std::uint8_t* buf = ticket != nullptr ? ticket : &empty;
  // Verifies the tag (constant time) before reporting success; on failure the buffer holds
  // garbage, which the caller discards with the ticket.
  int rc = wc_ChaCha20Poly1305_Decrypt(k.secret, iv, aad, sizeof aad, buf, static_cast<word32>(len), mac, buf);
  std::memset(&k, 0, sizeof k);
  if (rc != 0) return -1;
  return is_current ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// SessionCache

namespace {
constexpr std::size_t kMaxStripes = 64;
constexpr std::size_t kEntriesPerStripe = 8;
constexpr std::size_t kMaxSessionBytes = 4096;  // bigger sessions are not cached: memory stays bounded
constexpr std::size_t kMaxIdBytes = 32;

// FNV-1a: picks the stripe; independent of the per-stripe map's hash so one stripe's keys do not
// all collide in its buckets.
std::uint64_t fnv1a(std::span<const std::uint8_t> id) noexcept {
  std::uint64_t h = 1469598103934665603ull;
  for (std::uint8_t b : id) h = (h ^ b) * 1099511628211ull;
  return h;
}

std::string_view as_view(std::span<const std::uint8_t> id) noexcept {
  return {reinterpret_cast<const char*>(id.data()), id.size()};
}

bool valid_id(std::span<const std::uint8_t> id) noexcept {
  return !id.empty() && id.size() <= kMaxIdBytes;
}
}  // namespace

// Entries in insertion order (front = oldest; a replace moves to the back), indexed by id. Map
// keys are views into the list nodes' id strings, which never move while the node lives.
struct SessionCache::Stripe {
  struct Entry {
    std::string id;
    std::uint64_t stored_at_s;
    std::vector<std::uint8_t> bytes;
  };
  std::mutex mu;
  std::size_t cap = 0;
  std::list<Entry> fifo;
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index;

  void erase(std::list<Entry>::iterator it) {
    index.erase(std::string_view(it->id));
    fifo.erase(it);
  }
};

SessionCache::SessionCache(std::size_t entries, std::uint32_t lifetime_s)
    : capacity_(entries), lifetime_s_(lifetime_s) {
  if (entries == 0) return;
  stripe_count_ = std::min(kMaxStripes, std::max<std::size_t>(1, entries / kEntriesPerStripe));
  stripes_ = std::make_unique<Stripe[]>(stripe_count_);
  // Spread the remainder so the stripes' capacities add up to exactly `entries`.
  for (std::size_t i = 0; i < stripe_count_; ++i)
    stripes_[i].cap = entries / stripe_count_ + (i < entries % stripe_count_ ? 1 : 0);
}

SessionCache::~SessionCache() = default;

void SessionCache::put(std::span<const std::uint8_t> id, std::span<const std::uint8_t> session,
                       std::uint64_t now_s) {
  if (stripe_count_ == 0 || !valid_id(id) || session.size() > kMaxSessionBytes) return;
  Stripe& st = stripes_[fnv1a(id) % stripe_count_];
  std::lock_guard lock(st.mu);
  if (auto hit = st.index.find(as_view(id)); hit != st.index.end()) {
    auto it = hit->second;
    it->stored_at_s = now_s;
    it->bytes.assign(session.begin(), session.end());
    st.fifo.splice(st.fifo.end(), st.fifo, it);
    stores_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // Expired entries at the front leave silently; live ones pushed out count as evictions.
  while (!st.fifo.empty() && now_s >= st.fifo.front().stored_at_s + lifetime_s_) st.erase(st.fifo.begin());
  if (st.fifo.size() >= st.cap) {
    st.erase(st.fifo.begin());
    evictions_.fetch_add(1, std::memory_order_relaxed);
  }
  st.fifo.push_back(Stripe::Entry{std::string(as_view(id)), now_s, {session.begin(), session.end()}});
  auto it = std::prev(st.fifo.end());
  st.index.emplace(std::string_view(it->id), it);
  stores_.fetch_add(1, std::memory_order_relaxed);
}

bool SessionCache::get(std::span<const std::uint8_t> id, std::vector<std::uint8_t>& out, std::uint64_t now_s) {
  if (stripe_count_ == 0 || !valid_id(id)) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  Stripe& st = stripes_[fnv1a(id) % stripe_count_];
  std::lock_guard lock(st.mu);
  auto hit = st.index.find(as_view(id));
  if (hit == st.index.end()) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  auto it = hit->second;
  if (now_s >= it->stored_at_s + lifetime_s_) {
    st.erase(it);
    misses_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  out.assign(it->bytes.begin(), it->bytes.end());
  hits_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void SessionCache::remove(std::span<const std::uint8_t> id) {
  if (stripe_count_ == 0 || !valid_id(id)) return;
  Stripe& st = stripes_[fnv1a(id) % stripe_count_];
  std::lock_guard lock(st.mu);
  if (auto hit = st.index.find(as_view(id)); hit != st.index.end()) st.erase(hit->second);
}

std::size_t SessionCache::size() const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < stripe_count_; ++i) {
    std::lock_guard lock(stripes_[i].mu);
    n += stripes_[i].fifo.size();
  }
  return n;
}

}  // namespace ringgate::tls
