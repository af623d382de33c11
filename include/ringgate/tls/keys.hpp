// Process-wide resumption state shared by every worker: the session-ticket key ring and the
// TLS 1.2 session-ID cache. Both are read on worker threads during handshakes and written rarely
// (rotation, SIGHUP) from the main thread, so readers never block on a writer for long.
//
// Ticket keys: a ring of up to kMaxKeys keys, newest first. Key 0 encrypts new tickets; every key
// decrypts. A ticket under an older key is accepted and the client gets a fresh one (so a
// rotation never costs a full handshake). Rotation either generates a random key (default) or
// re-reads a file shared by several gateways (--tls-ticket-keys), so gateways behind one
// balancer resume each other's sessions.
//
// Key file: one key per line, base64 of 48 bytes (16-byte name, 32-byte secret) or 80 bytes
// (nginx/HAProxy layout: 16-byte name, 32-byte HMAC secret, 32-byte AES secret; we use the name
// and derive our AEAD key from the remaining 64 bytes). The FIRST line encrypts; the others only
// decrypt. Blank lines and lines starting with '#' are ignored. At most kMaxKeys lines are used.
//
// Session cache: the TLS 1.2 session-ID cache behind wolfSSL's external cache callbacks (the
// built-in cache holds 33 entries). Striped: the id picks a stripe, each stripe has its own lock
// and its own slice of the capacity, evicting its oldest entry. A peer that vanished without
// close_notify never removes its session (the field report behind this design): entries leave
// only by age or by eviction.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ringgate::tls {

struct TicketKey {
  std::uint8_t name[16];
  std::uint8_t secret[32];  // ChaCha20-Poly1305 key
};

class TicketKeyRing {
 public:
  static constexpr std::size_t kMaxKeys = 4;

  // Starts with one random key.
  TicketKeyRing() noexcept;
  TicketKeyRing(const TicketKeyRing&) = delete;
  TicketKeyRing& operator=(const TicketKeyRing&) = delete;

  // Writer side (one thread at a time; the main thread). rotate(): a new random key in front, the
  // oldest beyond kMaxKeys dropped. load_file(): replaces the ring with the file's keys; false
  // (ring unchanged, `error` set) on a missing file, bad base64, a wrong length or no key.
  // Both count a rotation when the encrypting key changed.
  void rotate() noexcept;
  bool load_file(const std::string& path, std::string& error);
  // Parses key-file text (exposed for tests); false with `error` on bad input.
  static bool parse_keys(std::string_view text, std::vector<TicketKey>& out, std::string& error);

  // Reader side (any thread, lock-free: a sequence lock; readers retry while a write is in
  // progress). The encrypting key; the key with this name (is_current: it is key 0).
  TicketKey current() const noexcept;
  bool find(const std::uint8_t name[16], TicketKey& out, bool& is_current) const noexcept;

  // Ticket body crypto for wolfSSL's ticket callback (tls/context.cpp). encrypt(): seals
  // ticket[0..len) in place with the current key, filling name, iv (16 B, 12 used) and mac
  // (32 B, 16 used: the Poly1305 tag; authenticated data = name + iv). open(): the reverse;
  // returns 0 = ok (current key), 1 = ok but renew (an older key), -1 = unknown key or bad tag.
  bool encrypt(std::uint8_t name[16], std::uint8_t iv[16], std::uint8_t mac[32], std::uint8_t* ticket,
               int len) const noexcept;
  int open(const std::uint8_t name[16], const std::uint8_t iv[16], const std::uint8_t mac[32],
           std::uint8_t* ticket, int len) const noexcept;

  std::size_t size() const noexcept;
  std::uint64_t rotations() const noexcept { return rotations_.load(std::memory_order_relaxed); }

 private:
  void store(const TicketKey* keys, std::size_t n) noexcept;

  // Sequence lock: odd while the writer is copying. Keys are stored as atomic words so a reader
  // racing a writer reads torn-but-discarded data without undefined behaviour.
  mutable std::atomic<std::uint64_t> seq_{0};
  std::atomic<std::uint64_t> words_[kMaxKeys][6];  // 48 bytes per key
  std::atomic<std::uint32_t> count_{0};
  std::atomic<std::uint64_t> rotations_{0};
};

class SessionCache {
 public:
  // `entries` in total over all stripes (0 = disabled), each kept at most `lifetime_s`.
  SessionCache(std::size_t entries, std::uint32_t lifetime_s);
  ~SessionCache();
  SessionCache(const SessionCache&) = delete;
  SessionCache& operator=(const SessionCache&) = delete;

  // id: 1..32 bytes. put() replaces an entry with the same id. get() copies the entry's bytes.
  void put(std::span<const std::uint8_t> id, std::span<const std::uint8_t> session, std::uint64_t now_s);
  bool get(std::span<const std::uint8_t> id, std::vector<std::uint8_t>& out, std::uint64_t now_s);
  void remove(std::span<const std::uint8_t> id);

  std::size_t capacity() const noexcept { return capacity_; }
  std::size_t size() const;
  std::uint64_t hits() const noexcept { return hits_.load(std::memory_order_relaxed); }
  std::uint64_t misses() const noexcept { return misses_.load(std::memory_order_relaxed); }
  std::uint64_t stores() const noexcept { return stores_.load(std::memory_order_relaxed); }
  std::uint64_t evictions() const noexcept { return evictions_.load(std::memory_order_relaxed); }

 private:
  struct Stripe;
  std::size_t capacity_;
  std::uint32_t lifetime_s_;
  std::unique_ptr<Stripe[]> stripes_;
  std::size_t stripe_count_ = 0;
  std::atomic<std::uint64_t> hits_{0}, misses_{0}, stores_{0}, evictions_{0};
};

}  // namespace ringgate::tls
