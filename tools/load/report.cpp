// Summary, JSON and plot output (see report.hpp). JSON keys are part of the interface.
#include "report.hpp"

#include <cstdio>
#include <string>

namespace ringgate::load {
namespace {

double us(std::uint64_t ns) { return double(ns) / 1000.0; }

std::string json_escape(const std::string& s) {
  std::string o;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') o += '\\';
    if (static_cast<unsigned char>(ch) < 0x20) continue;
    o += ch;
  }
  return o;
}

void latency_object(std::FILE* f, const Histogram& h) {
  std::fprintf(f, "{\"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, \"p999\": %.1f, \"max\": %.1f, \"mean\": %.1f}",
               us(h.quantile(0.5)), us(h.quantile(0.9)), us(h.quantile(0.99)), us(h.quantile(0.999)),
               us(h.max()), h.mean() / 1000.0);
}

}  // namespace

void print_summary(const Options& o, const Results& r) {
  std::printf("\nringgate-load %s %s: %u thread(s)/ring(s) x %u fixed slots\n", o.mode.c_str(), o.url.c_str(),
              r.threads, r.slots_per_ring);
  std::printf("  connections  %llu established, %llu failed of %u in %.2f s (establish p50 %.0f us, p99 %.0f us, "
              "max %.0f us)\n",
              (unsigned long long)r.established, (unsigned long long)r.failed, o.connections,
              r.time_to_establish_s, us(r.establish_ns.quantile(0.5)), us(r.establish_ns.quantile(0.99)),
              us(r.establish_ns.max()));
  if (o.mode == "echo") {
    std::printf("  echo         %zu B %s x %u in flight, %.1f s measured after %.1f s warm-up\n", o.size,
                o.binary ? "binary" : "text", o.inflight, r.window_s, o.warmup_s);
    std::printf("  throughput   %.0f messages/s, %.2f MB/s each way (%llu messages, every payload verified)\n",
                r.messages_per_s, r.bytes_per_s / 1e6, (unsigned long long)r.messages);
    std::printf("  latency us   p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", us(r.latency_ns.quantile(0.5)),
                us(r.latency_ns.quantile(0.9)), us(r.latency_ns.quantile(0.99)), us(r.latency_ns.quantile(0.999)),
                us(r.latency_ns.max()));
  } else {
    std::printf("  held         %.1f s, then closed: %llu closed cleanly\n", o.duration_s,
                (unsigned long long)r.closed_cleanly);
  }
  std::printf("  errors       %llu", (unsigned long long)r.errors);
  for (auto& [name, n] : r.causes) std::printf("  %s=%llu", name.c_str(), (unsigned long long)n);
  std::printf("\n  client CPU   %.2f cores (of %.0f usable)\n", r.client_cpu_cores, r.client_cpu_limit);
  if (r.server) {
    std::printf("  server       %.2f cores", r.server_cpu_cores);
    if (r.server_cpu_ns_per_message >= 0) std::printf(", %.0f ns CPU per message", r.server_cpu_ns_per_message);
    std::printf(", RSS %.1f -> %.1f MiB (%.0f B per connection)\n", double(r.server_rss_before) / 1048576.0,
                double(r.server_rss_after) / 1048576.0, r.server_rss_per_connection);
  }
  if (r.client_saturated) {
    std::printf("  WARNING: client CPU saturated: figures may be client-bound\n");
  }
  std::fflush(stdout);
}

