// Worker: one thread driving one ClientEngine (engine.hpp: one io_uring with a sparse fixed-file
// table, one provided-buffer ring) for the connections assigned to it (global index
// j = local * workers + id, in fixed slot `local`, source address 127.0.0.(2 + j % spread)).
// Slots are never reused within a run, so a slot index names one connection for the whole run.
//
// The worker owns the handshake (101 + Sec-WebSocket-Accept checked), masking, ping -> pong and
// the close handshake (worker_ws.cpp); the Scenario decides the traffic. With wss:// a TlsConn
// (tls_conn.hpp) sits between the engine and all of that: the TLS handshake runs first (state tls),
// received ciphertext is decrypted before the HTTP/WebSocket layer sees it, queued bytes are
// encrypted at flush, and a clean close ends with our close_notify. Counters read by the main
// thread while the run is going are relaxed atomics; everything else is read only after join().
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "options.hpp"
#include "ringgate/tls/context.hpp"
#include "scenario.hpp"

namespace ringgate::load {

enum class Cause : std::uint8_t {
  socket_setup,        // socket/bind/register failed
  addr_not_available,  // EADDRNOTAVAIL: out of ephemeral ports for a source address
  refused,             // ECONNREFUSED
  connect_timeout,     // no 101 within --connect-timeout
  connect_error,       // any other connect errno
  handshake_status,    // response was not 101
  handshake_accept,    // missing or wrong Sec-WebSocket-Accept
  handshake_malformed, // response head unparsable or too large
  closed_early,        // TCP closed / reset before our close handshake
  protocol_error,      // server frame broke RFC 6455
  payload_mismatch,    // echo came back wrong
  send_error,
  close_timeout,       // our close frame was never answered
  tls_handshake,       // wss: the TLS handshake failed (alert, version, cipher, not TLS)
  tls_error,           // wss: a record failed after the handshake (bad MAC, alert)
  count_
};
const char* cause_name(Cause c) noexcept;
inline constexpr int kCauses = int(Cause::count_);

struct WorkerShared {
  const Options* opts = nullptr;
  std::shared_ptr<tls::ClientContext> tls;  // wss:// only
  std::atomic<Phase> phase{Phase::connecting};
  std::atomic<bool> stop{false};  // abort now (signal, fatal error)
  std::uint64_t start_ns = 0;
  // fanout: when publishing began (pacing origin) and when the measure window opened (0 = not yet).
  std::atomic<std::uint64_t> publish_ns{0}, measure_ns{0};
  unsigned workers = 1;
  unsigned slots = 0;
};

struct WorkerProgress {
  std::atomic<std::uint64_t> established{0}, failed{0}, live{0}, messages{0}, measured{0}, inflight{0};
  std::atomic<std::uint64_t> last_established_ns{0};
  // fanout (see ScenarioStats)
  std::atomic<std::uint64_t> subscribed{0}, sub_errors{0}, published{0}, acked{0}, pub_errors{0}, expected{0};
  std::atomic<std::uint64_t> last_sub_ns{0};
};

class Worker {
 public:
  Worker(WorkerShared& shared, unsigned id, std::uint32_t connections);
  ~Worker();
  void start();
  void join();
  const WorkerProgress& progress() const noexcept { return progress_; }
  // Valid after join():
  const ScenarioStats& stats() const noexcept;
  const Scenario* scenario() const noexcept;  // nullptr when the thread never ran
  const std::uint64_t* causes() const noexcept { return causes_; }
  const Histogram& establish_ns() const noexcept { return establish_ns_; }
  std::uint64_t closed_cleanly() const noexcept { return closed_cleanly_; }
  const std::string& fatal() const noexcept { return fatal_; }

 private:
  class Impl;
  WorkerShared& shared_;
  unsigned id_;
  std::uint32_t connections_;
  std::thread thread_;
  WorkerProgress progress_;
  std::unique_ptr<Impl> impl_;
  std::uint64_t causes_[kCauses] = {};
  Histogram establish_ns_;
  std::uint64_t closed_cleanly_ = 0;
  std::string fatal_;
  mutable ScenarioStats final_stats_;
  friend class Impl;
};

std::uint64_t now_ns() noexcept;
// Checks a complete response head (status line .. last header line, CRLF-terminated) against the
// key we sent. Returns -1 when it is a valid 101, else the int value of the failing Cause.
int check_handshake(std::string_view head, std::string_view key) noexcept;

}  // namespace ringgate::load
