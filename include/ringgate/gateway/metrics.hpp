// Per-worker counters. Each worker is the only writer of its own WorkerMetrics; the admin endpoint
// sums all workers' values when it renders /metrics (see render_metrics()).
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "ringgate/core/metrics.hpp"
#include "ringgate/http/request.hpp"
#include "ringgate/pubsub/metrics.hpp"
#include "ringgate/tls/ktls.hpp"
#include "ringgate/tls/session.hpp"

namespace ringgate::gateway {

// Close codes with their own label value; anything else is counted as "other".
inline constexpr std::array<std::uint16_t, 14> kCloseCodes = {1000, 1001, 1002, 1003, 1005, 1006, 1007,
                                                              1008, 1009, 1010, 1011, 1012, 1013, 1014};

// Outcomes of the PROXY-protocol stage; labels of ringgate_proxy_headers_total{result}.
enum class ProxyResult : std::uint8_t {
  accepted,    // a header from a trusted proxy, with an address
  local,       // a LOCAL / UNKNOWN header (health check): the TCP peer stays the client
  absent,      // --proxy-protocol optional and the connection started without one
  missing,     // --proxy-protocol required and a trusted peer sent none: closed
  untrusted,   // a header (or, when required, any connection) from outside --trusted-proxies: closed
  invalid,     // malformed header: closed
  too_large,   // header over the size bound: closed
  timeout,     // no complete header before the deadline: closed
  count_
};
std::string_view proxy_result_name(ProxyResult r) noexcept;

// Non-data records met under kTLS; labels of ringgate_tls_ktls_records_total{type}.
enum class KtlsRecord : std::uint8_t { close_notify, alert, key_update, renegotiation, other, count_ };

using pubsub::observe_us;

// Pub/sub's own set (pubsub/metrics.hpp) is a base, so its fields read as before
// (metrics_.pubsub_gaps) and the exchange writes them through a pubsub::Metrics&.
struct WorkerMetrics : pubsub::Metrics {
  Gauge connections_active;
  Gauge outbound_chunks;       // send-queue chunks and frame references held (set each loop turn)
  Counter connections_accepted;
  Counter accept_errors;
  Counter handshakes_completed;
  std::array<Counter, http::kRejectCount> handshakes_rejected;
  Counter messages_received, messages_sent;
  Counter bytes_received, bytes_sent;
  std::array<Counter, kCloseCodes.size() + 1> closes;  // last = other
  Counter recv_no_buffers;     // multishot recv stopped because the buffer ring was empty
  Counter backpressure_pauses; // reads paused because the outbound queue was over its limit
  Counter timeouts_handshake, timeouts_close, timeouts_pong, timeouts_idle, timeouts_lifetime;
  Counter pings_sent, pongs_received;
  // Pong round trip (ms resolution: the loop's clock), as a Prometheus histogram.
  static constexpr std::array<std::uint32_t, 9> kRttBucketsMs = {1, 5, 10, 25, 50, 100, 250, 1000, 5000};
  std::array<Counter, kRttBucketsMs.size()> pong_rtt_buckets;  // non-cumulative here
  Counter pong_rtt_count, pong_rtt_sum_ms;

  void observe_pong_rtt(std::uint32_t ms) noexcept {
    for (std::size_t i = 0; i < kRttBucketsMs.size(); ++i) {
      if (ms <= kRttBucketsMs[i]) {
        pong_rtt_buckets[i].add();
        break;
      }
    }
    pong_rtt_count.add();
    pong_rtt_sum_ms.add(ms);
  }
  Counter refusal_logs_suppressed;
  Counter redirects;  // --redirect-http answers
  std::array<Counter, std::size_t(ProxyResult::count_)> proxy_headers;
  Counter tls_full, tls_resumed;
  std::array<Counter, tls::kFailureCount> tls_failures;         // [0] unused (none)
  std::array<Counter, tls::kKtlsFallbackCount> ktls;             // [0] = installed
  std::array<Counter, std::size_t(KtlsRecord::count_)> ktls_records;
  Gauge tls_user_sessions;  // connections whose records wolfSSL handles in user space

  // The HTTP API (--api); pub/sub's counters are in the base.
  static constexpr std::array<int, 9> kApiStatuses = {200, 400, 401, 404, 405, 411, 413, 431, 503};
  std::array<Counter, kApiStatuses.size() + 1> api_requests;  // last = other
  void count_api(int status) noexcept {
    std::size_t i = 0;
    while (i < kApiStatuses.size() && kApiStatuses[i] != status) ++i;
    api_requests[i].add();
  }

  void count_close(std::uint16_t code) noexcept {
    for (std::size_t i = 0; i < kCloseCodes.size(); ++i) {
      if (kCloseCodes[i] == code) {
        closes[i].add();
        return;
      }
    }
    closes[kCloseCodes.size()].add();
  }
};

// Renders every worker's metrics, summed, in Prometheus text format. `ring_depth`: entries waiting
// in the cross-worker mailboxes now.
void render_metrics(std::span<const WorkerMetrics* const> workers, PromWriter& out, std::uint64_t ring_depth = 0);

}  // namespace ringgate::gateway
