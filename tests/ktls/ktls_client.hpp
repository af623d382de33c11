// A small TLS + WebSocket client for the kTLS end-to-end test: one loopback TCP socket driven by
// poll() (so a 1 MB echo can be sent and received at the same time without deadlocking on full
// socket buffers), a tls::Session in user space (the client side never uses kTLS), and just
// enough RFC 6455 to upgrade, send masked frames and read the server's unmasked ones.
// Every call takes a deadline and reports failure as false + a reason in why(); nothing throws
// past this interface and nothing blocks forever.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ringgate/tls/context.hpp"
#include "ringgate/tls/session.hpp"
#include "ringgate/ws/frame.hpp"

namespace ringgate::ktls_test {

inline constexpr int kIoTimeoutMs = 120000;  // TCG under load is slow; a hang still ends

struct Frame {
  ws::Opcode op = ws::Opcode::continuation;
  bool fin = false;
  std::vector<std::uint8_t> payload;
};

class Client {
 public:
  Client() = default;
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connect(std::uint16_t port);
  bool handshake(const std::shared_ptr<tls::ClientContext>& ctx);
  // GET /echo with a fixed key; checks the 101 and Sec-WebSocket-Accept.
  bool upgrade();
  bool send_frame(ws::Opcode op, std::span<const std::uint8_t> payload);
  // The next complete server frame (control frames included).
  bool next_frame(Frame& out);
  // Sends one binary message of n pattern bytes and checks the echoed message byte by byte.
  bool echo(std::size_t n, std::uint32_t seed);
  bool ping_pong();
  // Sends close 1000, expects the server's close 1000 and then its close_notify.
  bool ws_close();
  // Queues our close_notify (no WebSocket close) and waits until the server ends the connection.
  // answered = the server sent close_notify back before closing.
  bool tls_close_first(bool& answered);
  // Drops the TLS session (frees its memory) but keeps the socket open: for idle holds.
  void drop_session();
  void close_socket();

  tls::Session& session() noexcept { return *session_; }
  const std::string& why() const noexcept { return why_; }

 private:
  static bool on_output(void* self, const std::uint8_t* data, std::size_t len) noexcept;
  bool fail(std::string reason);
  // One poll round: sends pending ciphertext, receives and decrypts what arrived.
  bool pump(long long deadline_ms);
  bool flush(long long deadline_ms);
  bool take_frame(Frame& out);

  int fd_ = -1;
  std::unique_ptr<tls::Session> session_ = std::make_unique<tls::Session>();
  std::vector<std::uint8_t> wire_;   // ciphertext not yet sent
  std::size_t wire_off_ = 0;
  std::vector<std::uint8_t> plain_;  // plaintext received, not yet parsed
  std::size_t plain_off_ = 0;
  std::vector<std::uint8_t> rx_;     // recv scratch
  std::vector<std::uint8_t> dec_;    // decrypt scratch
  bool notify_ = false;  // the server's close_notify arrived
  bool eof_ = false;     // TCP FIN (or reset) from the server
  std::string why_;
};

// Deterministic payload bytes (xorshift), so a reordered or corrupted echo is caught.
std::vector<std::uint8_t> pattern(std::size_t n, std::uint32_t seed);
long long now_ms();

}  // namespace ringgate::ktls_test