bool write_json(const Options& o, const Results& r, std::string& why) {
  std::FILE* f = std::fopen(o.json.c_str(), "we");
  if (f == nullptr) {
    why = "cannot write " + o.json;
    return false;
  }
  std::fprintf(f, "{\n  \"tool\": \"ringgate-load\",\n  \"mode\": \"%s\",\n", o.mode.c_str());
  std::fprintf(f,
               "  \"parameters\": {\"url\": \"%s\", \"connections\": %u, \"size\": %zu, \"inflight\": %u, "
               "\"binary\": %s, \"duration_s\": %g, \"warmup_s\": %g, \"rate\": %g, \"threads\": %u, "
               "\"slots_per_ring\": %u, \"source_addresses\": %u, \"command\": \"%s\"},\n",
               json_escape(o.url).c_str(), o.connections, o.size, o.inflight, o.binary ? "true" : "false",
               o.duration_s, o.warmup_s, o.rate, r.threads, r.slots_per_ring, o.src_spread,
               json_escape(o.command_line).c_str());
  std::fprintf(f, "  \"connections_established\": %llu,\n  \"connections_failed\": %llu,\n",
               (unsigned long long)r.established, (unsigned long long)r.failed);
  std::fprintf(f, "  \"errors\": %llu,\n  \"errors_by_cause\": {", (unsigned long long)r.errors);
  for (std::size_t i = 0; i < r.causes.size(); ++i) {
    std::fprintf(f, "%s\"%s\": %llu", i ? ", " : "", r.causes[i].first.c_str(),
                 (unsigned long long)r.causes[i].second);
  }
  std::fprintf(f, "},\n  \"closed_cleanly\": %llu,\n  \"time_to_establish_s\": %.3f,\n",
               (unsigned long long)r.closed_cleanly, r.time_to_establish_s);
  std::fprintf(f, "  \"establish_us\": ");
  latency_object(f, r.establish_ns);
  std::fprintf(f, ",\n  \"messages\": %llu,\n  \"window_s\": %.3f,\n  \"messages_per_second\": %.1f,\n",
               (unsigned long long)r.messages, r.window_s, r.messages_per_s);
  std::fprintf(f, "  \"bytes_per_second\": %.1f,\n  \"latency_us\": ", r.bytes_per_s);
  latency_object(f, r.latency_ns);
  std::fprintf(f, ",\n  \"client_cpu_cores\": %.3f,\n  \"client_cpu_usable_cores\": %.0f,\n", r.client_cpu_cores,
               r.client_cpu_limit);
  std::fprintf(f, "  \"client_cpu_saturated\": %s,\n", r.client_saturated ? "true" : "false");
  if (r.server) {
    std::fprintf(f, "  \"server_pid\": %d,\n  \"server_cpu_cores\": %.3f,\n", o.server_pid, r.server_cpu_cores);
    if (r.server_cpu_ns_per_message >= 0) {
      std::fprintf(f, "  \"server_cpu_ns_per_message\": %.1f,\n", r.server_cpu_ns_per_message);
    } else {
      std::fprintf(f, "  \"server_cpu_ns_per_message\": null,\n");
    }
    std::fprintf(f,
                 "  \"server_rss_before_bytes\": %llu,\n  \"server_rss_after_bytes\": %llu,\n"
                 "  \"server_rss_bytes_per_connection\": %.1f,\n",
                 (unsigned long long)r.server_rss_before, (unsigned long long)r.server_rss_after,
                 r.server_rss_per_connection);
  }
  std::fprintf(f, "  \"series\": [");
  for (std::size_t i = 0; i < r.series.size(); ++i) {
    std::fprintf(f, "%s[%.2f, %.1f, %llu]", i ? ", " : "", r.series[i].t_s, r.series[i].messages_per_s,
                 (unsigned long long)r.series[i].established);
  }
  std::fprintf(f, "]\n}\n");
  bool ok = std::fclose(f) == 0;
  if (!ok) why = "write error on " + o.json;
  return ok;
}

