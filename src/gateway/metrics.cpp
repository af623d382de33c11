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
}  // namespace

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
}

}  // namespace ringgate::gateway
