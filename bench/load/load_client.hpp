// Single-threaded epoll WebSocket load client: N non-blocking TCP_NODELAY connections, each doing
// the HTTP upgrade (random key, 101 + accept checked) and then either a closed echo loop with K
// messages in flight or nothing (idle hold). Outgoing frames are masked (one random mask key per
// payload variant, precomputed, so the client spends no CPU masking in the loop); every echoed
// frame is checked for opcode, length and content, in order, per connection.
// Invariant: a connection's echoes arrive in send order, so the expected payload of the next echo
// is a pure function of (connection id, echo sequence number).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "histogram.hpp"

namespace load {

struct Target {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string path = "/echo";
  std::string host_port;  // for the Host header
};

struct ClientConfig {
  Target target;
  int connections = 100;
  size_t size = 16;
  int inflight = 1;
  bool binary = false;
  int connect_concurrency = 256;
  int src_spread = 0;  // >0: bind sources to 127.0.0.2 .. 127.0.0.(1+src_spread)
  bool traffic = true;  // false: hold mode (no messages)
};

struct Errors {
  uint64_t connect_failed = 0;
  uint64_t handshake_failed = 0;
  uint64_t protocol_error = 0;
  uint64_t payload_mismatch = 0;
  uint64_t unexpected_close = 0;  // server ended an open connection
  uint64_t io_error = 0;
  uint64_t close_unclean = 0;     // during our close: TCP ended without a close frame
  uint64_t close_timeout = 0;
  std::string first;              // first error, for diagnosis

  uint64_t total() const noexcept {
    return connect_failed + handshake_failed + protocol_error + payload_mismatch + unexpected_close +
           io_error + close_unclean + close_timeout;
  }
};

struct WindowStats {
  uint64_t messages = 0;
  uint64_t bytes = 0;  // echoed payload bytes received
  Histogram latency_ns;
};

class LoadClient {
 public:
  explicit LoadClient(ClientConfig cfg);
  ~LoadClient();
  LoadClient(const LoadClient&) = delete;
  LoadClient& operator=(const LoadClient&) = delete;

  // Connects and upgrades every connection; returns when all finished or deadline passed.
  void connect_all(double timeout_s) noexcept;
  // Queues K messages on every open connection (echo mode).
  void start_traffic() noexcept;
  // Runs the event loop until the monotonic deadline (ns).
  void run_until(uint64_t deadline_ns) noexcept;
  // Stops sending, sends close 1000 everywhere, waits for the close handshakes.
  void close_all(double timeout_s) noexcept;

  void reset_window() noexcept { window_ = WindowStats{}; }
  const WindowStats& window() const noexcept { return window_; }
  const Errors& errors() const noexcept { return errors_; }
  int open_count() const noexcept { return open_; }
  int established_total() const noexcept { return established_; }
  uint64_t clean_closes() const noexcept { return clean_closes_; }
  uint64_t total_echoes() const noexcept { return total_echoes_; }

 private:
  struct Conn;
  enum class St : uint8_t { Idle, Connecting, Handshaking, Open, Closing, Done };

  void build_payloads();
  void start_connect(uint32_t id) noexcept;
  void on_event(uint32_t id, uint32_t events) noexcept;
  void on_connected(Conn& c) noexcept;
  void on_readable(Conn& c) noexcept;
  bool on_handshake_bytes(Conn& c) noexcept;
  void parse_frames(Conn& c) noexcept;
  bool handle_frame(Conn& c, uint8_t opcode, const uint8_t* payload, size_t len) noexcept;
  bool verify_echo(Conn& c, uint8_t opcode, const uint8_t* payload, size_t len) noexcept;
  void queue_message(Conn& c) noexcept;
  void queue_control(Conn& c, uint8_t opcode, const uint8_t* payload, size_t len) noexcept;
  void flush(Conn& c) noexcept;
  void set_want_out(Conn& c, bool want) noexcept;
  void finish(Conn& c, bool clean) noexcept;
  void fail(Conn& c, uint64_t Errors::*counter, const char* what) noexcept;
  void poll_once(int timeout_ms) noexcept;

  ClientConfig cfg_;
  int epfd_ = -1;
  std::vector<Conn> conns_;
  std::vector<uint8_t> pattern_;  // payload variants are pattern_[v .. v+size)
  std::vector<uint8_t> frames_;   // precomputed masked frames, frame_len_ each
  size_t frame_len_ = 0;     // encoded length of one data frame
  size_t frame_stride_ = 0;  // spacing of the variants in frames_
  uint32_t in_cap_ = 0;
  uint64_t now_ns_ = 0;
  bool sending_ = false;
  uint32_t next_connect_ = 0;
  int connecting_ = 0;
  int open_ = 0;
  int established_ = 0;
  int finished_setup_ = 0;  // connections that reached Open or failed during setup
  uint64_t clean_closes_ = 0;
  uint64_t total_echoes_ = 0;
  bool measuring_ = false;
  WindowStats window_;
  Errors errors_;

 public:
  void set_measuring(bool m) noexcept { measuring_ = m; }
};

uint64_t now_ns() noexcept;

}  // namespace load