void print_handshake_summary(const Options& o, const HandshakeResults& r) {
  const HandshakeStats& s = r.stats;
  const Histogram& h = s.latency_ns;
  std::printf("\nringgate-load handshake %s: %u concurrent slot(s) on %u thread(s), resume %s, TLS %s\n",
              o.url.c_str(), o.connections, r.threads, o.resume.c_str(),
              o.tls_version == tls::kTls12 ? "1.2" : o.tls_version == tls::kTls13 ? "1.3" : "negotiated");
  std::printf("  handshakes   %llu in %.2f s = %.0f/s (full %llu, resumed %llu)\n", (unsigned long long)s.handshakes,
              r.window_s, r.handshakes_per_s, (unsigned long long)s.full, (unsigned long long)s.resumed);
  std::printf("  latency us   p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", us(h.quantile(0.5)),
              us(h.quantile(0.9)), us(h.quantile(0.99)), us(h.quantile(0.999)), us(h.max()));
  std::printf("  failures     %llu", (unsigned long long)s.failures);
  for (auto& [name, n] : r.causes) std::printf("  %s=%llu", name.c_str(), (unsigned long long)n);
  if (s.ticket_waits_expired) std::printf("  (no ticket within the wait: %llu)", (unsigned long long)s.ticket_waits_expired);
  std::printf("\n  client CPU   %.2f s (%.1f us per handshake)\n", r.client_cpu_s,
              s.handshakes ? r.client_cpu_s * 1e6 / double(s.handshakes) : 0.0);
  if (r.server) {
    std::printf("  server       %.2f cores", r.server_cpu_cores);
    if (r.server_cpu_ns_per_handshake >= 0) std::printf(", %.0f us CPU per handshake", r.server_cpu_ns_per_handshake / 1e3);
    std::printf("\n");
  }
  std::fflush(stdout);
}

bool write_handshake_json(const Options& o, const HandshakeResults& r, std::string& why) {
  std::FILE* f = std::fopen(o.json.c_str(), "we");
  if (f == nullptr) {
    why = "cannot write " + o.json;
    return false;
  }
  const HandshakeStats& s = r.stats;
  std::fprintf(f, "{\n  \"tool\": \"ringgate-load\",\n  \"mode\": \"handshake\",\n");
  std::fprintf(f,
               "  \"parameters\": {\"url\": \"%s\", \"connections\": %u, \"resume\": \"%s\", "
               "\"tls_version\": \"%s\", \"ciphers\": \"%s\", \"tickets\": %s, \"duration_s\": %g, "
               "\"warmup_s\": %g, \"threads\": %u, \"command\": \"%s\"},\n",
               json_escape(o.url).c_str(), o.connections, o.resume.c_str(),
               o.tls_version == tls::kTls12 ? "1.2" : o.tls_version == tls::kTls13 ? "1.3" : "any",
               json_escape(o.ciphers).c_str(), o.tickets ? "true" : "false", o.duration_s, o.warmup_s, r.threads,
               json_escape(o.command_line).c_str());
  std::fprintf(f, "  \"handshakes\": %llu,\n  \"window_s\": %.3f,\n  \"handshakes_per_s\": %.1f,\n",
               (unsigned long long)s.handshakes, r.window_s, r.handshakes_per_s);
  std::fprintf(f, "  \"full\": %llu,\n  \"resumed\": %llu,\n  \"failures\": %llu,\n  \"failures_by_cause\": {",
               (unsigned long long)s.full, (unsigned long long)s.resumed, (unsigned long long)s.failures);
  for (std::size_t i = 0; i < r.causes.size(); ++i) {
    std::fprintf(f, "%s\"%s\": %llu", i ? ", " : "", r.causes[i].first.c_str(),
                 (unsigned long long)r.causes[i].second);
  }
  std::fprintf(f, "},\n  \"ticket_waits_expired\": %llu,\n  \"latency_us\": ",
               (unsigned long long)s.ticket_waits_expired);
  latency_object(f, s.latency_ns);
  std::fprintf(f, ",\n  \"client_cpu_s\": %.4f,\n  \"client_cpu_us_per_handshake\": %.1f", r.client_cpu_s,
               s.handshakes ? r.client_cpu_s * 1e6 / double(s.handshakes) : 0.0);
  if (r.server) {
    std::fprintf(f, ",\n  \"server_pid\": %d,\n  \"server_cpu_cores\": %.3f,\n", o.server_pid, r.server_cpu_cores);
    if (r.server_cpu_ns_per_handshake >= 0) {
      std::fprintf(f, "  \"server_cpu_ns_per_handshake\": %.1f", r.server_cpu_ns_per_handshake);
    } else {
      std::fprintf(f, "  \"server_cpu_ns_per_handshake\": null");
    }
  }
  std::fprintf(f, "\n}\n");
  bool ok = std::fclose(f) == 0;
  if (!ok) why = "write error on " + o.json;
  return ok;
}

