// ClientEngine: the one io_uring client core of ringgate-load. Both modes drive it: the WebSocket
// connections of echo/hold/fanout (worker.cpp) and the TLS handshake cycle (handshake.cpp); what a
// mode does with its connections is the layer above (an EngineDriver).
//
// The engine owns one ring with a sparse fixed-file table, one provided-buffer ring, and per slot
// the transport state: the generation, whether a connect / multishot recv / send is in flight, the
// bytes being sent, and the connect deadline. A slot's socket is created as an ordinary fd, bound to
// a source address 127.0.0.(2 + source % --src-spread) with IP_BIND_ADDRESS_NO_PORT (the port is
// picked at connect, so each source address has its own ephemeral range), parked in fixed slot `c`
// and its fd closed at once: only the ring's table (<= RLIMIT_NOFILE slots) bounds a worker.
//
// Every operation carries (kind, the slot's generation, slot) in its user_data (net/user_data.hpp).
// The generation advances when a slot is opened and when its close completes, so a completion of an
// earlier use of the slot reaches no driver (its provided buffer is still recycled). The driver is
// called only for the slot's current generation; data, EOF and send results only while active(c).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "options.hpp"
#include "ringgate/net/buffer_ring.hpp"
#include "ringgate/net/ring.hpp"
#include "tls_conn.hpp"

namespace ringgate::load {

// The load generator's io_uring operation kinds (the `kind` of net::make_ud).
enum class Op : std::uint8_t { connect = 1, recv = 2, send = 3, close = 4, cancel = 5 };

class EngineDriver {
 public:
  // The slot's socket is in use: its received bytes, EOF and send results matter.
  virtual bool active(std::uint32_t c) const noexcept = 0;
  virtual void on_connect(std::uint32_t c, int res) noexcept = 0;
  virtual void on_data(std::uint32_t c, std::uint8_t* p, std::size_t n) noexcept = 0;
  virtual void on_eof(std::uint32_t c) noexcept = 0;            // the recv ended: EOF, reset, error
  virtual void on_sent(std::uint32_t c, int res) noexcept = 0;  // all of a send left (>= 0) or it failed
  virtual void on_deadline(std::uint32_t c) noexcept = 0;       // one added by open() or add_deadline()
  // The slot's close completed and none of its sends is still in flight: it may be opened again.
  virtual void on_closed(std::uint32_t) noexcept {}
  virtual void on_batch_begin() noexcept {}  // before each batch of completions (now() just moved)
  virtual void on_batch_end() noexcept {}    // after each batch

 protected:
  ~EngineDriver() = default;
};

struct EngineConfig {
  unsigned fixed_files = 0, sq_entries = 0, cq_entries = 0;
  std::uint32_t buffers = 0;  // provided buffers of 4 KiB (a power of two)
};

class ClientEngine {
 public:
  enum class Opened : std::uint8_t { ok, setup_failed, submit_failed };

  ClientEngine(EngineDriver& driver, const Options& o, std::uint32_t slots);
  bool init(const EngineConfig& cfg, std::string& why) noexcept;

  // A new use of slot c: socket, source address, fixed slot, connect, connect deadline.
  Opened open(std::uint32_t c, std::uint64_t source, bool sockbuf) noexcept;
  void arm_recv(std::uint32_t c) noexcept;
  // Sends `wire` (swapped out, left empty) unless a send is in flight or there is nothing to send.
  void send(std::uint32_t c, std::vector<std::uint8_t>& wire) noexcept;
  // Cancels the connect and recv in flight (and the send, when asked) and closes the fixed slot.
  void close(std::uint32_t c, bool cancel_send) noexcept;
  bool send_busy(std::uint32_t c) const noexcept { return slots_[c].send_busy; }
  void add_deadline(std::uint32_t c, std::uint64_t at) { deadlines_.push_back({at, c, slots_[c].gen}); }
  // A released connection's TLS session: it may be inside its receive(), so freed at end_turn().
  void retire(std::unique_ptr<TlsConn> t) { graveyard_.push_back(std::move(t)); }
  std::span<std::uint8_t> scratch() noexcept { return plain_; }  // decrypted bytes of one TLS read

  std::uint64_t now() const noexcept { return now_; }
  std::uint64_t tick() noexcept;  // reads the clock into now()
  // Submits, waits up to wait_ns, dispatches every completion, then the expired deadlines.
  void poll(std::uint64_t wait_ns) noexcept;
  // Hands the recycled buffers back, frees retired sessions, re-arms recvs that ran out of buffers.
  void end_turn() noexcept;

 private:
  struct Slot {
    std::uint32_t gen = 0, send_off = 0;
    bool connecting = false, recv_armed = false, send_busy = false, rearm = false, closing = false;
    bool reopen_after_send = false;  // closed while a send was in flight: its buffer is still lent
    std::vector<std::uint8_t> sending;
  };
  struct Deadline {
    std::uint64_t at;
    std::uint32_t c, gen;
  };

  std::uint64_t ud(Op op, std::uint32_t c) const noexcept;
  bool setup_socket(std::uint32_t c, std::uint64_t source, bool sockbuf) noexcept;
  void start_send(std::uint32_t c) noexcept;
  void dispatch(const net::Completion& cq) noexcept;
  void on_recv(std::uint32_t c, std::uint32_t gen, const net::Completion& cq) noexcept;
  void on_send(std::uint32_t c, std::uint32_t gen, int res) noexcept;
  void closed(std::uint32_t c) noexcept;
  void expire() noexcept;

  EngineDriver& d_;
  const Options& o_;
  net::Ring ring_;
  net::BufferRing bufs_;
  std::vector<Slot> slots_;
  std::deque<Deadline> deadlines_;
  std::vector<std::uint32_t> rearm_;
  std::vector<std::unique_ptr<TlsConn>> graveyard_;
  std::uint8_t plain_[16384 + 256];
  std::uint64_t now_ = 0;
};

}  // namespace ringgate::load
