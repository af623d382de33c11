// TLS layer of one ringgate-load connection (wss://), between the ring and the WebSocket layer.
// Ciphertext from a recv completion goes in through receive(); the session's records (ClientHello,
// Finished, encrypted frames, alerts, close_notify) collect in wire(), which the worker sends with
// its ordinary send path. Plaintext the WebSocket layer queued is encrypted by encrypt() just
// before a send, so a whole batch of frames becomes one record and no extra copy is kept.
//
// Invariants: a TlsConn never moves (the session's Output points at it), so it lives behind a
// unique_ptr; receive() lends the recv buffer to the session only for the duration of the call
// (the fed span is always dropped before returning), so the caller may recycle the buffer then.
// Errors are values: a peer's garbage fails the connection, never the process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "options.hpp"
#include "ringgate/tls/session.hpp"

namespace ringgate::load {

// The client context for every connection of a run, from --tls-version/--ciphers/--no-tickets.
// nullptr with `why` when wolfSSL refuses the settings (e.g. an unknown cipher list).
std::shared_ptr<tls::ClientContext> make_client_context(const Options& o, std::string& why);

class TlsConn {
 public:
  enum class In : std::uint8_t {
    ok,      // everything fed was consumed
    closed,  // the peer sent close_notify
    failed,  // handshake or record failure: see failure()
  };

  TlsConn() noexcept = default;
  TlsConn(const TlsConn&) = delete;
  TlsConn& operator=(const TlsConn&) = delete;

  // Creates the session and queues the ClientHello into wire(). `sni` empty = none.
  bool start(const std::shared_ptr<tls::ClientContext>& ctx, const std::string& sni,
             std::span<const std::uint8_t> resume, std::uint64_t now_ns) noexcept;

  // Feeds ciphertext. While the handshake runs it advances it and calls on_handshake() once it
  // completes; afterwards it decrypts into `scratch` and calls on_plain(data, n) per chunk. Either
  // callback returns false to stop (the connection was torn down), which returns ok at once.
  template <class OnHandshake, class OnPlain>
  In receive(std::span<const std::uint8_t> in, std::span<std::uint8_t> scratch, OnHandshake&& on_handshake,
             OnPlain&& on_plain) noexcept;

  // Encrypts `plain` into wire(); false when the session could not (then the connection fails).
  bool encrypt(std::span<const std::uint8_t> plain) noexcept;
  // Queues close_notify once; true when it was queued by this call (wire() then has it).
  bool queue_close_notify() noexcept;

  std::vector<std::uint8_t>& wire() noexcept { return wire_; }
  bool handshake_done() const noexcept { return done_; }
  bool notify_queued() const noexcept { return notify_queued_; }
  // Ciphertext inputs (recv batches, or the rest of the batch that completed the handshake) seen
  // after the handshake: a TLS 1.3 NewSessionTicket can only have come with one of them.
  std::uint32_t inputs_after_handshake() const noexcept { return after_; }
  std::uint64_t started_ns() const noexcept { return started_ns_; }
  tls::Failure failure() const noexcept { return session_.failure(); }
  tls::Session& session() noexcept { return session_; }
  const tls::Session& session() const noexcept { return session_; }

 private:
  static bool on_output(void* self, const std::uint8_t* data, std::size_t len) noexcept;
  In drain(std::span<std::uint8_t> scratch, bool (*plain)(void*, std::uint8_t*, std::size_t), void* ctx) noexcept;

  tls::Session session_;
  std::vector<std::uint8_t> wire_;
  std::uint64_t started_ns_ = 0;
  std::uint32_t after_ = 0;
  bool done_ = false, notify_queued_ = false;
};

template <class OnHandshake, class OnPlain>
TlsConn::In TlsConn::receive(std::span<const std::uint8_t> in, std::span<std::uint8_t> scratch,
                             OnHandshake&& on_handshake, OnPlain&& on_plain) noexcept {
  session_.feed(in);
  if (!done_) {
    tls::Status s = session_.handshake();
    if (s == tls::Status::failed || s == tls::Status::closed) {
      session_.feed({});
      return s == tls::Status::closed ? In::closed : In::failed;
    }
    if (s == tls::Status::again) {
      session_.feed({});
      return In::ok;
    }
    done_ = true;
    if (session_.input_left() > 0) ++after_;
    if (!on_handshake()) {
      session_.feed({});
      return In::ok;
    }
  } else if (!in.empty()) {
    ++after_;
  }
  auto trampoline = [](void* f, std::uint8_t* p, std::size_t n) noexcept {
    return (*static_cast<std::remove_reference_t<OnPlain>*>(f))(p, n);
  };
  return drain(scratch, trampoline, &on_plain);
}

}  // namespace ringgate::load