void print_fanout_summary(const Options& o, const FanoutResults& r) {
  const FanoutCounts& c = r.counts;
  const Histogram& h = r.latency_ns;
  std::printf("\nringgate-load fanout %s: %u subscriber(s) on %u topic(s), %u publisher(s) via %s, %u thread(s)\n",
              o.url.c_str(), o.subscribers, o.topics, o.publishers, o.via_api ? "api" : "ws", r.threads);
  std::printf("  connections  %llu established, %llu failed in %.2f s; %llu subscribed (%llu refused) after %.3f s\n",
              (unsigned long long)r.established, (unsigned long long)r.failed, r.time_to_establish_s,
              (unsigned long long)r.subscribed, (unsigned long long)r.sub_errors, r.subscribe_setup_s);
  if (o.burst > 0) {
    std::printf("  burst        %u message(s) of %zu B to load.0: time to last delivery %.3f ms\n", o.burst, o.size,
                r.time_to_last_delivery_s * 1e3);
  } else {
    std::printf("  publish      %.0f msg/s for %.1f s (after %.1f s warm-up), %zu B data\n", o.pub_rate, o.duration_s,
                o.warmup_s, o.size);
  }
  std::printf("  published    %llu, acked %llu, refused %llu\n", (unsigned long long)r.published,
              (unsigned long long)r.acked, (unsigned long long)r.pub_errors);
  std::printf("  deliveries   %llu of %llu expected: missing %llu, out-of-order %llu, gaps %llu (%llu lost to gaps)\n",
              (unsigned long long)c.deliveries, (unsigned long long)c.expected, (unsigned long long)c.missing,
              (unsigned long long)c.out_of_order, (unsigned long long)c.gaps, (unsigned long long)c.gap_lost);
  if (c.unexpected || r.bad_frames || r.duplicate_acks) {
    std::printf("  odd frames   unexpected %llu, unparsable %llu, duplicate acked seqs %llu\n",
                (unsigned long long)c.unexpected, (unsigned long long)r.bad_frames, (unsigned long long)r.duplicate_acks);
  }
  std::printf("  throughput   %.0f deliveries/s (%llu deliveries of messages published in %.2f s, delivered "
              "within %.2f s)\n",
              r.deliveries_per_s, (unsigned long long)r.measured, r.window_s, r.delivery_span_s);
  std::printf("  latency us   p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (publish -> delivery)\n",
              us(h.quantile(0.5)), us(h.quantile(0.9)), us(h.quantile(0.99)), us(h.quantile(0.999)), us(h.max()));
  std::printf("  errors       %llu", (unsigned long long)r.errors);
  for (auto& [name, n] : r.causes) std::printf("  %s=%llu", name.c_str(), (unsigned long long)n);
  std::printf("\n  client CPU   %.2f cores (of %.0f usable)\n", r.client_cpu_cores, r.client_cpu_limit);
  if (r.server) {
    std::printf("  server       %.2f cores", r.server_cpu_cores);
    if (r.server_cpu_ns_per_delivery >= 0) std::printf(", %.0f ns CPU per delivery", r.server_cpu_ns_per_delivery);
    std::printf(", RSS %.1f -> %.1f MiB\n", double(r.server_rss_before) / 1048576.0,
                double(r.server_rss_after) / 1048576.0);
  }
  if (!r.first_error.empty()) std::printf("  first error  %s\n", r.first_error.c_str());
  if (r.client_saturated) std::printf("  WARNING: client CPU saturated: figures may be client-bound\n");
  std::printf("  result       %s\n", r.ok ? "ok" : "FAILED");
  std::fflush(stdout);
}

