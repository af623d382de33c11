#include "ringgate/gateway/metrics.hpp"

#include <cstdio>
#include <string>
#include <utility>

namespace ringgate::gateway {
namespace {
template <class Get>
std::uint64_t sum(std::span<const WorkerMetrics* const> workers, Get get) {
  std::uint64_t total = 0;
  for (const WorkerMetrics* w : workers) total += get(*w);
  return total;
}

void counter(PromWriter& out, std::span<const WorkerMetrics* const> ws, const char* name, const char* help,
             const Counter WorkerMetrics::*field) {
  out.family(name, "counter", help);
  out.sample(name, "", sum(ws, [&](const WorkerMetrics& m) { return (m.*field).get(); }));
}
template <std::size_t N>
void labelled(PromWriter& out, std::span<const WorkerMetrics* const> ws, const char* name, const char* label,
              const std::array<Counter, N> WorkerMetrics::*field, std::size_t first, auto name_of) {
  for (std::size_t i = first; i < N; ++i) {
    out.sample(name, std::string(label) + "=\"" + std::string(name_of(i)) + "\"",
               sum(ws, [&](const WorkerMetrics& m) { return (m.*field)[i].get(); }));
  }
}
}  // namespace

std::string_view proxy_result_name(ProxyResult r) noexcept {
  static constexpr std::string_view kNames[] = {"accepted", "local",     "absent",  "missing",
                                                "untrusted", "invalid", "too_large", "timeout"};
  return std::size_t(r) < std::size(kNames) ? kNames[std::size_t(r)] : "unknown";
}

void render_metrics(std::span<const WorkerMetrics* const> ws, PromWriter& out) {
  std::int64_t active = 0;
  for (const WorkerMetrics* w : ws) active += w->connections_active.get();
  out.family("ringgate_connections_active", "gauge", "Connections open now (any phase).");
  out.sample("ringgate_connections_active", "", std::uint64_t(active < 0 ? 0 : active));
  counter(out, ws, "ringgate_connections_accepted_total", "TCP connections accepted.",
          &WorkerMetrics::connections_accepted);
  counter(out, ws, "ringgate_accept_errors_total", "Accepts that failed or were dropped (table full).",
          &WorkerMetrics::accept_errors);
  counter(out, ws, "ringgate_handshakes_completed_total", "WebSocket upgrades accepted (101).",
          &WorkerMetrics::handshakes_completed);

  out.family("ringgate_handshake_rejected_total", "counter", "Upgrade requests refused, by reason.");
  for (std::size_t r = 1; r < http::kRejectCount; ++r) {
    std::string labels = "reason=\"" + std::string(http::reject_name(http::Reject(r))) + "\"";
    out.sample("ringgate_handshake_rejected_total", labels,
               sum(ws, [&](const WorkerMetrics& m) { return m.handshakes_rejected[r].get(); }));
  }
  counter(out, ws, "ringgate_messages_received_total", "WebSocket data messages received.",
          &WorkerMetrics::messages_received);
  counter(out, ws, "ringgate_messages_sent_total", "WebSocket data messages sent.", &WorkerMetrics::messages_sent);
  counter(out, ws, "ringgate_bytes_received_total", "Bytes received on client connections.",
          &WorkerMetrics::bytes_received);
  counter(out, ws, "ringgate_bytes_sent_total", "Bytes sent on client connections.", &WorkerMetrics::bytes_sent);

  out.family("ringgate_closes_total", "counter",
             "WebSockets ended, by close code (1006: the connection ended without a close frame).");
  for (std::size_t i = 0; i <= kCloseCodes.size(); ++i) {
    std::string labels = "code=\"" + (i < kCloseCodes.size() ? std::to_string(kCloseCodes[i]) : std::string("other")) + "\"";
    out.sample("ringgate_closes_total", labels, sum(ws, [&](const WorkerMetrics& m) { return m.closes[i].get(); }));
  }
  out.family("ringgate_timeouts_total", "counter", "Connections closed by a deadline, by kind.");
  const std::pair<const char*, const Counter WorkerMetrics::*> kinds[] = {
      {"handshake", &WorkerMetrics::timeouts_handshake}, {"pong", &WorkerMetrics::timeouts_pong},
      {"idle", &WorkerMetrics::timeouts_idle},           {"lifetime", &WorkerMetrics::timeouts_lifetime},
      {"close", &WorkerMetrics::timeouts_close}};
  for (const auto& [kind, field] : kinds) {
    out.sample("ringgate_timeouts_total", "kind=\"" + std::string(kind) + "\"",
               sum(ws, [field = field](const WorkerMetrics& m) { return (m.*field).get(); }));
  }
  counter(out, ws, "ringgate_pings_sent_total", "Heartbeat pings sent.", &WorkerMetrics::pings_sent);
  counter(out, ws, "ringgate_pongs_received_total", "Pongs received.", &WorkerMetrics::pongs_received);
  out.family("ringgate_pong_rtt_seconds", "histogram", "Heartbeat ping to pong round trip.");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < WorkerMetrics::kRttBucketsMs.size(); ++i) {
    cumulative += sum(ws, [i](const WorkerMetrics& m) { return m.pong_rtt_buckets[i].get(); });
    char le[32];
    std::snprintf(le, sizeof le, "le=\"%g\"", WorkerMetrics::kRttBucketsMs[i] / 1000.0);
    out.sample("ringgate_pong_rtt_seconds_bucket", le, cumulative);
  }
  const std::uint64_t count = sum(ws, [](const WorkerMetrics& m) { return m.pong_rtt_count.get(); });
  out.sample("ringgate_pong_rtt_seconds_bucket", "le=\"+Inf\"", count);
  out.sample("ringgate_pong_rtt_seconds_sum", "",
             double(sum(ws, [](const WorkerMetrics& m) { return m.pong_rtt_sum_ms.get(); })) / 1000.0);
  out.sample("ringgate_pong_rtt_seconds_count", "", count);
  counter(out, ws, "ringgate_recv_no_buffers_total",
          "Receives that found the provided-buffer ring empty (re-armed after buffers returned).",
          &WorkerMetrics::recv_no_buffers);
  counter(out, ws, "ringgate_backpressure_pauses_total",
          "Times reading from a peer paused because its outbound queue was over the limit.",
          &WorkerMetrics::backpressure_pauses);
  counter(out, ws, "ringgate_refusal_logs_suppressed_total", "Refusal log lines dropped by the rate limit.",
          &WorkerMetrics::refusal_logs_suppressed);
  counter(out, ws, "ringgate_redirects_total", "Plain HTTP requests answered 301 to https (--redirect-http).",
          &WorkerMetrics::redirects);

