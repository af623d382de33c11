// Worker::Impl (private to worker.cpp and worker_ws.cpp): the connections of one echo/hold/fanout
// worker, the layer above the shared client engine (engine.hpp). worker.cpp drives the engine
// (opening at --rate, completions, flush, phases, the loop); worker_ws.cpp is the WebSocket client
// (upgrade request, 101 check, masked frames, ping -> pong, the close handshake) and, with wss://,
// puts the TlsConn between the engine's bytes and all of that.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine.hpp"
#include "tls_conn.hpp"
#include "worker.hpp"

namespace ringgate::load {

enum class St : std::uint8_t { unused, connecting, tls, handshaking, open, closing, done };
constexpr bool pending(St s) noexcept { return s == St::connecting || s == St::tls || s == St::handshaking; }

struct Conn {
  St st = St::unused;
  bool dirty = false, close_sent = false, close_rcvd = false, failed = false;
  std::uint64_t started_ns = 0;
  std::size_t mask_at = 0;  // payload offset in `out` of the frame begun by Outbox::begin
  std::uint8_t key[4] = {};
  std::vector<std::uint8_t> out;
  std::unique_ptr<std::string> head;  // handshake: response bytes so far (freed when open)
  std::unique_ptr<std::string> wskey;
  std::unique_ptr<TlsConn> tls;  // wss:// only; `out` is then plaintext, tls->wire() ciphertext
  ws::Parser parser{ws::Role::client};
};

// Bytes ready for the socket: `out` for ws://, the TLS records for wss://.
inline std::vector<std::uint8_t>& wire_of(Conn& k) noexcept { return k.tls ? k.tls->wire() : k.out; }
inline bool has_output(const Conn& k) noexcept { return !k.out.empty() || (k.tls && !k.tls->wire().empty()); }

class Worker::Impl final : public Outbox, public EngineDriver {
 public:
  explicit Impl(Worker& w);

  ScenarioStats stats() const { return scenario_->stats(); }
  const Scenario* scenario() const noexcept { return scenario_.get(); }
  void run();

  // Outbox
  std::uint8_t* begin(std::uint32_t c, ws::Opcode op, std::size_t size) noexcept override;
  void commit(std::uint32_t c) noexcept override;

  // EngineDriver
  bool active(std::uint32_t c) const noexcept override {
    return conns_[c].st != St::done && conns_[c].st != St::unused;
  }
  void on_connect(std::uint32_t c, int res) noexcept override;
  void on_data(std::uint32_t c, std::uint8_t* p, std::size_t n) noexcept override;
  void on_eof(std::uint32_t c) noexcept override;
  void on_sent(std::uint32_t c, int res) noexcept override;
  void on_deadline(std::uint32_t c) noexcept override {
    if (pending(conns_[c].st)) fail(c, Cause::connect_timeout, true);
  }
  void on_batch_begin() noexcept override { scenario_->begin_turn(phase_, engine_.now()); }
  void on_batch_end() noexcept override { flush(); }

  // Parser sink
  struct Sink {
    Impl* self;
    std::uint32_t c;
    void on_data(ws::Opcode op, std::span<std::uint8_t> chunk, bool end) noexcept {
      self->scenario_->on_data(c, op, chunk, end, *self);
    }
    void on_ping(std::span<const std::uint8_t> p) noexcept { self->control(c, ws::Opcode::pong, p); }
    void on_pong(std::span<const std::uint8_t>) noexcept {}
    void on_close(std::uint16_t code, std::string_view) noexcept { self->on_close(c, code); }
  };

 private:
  // worker_ws.cpp: the WebSocket client
  std::uint8_t* frame(std::uint32_t c, ws::Opcode op, std::size_t size) noexcept;
  void control(std::uint32_t c, ws::Opcode op, std::span<const std::uint8_t> p) noexcept;
  void send_close(std::uint32_t c, std::uint16_t code) noexcept;
  void on_close(std::uint32_t c, std::uint16_t code) noexcept;
  void send_upgrade(std::uint32_t c) noexcept;
  void opened(std::uint32_t c) noexcept;
  void feed(std::uint32_t c, std::uint8_t* p, std::size_t n) noexcept;
  void on_bytes(std::uint32_t c, std::uint8_t* p, std::size_t n) noexcept;

  // worker.cpp: the connections over the engine
  void mark_dirty(std::uint32_t c) noexcept {
    Conn& k = conns_[c];
    if (!k.dirty) {
      k.dirty = true;
      dirty_.push_back(c);
    }
  }
  void count(Cause cause) noexcept { ++w_.causes_[int(cause)]; }
  void fail(std::uint32_t c, Cause cause, bool teardown) noexcept;
  void maybe_release(std::uint32_t c) noexcept;
  void release(std::uint32_t c) noexcept;
  void fail_all_unopened() noexcept;
  void open_one() noexcept;
  void open_more() noexcept;
  void flush() noexcept;
  void enter_phase(Phase seen) noexcept;
  void finish() noexcept;
  void publish_progress() noexcept;
  void loop();

  Worker& w_;
  const Options& opts_;
  ClientEngine engine_;
  std::unique_ptr<Scenario> scenario_;
  std::vector<Conn> conns_;
  std::vector<std::uint32_t> dirty_;
  std::uint32_t next_open_ = 0;
  std::uint32_t pending_ = 0;
  std::uint64_t seed_ = 1;
  Phase phase_ = Phase::connecting;
  ws::Limits limits_{};
};

}  // namespace ringgate::load