bool write_fanout_json(const Options& o, const FanoutResults& r, std::string& why) {
  std::FILE* f = std::fopen(o.json.c_str(), "we");
  if (f == nullptr) {
    why = "cannot write " + o.json;
    return false;
  }
  const FanoutCounts& c = r.counts;
  auto u = [](std::uint64_t v) { return (unsigned long long)v; };
  std::fprintf(f, "{\n  \"tool\": \"ringgate-load\",\n  \"mode\": \"fanout\",\n");
  std::fprintf(f,
               "  \"parameters\": {\"url\": \"%s\", \"subscribers\": %u, \"topics\": %u, \"publishers\": %u, "
               "\"rate\": %g, \"duration_s\": %g, \"warmup_s\": %g, \"size\": %zu, \"via\": \"%s\", \"burst\": %u, "
               "\"settle_s\": %g, \"threads\": %u, \"slots_per_ring\": %u, \"command\": \"%s\"},\n",
               json_escape(o.url).c_str(), o.subscribers, o.topics, o.publishers, o.pub_rate, o.duration_s,
               o.warmup_s, o.size, o.via_api ? "api" : "ws", o.burst, o.settle_s, r.threads, r.slots_per_ring,
               json_escape(o.command_line).c_str());
  std::fprintf(f, "  \"ok\": %s,\n  \"connections_established\": %llu,\n  \"connections_failed\": %llu,\n",
               r.ok ? "true" : "false", u(r.established), u(r.failed));
  std::fprintf(f, "  \"errors\": %llu,\n  \"errors_by_cause\": {", u(r.errors));
  for (std::size_t i = 0; i < r.causes.size(); ++i) {
    std::fprintf(f, "%s\"%s\": %llu", i ? ", " : "", r.causes[i].first.c_str(), u(r.causes[i].second));
  }
  std::fprintf(f, "},\n  \"closed_cleanly\": %llu,\n  \"time_to_establish_s\": %.3f,\n", u(r.closed_cleanly),
               r.time_to_establish_s);
  std::fprintf(f, "  \"subscribed\": %llu,\n  \"subscribe_errors\": %llu,\n  \"subscriber_setup_s\": %.3f,\n",
               u(r.subscribed), u(r.sub_errors), r.subscribe_setup_s);
  std::fprintf(f, "  \"published\": %llu,\n  \"acked\": %llu,\n  \"publish_errors\": %llu,\n", u(r.published),
               u(r.acked), u(r.pub_errors));
  std::fprintf(f,
               "  \"deliveries\": %llu,\n  \"expected_deliveries\": %llu,\n  \"received_expected\": %llu,\n"
               "  \"missing\": %llu,\n  \"out_of_order\": %llu,\n  \"gaps\": %llu,\n  \"lost_to_gaps\": %llu,\n"
               "  \"unexpected\": %llu,\n  \"unparsable_frames\": %llu,\n  \"duplicate_acked_seqs\": %llu,\n",
               u(c.deliveries), u(c.expected), u(c.received), u(c.missing), u(c.out_of_order), u(c.gaps),
               u(c.gap_lost), u(c.unexpected), u(r.bad_frames), u(r.duplicate_acks));
  std::fprintf(f,
               "  \"measured_deliveries\": %llu,\n  \"window_s\": %.3f,\n  \"delivery_span_s\": %.3f,\n"
               "  \"deliveries_per_second\": %.1f,\n",
               u(r.measured), r.window_s, r.delivery_span_s, r.deliveries_per_s);
  if (r.time_to_last_delivery_s >= 0) {
    std::fprintf(f, "  \"time_to_last_delivery_us\": %.1f,\n", r.time_to_last_delivery_s * 1e6);
  } else {
    std::fprintf(f, "  \"time_to_last_delivery_us\": null,\n");
  }
  std::fprintf(f, "  \"latency_us\": ");
  latency_object(f, r.latency_ns);
  std::fprintf(f, ",\n  \"client_cpu_cores\": %.3f,\n  \"client_cpu_usable_cores\": %.0f,\n", r.client_cpu_cores,
               r.client_cpu_limit);
  std::fprintf(f, "  \"client_cpu_saturated\": %s", r.client_saturated ? "true" : "false");
  if (r.server) {
    std::fprintf(f, ",\n  \"server_pid\": %d,\n  \"server_cpu_cores\": %.3f,\n", o.server_pid, r.server_cpu_cores);
    if (r.server_cpu_ns_per_delivery >= 0) {
      std::fprintf(f, "  \"server_cpu_ns_per_delivery\": %.1f,\n", r.server_cpu_ns_per_delivery);
    } else {
      std::fprintf(f, "  \"server_cpu_ns_per_delivery\": null,\n");
    }
    std::fprintf(f, "  \"server_rss_before_bytes\": %llu,\n  \"server_rss_after_bytes\": %llu", u(r.server_rss_before),
                 u(r.server_rss_after));
  }
  std::fprintf(f, ",\n  \"first_error\": \"%s\"\n}\n", json_escape(r.first_error).c_str());
  bool ok = std::fclose(f) == 0;
  if (!ok) why = "write error on " + o.json;
  return ok;
}

