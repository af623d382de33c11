#include "ringgate/gateway/metrics.hpp"

#include <dirent.h>
#include <unistd.h>

#include <cinttypes>
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
// (M: WorkerMetrics or its base pubsub::Metrics, whose member pointers do not deduce as ours.)
template <std::size_t N, class M>
void labelled(PromWriter& out, std::span<const WorkerMetrics* const> ws, const char* name, const char* label,
              const std::array<Counter, N> M::*field, std::size_t first, auto name_of) {
  for (std::size_t i = first; i < N; ++i) {
    out.sample(name, std::string(label) + "=\"" + std::string(name_of(i)) + "\"",
               sum(ws, [&](const WorkerMetrics& m) { return (m.*field)[i].get(); }));
  }
}
// A Prometheus histogram from per-worker, non-cumulative bucket counters. Bounds are integers in
// a unit (ms, us); `to_seconds` converts them and `sum_to_seconds` the sum counter.
template <std::size_t N, class M>
void histogram(PromWriter& out, std::span<const WorkerMetrics* const> ws, const std::string& name, const char* help,
               const std::array<std::uint32_t, N>& bounds, const std::array<Counter, N> M::*buckets,
               double to_seconds, const Counter M::*count, const Counter M::*sum_field,
               double sum_to_seconds) {
  out.family(name, "histogram", help);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < N; ++i) {
    cumulative += sum(ws, [&](const WorkerMetrics& m) { return (m.*buckets)[i].get(); });
    char le[32];
    std::snprintf(le, sizeof le, "le=\"%g\"", bounds[i] * to_seconds);
    out.sample(name + "_bucket", le, cumulative);
  }
  const std::uint64_t total = sum(ws, [&](const WorkerMetrics& m) { return (m.*count).get(); });
  out.sample(name + "_bucket", "le=\"+Inf\"", total);
  out.sample(name + "_sum", "", double(sum(ws, [&](const WorkerMetrics& m) { return (m.*sum_field).get(); })) * sum_to_seconds);
  out.sample(name + "_count", "", total);
}
}  // namespace

std::string_view proxy_result_name(ProxyResult r) noexcept {
  static constexpr std::string_view kNames[] = {"accepted", "local",     "absent",  "missing",
                                                "untrusted", "invalid", "too_large", "timeout"};
  return std::size_t(r) < std::size(kNames) ? kNames[std::size_t(r)] : "unknown";
}

