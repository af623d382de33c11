// Handshake mode (`ringgate-load handshake`): TLS handshakes per second, full vs resumed. Each
// worker owns a share of the C concurrent slots; a slot loops connect -> TLS handshake -> (TLS 1.3
// with --resume tickets: wait for a NewSessionTicket) -> save the session -> close_notify -> close,
// then starts over in the same fixed-file slot, offering the session it saved last time.
//
// Latency is the TLS handshake alone: from queuing the ClientHello (TCP already connected) to the
// handshake completing on the client. Only handshakes that complete in the measure phase count
// (and only failures in it); warm-up cycles prime the resumption state. A slot reuses its fixed
// index across cycles; the client engine it drives (engine.hpp, shared with echo/hold/fanout)
// carries the slot's generation in every user_data, so completions from an earlier cycle are
// dropped (their provided buffers still recycled).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "histogram.hpp"
#include "ringgate/tls/session.hpp"
#include "worker.hpp"

namespace ringgate::load {

struct HandshakeStats {
  Histogram latency_ns;
  std::uint64_t handshakes = 0, full = 0, resumed = 0, failures = 0;
  std::uint64_t ticket_waits_expired = 0;  // TLS 1.3: no ticket within the wait; resumption not offered
  std::uint64_t causes[kCauses] = {};
  std::uint64_t tls_failures[tls::kFailureCount] = {};  // tls_handshake split by reason

  void merge(const HandshakeStats& o) noexcept;
};

struct HandshakeProgress {
  std::atomic<std::uint64_t> handshakes{0}, failed{0}, live{0};
};

class HandshakeWorker {
 public:
  HandshakeWorker(WorkerShared& shared, unsigned id, std::uint32_t slots);
  ~HandshakeWorker();
  void start();
  void join();
  const HandshakeProgress& progress() const noexcept { return progress_; }
  // Valid after join():
  const HandshakeStats& stats() const noexcept { return stats_; }
  const std::string& fatal() const noexcept { return fatal_; }

 private:
  class Impl;
  WorkerShared& shared_;
  unsigned id_;
  std::uint32_t slots_;
  std::thread thread_;
  HandshakeProgress progress_;
  HandshakeStats stats_;
  std::string fatal_;
  friend class Impl;
};

}  // namespace ringgate::load