bool write_plot(const Options& o, const Results& r, std::string& why) {
  std::string lat = o.plot + ".latency.dat", thr = o.plot + ".series.dat";
  std::FILE* f = std::fopen(lat.c_str(), "we");
  std::FILE* g = std::fopen(thr.c_str(), "we");
  if (f == nullptr || g == nullptr) {
    if (f) std::fclose(f);
    if (g) std::fclose(g);
    why = "cannot write plot data next to " + o.plot;
    return false;
  }
  // Percentile curve: x = 1/(1-q) on a log axis spreads the tail (q = 0.9 -> 10, 0.999 -> 1000).
  const Histogram& h = o.mode == "echo" ? r.latency_ns : r.establish_ns;
  for (double q : {0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999}) {
    std::fprintf(f, "%g %.2f\n", 1.0 / (1.0 - q), us(h.quantile(q)));
  }
  for (auto& p : r.series) std::fprintf(g, "%.2f %.1f %llu\n", p.t_s, p.messages_per_s, (unsigned long long)p.established);
  std::fclose(f);
  std::fclose(g);
  std::string script =
      "set terminal pngcairo size 1000,800\nset output '" + o.plot + "'\nset multiplot layout 2,1\n"
      "set title '" + o.mode + ": " + (o.mode == "echo" ? "echo latency" : "time to establish") +
      " by percentile'\nset logscale x\nset xlabel 'percentile'\nset ylabel 'microseconds'\n"
      "set xtics ('50' 2, '90' 10, '99' 100, '99.9' 1000, '99.99' 10000, '99.999' 100000)\nset grid\n"
      "plot '" + lat + "' using 1:2 with linespoints title 'latency (us)'\n"
      "unset logscale x\nset xtics auto\nset xlabel 'seconds'\nset title 'over time'\n"
      "set yrange [0:*]\nset ylabel 'messages/s'\nset y2label 'connections'\nset y2tics\n"
      "plot '" + thr + "' using 1:2 with lines title 'messages/s', '' using 1:3 axes x1y2 with lines title "
      "'established'\nunset multiplot\n";
  std::FILE* p = popen("gnuplot 2>/dev/null", "w");
  if (p == nullptr) {
    why = "cannot run gnuplot (apt-get install gnuplot-nox)";
    return false;
  }
  std::fputs(script.c_str(), p);
  int rc = pclose(p);
  if (rc != 0) {
    why = "gnuplot failed (exit " + std::to_string(rc) + "); is gnuplot-nox installed?";
    return false;
  }
  std::remove(lat.c_str());
  std::remove(thr.c_str());
  return true;
}

}  // namespace ringgate::load