  out.family("ringgate_proxy_headers_total", "counter", "PROXY protocol headers, by outcome.");
  labelled(out, ws, "ringgate_proxy_headers_total", "result", &WorkerMetrics::proxy_headers, 0,
           [](std::size_t i) { return proxy_result_name(ProxyResult(i)); });

  out.family("ringgate_tls_handshakes_total", "counter", "TLS handshakes completed, full or resumed.");
  out.sample("ringgate_tls_handshakes_total", "kind=\"full\"", sum(ws, [](const WorkerMetrics& m) { return m.tls_full.get(); }));
  out.sample("ringgate_tls_handshakes_total", "kind=\"resumed\"",
             sum(ws, [](const WorkerMetrics& m) { return m.tls_resumed.get(); }));
  out.family("ringgate_tls_handshake_failures_total", "counter", "TLS handshakes that failed, by reason.");
  labelled(out, ws, "ringgate_tls_handshake_failures_total", "reason", &WorkerMetrics::tls_failures, 1,
           [](std::size_t i) { return tls::failure_name(tls::Failure(i)); });
  out.family("ringgate_tls_ktls_total", "counter",
             "Completed TLS handshakes by record layer: installed = kernel TLS, else why user space kept it.");
  labelled(out, ws, "ringgate_tls_ktls_total", "result", &WorkerMetrics::ktls, 0, [](std::size_t i) {
    return i == 0 ? std::string_view("installed") : tls::ktls_fallback_name(tls::KtlsFallback(i));
  });
  out.family("ringgate_tls_ktls_records_total", "counter",
             "Non-data records received under kernel TLS (the connection is closed after each but close_notify is answered).");
  labelled(out, ws, "ringgate_tls_ktls_records_total", "type", &WorkerMetrics::ktls_records, 0, [](std::size_t i) {
    static constexpr std::string_view kNames[] = {"close_notify", "alert", "key_update", "renegotiation", "other"};
    return kNames[i];
  });
  std::int64_t user = 0;
  for (const WorkerMetrics* w : ws) user += w->tls_user_sessions.get();
  out.family("ringgate_tls_user_sessions", "gauge", "Connections whose TLS records wolfSSL handles in user space.");
  out.sample("ringgate_tls_user_sessions", "", std::uint64_t(user < 0 ? 0 : user));
}

}  // namespace ringgate::gateway
