// One TLS connection, driven without a socket: the worker hands it ciphertext that a ring recv
// delivered, and it emits ciphertext through an Output callback that the worker queues for a ring
// send. wolfSSL never blocks and never sees a descriptor (custom I/O callbacks).
//
// Input contract: feed(bytes) lends the session a span (not copied). The next handshake()/read()
// calls consume it; they return `again` only once the span is used up, so the caller may recycle
// its buffer then. Bytes of a record that is not complete yet move into wolfSSL's own buffer.
//
// The session also follows the record framing of everything fed to it, so the worker knows when
// the byte stream it has taken off the socket ends exactly on a record boundary: only then may
// the socket's receive side move to kernel TLS (nothing partial is stranded in user space).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "ringgate/tls/context.hpp"
#include "ringgate/tls/ktls.hpp"

namespace ringgate::tls {

// Where ciphertext goes. write() returns false when it could not take the bytes (out of memory):
// the session then fails.
struct Output {
  void* ctx = nullptr;
  bool (*write)(void* ctx, const std::uint8_t* data, std::size_t len) noexcept = nullptr;
};

enum class Status : std::uint8_t {
  again,   // needs more input (the fed span is used up)
  done,    // handshake complete (handshake()), or plaintext produced (read())
  closed,  // the peer sent close_notify
  failed,  // fatal: see failure(); an alert may have been queued to Output
};

// Why a handshake or a connection failed; the labels of ringgate_tls_handshake_failures_total.
enum class Failure : std::uint8_t {
  none,
  protocol,      // malformed record or handshake message, unexpected message, bad MAC
  version,       // no protocol version in common
  no_cipher,     // no cipher suite in common
  alert,         // the peer sent a fatal alert
  certificate,   // (client side) the peer's certificate was refused
  not_tls,       // the first bytes were not a TLS record (e.g. plain HTTP on a TLS port)
  resources,     // out of memory
  other,
};
std::string_view failure_name(Failure f) noexcept;
inline constexpr int kFailureCount = 9;

class Session {
 public:
  Session() noexcept = default;
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // False (with failure() = resources) when wolfSSL cannot allocate. The server session keeps
  // `ctx` alive. Client: `sni` may be null; `resume` is a saved session (see save()) or empty.
  bool init_server(std::shared_ptr<ServerContext> ctx, Output out) noexcept;
  bool init_client(std::shared_ptr<ClientContext> ctx, Output out, const char* sni,
                   std::span<const std::uint8_t> resume = {}) noexcept;

  void feed(std::span<const std::uint8_t> ciphertext) noexcept;
  std::size_t input_left() const noexcept { return in_len_; }

  // Advances the handshake with the fed input; output goes to Output.
  Status handshake() noexcept;
  bool handshake_done() const noexcept;
  // Decrypts into `out`; `produced` = plaintext bytes written. Returns done while it produced
  // something (call again), again when the input is used up, closed on close_notify.
  Status read(std::span<std::uint8_t> out, std::size_t& produced) noexcept;
  // Encrypts all of `plain` (split into records as needed) into Output.
  bool write(std::span<const std::uint8_t> plain) noexcept;
  // Queues our close_notify (once; later calls do nothing).
  bool close_notify() noexcept;

  Failure failure() const noexcept { return failure_; }
  bool resumed() const noexcept;
  std::uint16_t version() const noexcept;  // kTls12 / kTls13; 0 before the handshake is done
  std::string_view cipher_name() const noexcept;
  std::string_view alpn() const noexcept;
  std::string_view sni() const noexcept;
  // True when every byte fed so far has been consumed and ended on a TLS record boundary.
  bool at_record_boundary() const noexcept;

  // Keys for kernel TLS (after the handshake, after read() returned again): both directions with
  // the current sequence numbers. False with `why` when the suite cannot be offloaded.
  bool ktls_params(KtlsParams& out, KtlsFallback& why) const noexcept;

  // Client side: the session to resume later (serialized); empty on failure. For TLS 1.3 the
  // ticket arrives after the handshake, so call it after some read().
  std::vector<std::uint8_t> save() const;

 private:
  friend struct SessionIo;
  void* ssl_ = nullptr;  // WOLFSSL*
  std::shared_ptr<void> ctx_;  // ServerContext or ClientContext, kept alive
  Output out_{};
  const std::uint8_t* in_ = nullptr;
  std::size_t in_len_ = 0;
  // Record framing of the fed stream: header bytes seen of the current record (0..5), the
  // header itself, and body bytes still to come.
  std::uint8_t hdr_seen_ = 0;
  std::uint8_t hdr_[5]{};
  std::uint32_t body_left_ = 0;
  Failure failure_ = Failure::none;
  bool close_sent_ = false;
};

}  // namespace ringgate::tls
