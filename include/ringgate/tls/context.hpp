// TLS contexts: what is shared read-only by every session of a listener (certificates, ALPN,
// ciphers, resumption callbacks), and the client side used by ringgate-load and the tests.
//
// A ServerContext holds one wolfSSL context per certificate; the first is the default and the
// others are chosen by SNI (exact DNS name from the certificate's SAN/CN, or a "*.example.com"
// wildcard matching one label). All of them share the ticket-key ring and the session cache
// (process-wide, see keys.hpp), so a session resumes on any worker and after a SIGHUP reload.
// Contexts are immutable once built; a reload builds new ones and swaps them in (ContextSlot);
// sessions keep the context they started with alive (wolfSSL reference counts its contexts).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace ringgate::tls {

class TicketKeyRing;
class SessionCache;

inline constexpr std::uint16_t kTls12 = 0x0303;
inline constexpr std::uint16_t kTls13 = 0x0304;

// The default cipher list: AEAD suites with forward secrecy only (TLS 1.3 suites are always on).
extern const char* const kDefaultCiphers;

struct CertFiles {
  std::string cert;  // PEM chain, leaf first
  std::string key;   // PEM private key
};

struct ServerOptions {
  std::vector<CertFiles> certs;               // at least one; the first is the default
  std::string ciphers;                        // empty = kDefaultCiphers
  std::vector<std::string> alpn{"http/1.1"};  // offered in order; a client without ALPN is fine
  std::uint16_t min_version = kTls12;
  std::uint16_t max_version = kTls13;
  TicketKeyRing* tickets = nullptr;           // nullptr = no session tickets
  SessionCache* cache = nullptr;              // nullptr = no session-ID resumption
  std::uint32_t session_lifetime_s = 7200;    // ticket and cache lifetime hint
};

class ServerContext {
 public:
  // Loads certificates and keys; nullptr with `error` naming the file and the reason.
  static std::shared_ptr<ServerContext> create(const ServerOptions& options, std::string& error);
  ~ServerContext();
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  // For Session: the default wolfSSL context (WOLFSSL_CTX*), kept opaque here.
  void* native() const noexcept;
  // DNS names each certificate answers for (index = certs order), for logs and tests.
  const std::vector<std::vector<std::string>>& names() const noexcept;

  struct Impl;

 private:
  explicit ServerContext(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

// A listener's current context. The main thread swaps it on SIGHUP; workers check generation()
// (one relaxed load per accept) and take a new reference only when it changed.
class ContextSlot {
 public:
  void set(std::shared_ptr<ServerContext> ctx);
  std::shared_ptr<ServerContext> get() const;
  std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<ServerContext> ctx_;
  std::atomic<std::uint64_t> generation_{0};
};

struct ClientOptions {
  std::uint16_t min_version = kTls12;
  std::uint16_t max_version = kTls13;
  std::string ciphers;        // empty = library default
  bool tickets = true;        // false: no ticket extension (TLS 1.2 then resumes by session ID)
  bool verify = false;        // verify the server certificate against `ca_file`
  std::string ca_file;
  std::vector<std::string> alpn{"http/1.1"};
};

class ClientContext {
 public:
  static std::shared_ptr<ClientContext> create(const ClientOptions& options, std::string& error);
  ~ClientContext();
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;
  void* native() const noexcept;

  struct Impl;

 private:
  explicit ClientContext(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

// wolfSSL's process-wide init/cleanup (idempotent; call before any context is created).
void global_init() noexcept;
// Frees wolfSSL's per-thread state (the ECC fixed-point cache); call at the end of every thread
// that ran handshakes.
void thread_cleanup() noexcept;

}  // namespace ringgate::tls