namespace {
void gauge_sum(PromWriter& out, std::span<const WorkerMetrics* const> ws, const char* name, const char* help,
               const Gauge WorkerMetrics::*field) {
  std::int64_t v = 0;
  for (const WorkerMetrics* w : ws) v += (w->*field).get();
  out.family(name, "gauge", help);
  out.sample(name, "", std::uint64_t(v < 0 ? 0 : v));
}

void render_broker(std::span<const WorkerMetrics* const> ws, PromWriter& out) {
  bool up = !ws.empty();
  for (const WorkerMetrics* w : ws) up = up && w->broker_up.get() == 1;
  out.family("ringgate_broker_up", "gauge",
             "1 when every worker's broker connections are ready (always 1 with the embedded broker).");
  out.sample("ringgate_broker_up", "", std::uint64_t(up ? 1 : 0));
  counter(out, ws, "ringgate_broker_reconnects_total", "Broker connections made again after one was lost.",
          &WorkerMetrics::broker_reconnects);
  counter(out, ws, "ringgate_broker_resubscribed_topics_total", "Topics subscribed again after a broker reconnect.",
          &WorkerMetrics::broker_resubscribed);
  counter(out, ws, "ringgate_broker_messages_total", "Messages in from the broker.", &WorkerMetrics::broker_messages);
  counter(out, ws, "ringgate_broker_publish_failures_total",
          "Publishes refused at once (broker down or over its limits) or failed by the broker.",
          &WorkerMetrics::broker_publish_failures);
  histogram(out, ws, "ringgate_broker_publish_latency_seconds", "From a publish sent to the broker to its answer.",
            WorkerMetrics::kBrokerLatencyBucketsUs, &WorkerMetrics::broker_latency_buckets, 1e-6,
            &WorkerMetrics::broker_latency_count, &WorkerMetrics::broker_latency_sum_ns, 1e-9);
}

void render_pubsub(std::span<const WorkerMetrics* const> ws, PromWriter& out, std::uint64_t ring_depth) {
  gauge_sum(out, ws, "ringgate_pubsub_subscriptions", "Subscriptions of connected clients.",
            &WorkerMetrics::pubsub_subscriptions);
  gauge_sum(out, ws, "ringgate_pubsub_topics", "Topics with subscribers, counted once per worker that has some.",
            &WorkerMetrics::pubsub_topics);
  out.family("ringgate_pubsub_published_total", "counter", "Publish requests accepted, by source.");
  out.sample("ringgate_pubsub_published_total", "source=\"ws\"",
             sum(ws, [](const WorkerMetrics& m) { return m.pubsub_published_ws.get(); }));
  out.sample("ringgate_pubsub_published_total", "source=\"api\"",
             sum(ws, [](const WorkerMetrics& m) { return m.pubsub_published_api.get(); }));
  counter(out, ws, "ringgate_pubsub_deliveries_total", "Messages queued for a subscriber.",
          &WorkerMetrics::pubsub_deliveries);
  out.family("ringgate_pubsub_dropped_total", "counter",
             "Messages not delivered, by reason (slow_consumer: drop policy; conflated: replaced by a newer one; "
             "ring_full: a cross-worker mailbox was full).");
  labelled(out, ws, "ringgate_pubsub_dropped_total", "reason", &WorkerMetrics::pubsub_dropped, 0, [](std::size_t i) {
    static constexpr std::string_view kNames[] = {"slow_consumer", "conflated", "ring_full"};
    return kNames[i];
  });
  counter(out, ws, "ringgate_pubsub_slow_consumer_closes_total",
          "Subscribers closed with 4100 because their queue was over --max-outbound-bytes (policy disconnect).",
          &WorkerMetrics::pubsub_slow_closes);
  counter(out, ws, "ringgate_pubsub_gaps_total", "Gap notices sent to subscribers.", &WorkerMetrics::pubsub_gaps);
  gauge_sum(out, ws, "ringgate_pubsub_history_bytes",
            "Memory of the messages kept for recovery, all topics (capped by --history-max-bytes).",
            &WorkerMetrics::pubsub_history_bytes);
  counter(out, ws, "ringgate_pubsub_history_evictions_total",
          "Kept messages forgotten before --history or --history-ttl because of --history-max-bytes.",
          &WorkerMetrics::pubsub_history_evictions);
  out.family("ringgate_pubsub_ring_depth", "gauge", "Entries waiting in the cross-worker mailboxes.");
  out.sample("ringgate_pubsub_ring_depth", "", ring_depth);
  counter(out, ws, "ringgate_pubsub_ring_overflows_total",
          "Times a cross-worker mailbox was full (a message dropped, or a control entry delayed).",
          &WorkerMetrics::pubsub_ring_overflows);
  out.family("ringgate_pubsub_errors_total", "counter", "Error replies to client requests, by code.");
  labelled(out, ws, "ringgate_pubsub_errors_total", "code", &WorkerMetrics::pubsub_errors, 0,
           [](std::size_t i) { return pubsub::error_name(pubsub::ErrorCode(i)); });
  histogram(out, ws, "ringgate_pubsub_delivery_latency_seconds",
            "From a publish accepted by this node to the message queued on a subscriber's connection.",
            WorkerMetrics::kLatencyBucketsUs, &WorkerMetrics::latency_buckets, 1e-6, &WorkerMetrics::latency_count,
            &WorkerMetrics::latency_sum_ns, 1e-9);
  render_broker(ws, out);
  out.family("ringgate_api_requests_total", "counter", "HTTP publish API responses, by status.");
  for (std::size_t i = 0; i <= WorkerMetrics::kApiStatuses.size(); ++i) {
    std::string label = "status=\"" +
                        (i < WorkerMetrics::kApiStatuses.size() ? std::to_string(WorkerMetrics::kApiStatuses[i])
                                                                : std::string("other")) + "\"";
    out.sample("ringgate_api_requests_total", label, sum(ws, [i](const WorkerMetrics& m) { return m.api_requests[i].get(); }));
  }
}
// The standard process metrics a leak check compares before and after: descriptors and RSS.
void render_process(PromWriter& out) {
  std::uint64_t fds = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (const dirent* e = ::readdir(d)) fds += e->d_name[0] != '.';
    ::closedir(d);
    fds -= 1;  // the directory stream's own descriptor
  }
  out.family("process_open_fds", "gauge", "Open file descriptors (ordinary ones; direct descriptors are connections).");
  out.sample("process_open_fds", "", fds);
  std::uint64_t pages_total = 0, pages_resident = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%" SCNu64 " %" SCNu64, &pages_total, &pages_resident) != 2) pages_resident = 0;
    std::fclose(f);
  }
  out.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  out.sample("process_resident_memory_bytes", "", pages_resident * std::uint64_t(::sysconf(_SC_PAGESIZE)));
}

// The families of one part of the gateway each: connections and handshakes; traffic and closes;
// deadlines, heartbeats and flow control; PROXY and TLS. render_metrics() writes them in this order.
void render_connections(std::span<const WorkerMetrics* const> ws, PromWriter& out) {
  std::int64_t active = 0;
  for (const WorkerMetrics* w : ws) active += w->connections_active.get();
  out.family("ringgate_connections_active", "gauge", "Connections open now (any phase).");
  out.sample("ringgate_connections_active", "", std::uint64_t(active < 0 ? 0 : active));
  gauge_sum(out, ws, "ringgate_outbound_chunks", "Send-queue chunks and shared-frame references held.",
            &WorkerMetrics::outbound_chunks);
  render_process(out);
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
}

void render_traffic(std::span<const WorkerMetrics* const> ws, PromWriter& out) {
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
}

void render_deadlines(std::span<const WorkerMetrics* const> ws, PromWriter& out) {
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
  histogram(out, ws, "ringgate_pong_rtt_seconds", "Heartbeat ping to pong round trip.", WorkerMetrics::kRttBucketsMs,
            &WorkerMetrics::pong_rtt_buckets, 1e-3, &WorkerMetrics::pong_rtt_count, &WorkerMetrics::pong_rtt_sum_ms, 1e-3);
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
}

void render_transport(std::span<const WorkerMetrics* const> ws, PromWriter& out) {
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
}  // namespace

void render_metrics(std::span<const WorkerMetrics* const> ws, PromWriter& out, std::uint64_t ring_depth) {
  render_connections(ws, out);
  render_traffic(ws, out);
  render_deadlines(ws, out);
  render_transport(ws, out);
  render_pubsub(ws, out, ring_depth);
}

}  // namespace ringgate::gateway
