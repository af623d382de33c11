// Results of a run and their three renderings: the human summary (stdout), --json FILE and
// --plot FILE.png (gnuplot: latency percentile curve + throughput / connections over time).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "fanout_check.hpp"
#include "handshake.hpp"
#include "histogram.hpp"
#include "options.hpp"

namespace ringgate::load {

struct SeriesPoint {
  double t_s;
  double messages_per_s;
  std::uint64_t established;
};

struct Results {
  unsigned threads = 0, slots_per_ring = 0;
  std::uint64_t established = 0, failed = 0, errors = 0, closed_cleanly = 0;
  std::vector<std::pair<std::string, std::uint64_t>> causes;  // nonzero only
  double time_to_establish_s = 0;
  Histogram establish_ns, latency_ns;
  std::uint64_t messages = 0;  // replies in the measured window
  double window_s = 0, messages_per_s = 0, bytes_per_s = 0;
  double client_cpu_cores = 0, client_cpu_limit = 0;
  bool client_saturated = false;
  bool server = false;
  double server_cpu_ns_per_message = -1, server_cpu_cores = 0;
  std::uint64_t server_rss_before = 0, server_rss_after = 0;
  double server_rss_per_connection = 0;
  std::vector<SeriesPoint> series;
};

// Handshake mode (ringgate-load handshake).
struct HandshakeResults {
  unsigned threads = 0;
  HandshakeStats stats;  // measure window only
  double window_s = 0, handshakes_per_s = 0, client_cpu_s = 0;
  bool server = false;
  double server_cpu_ns_per_handshake = -1, server_cpu_cores = 0;
  std::vector<std::pair<std::string, std::uint64_t>> causes;  // nonzero only
};

// Fanout mode (ringgate-load fanout).
struct FanoutResults {
  unsigned threads = 0, slots_per_ring = 0;
  std::uint64_t established = 0, failed = 0, errors = 0, closed_cleanly = 0;  // connection level
  std::vector<std::pair<std::string, std::uint64_t>> causes;                 // nonzero only
  double time_to_establish_s = 0, subscribe_setup_s = 0;  // from the start: last connect, last sub ack
  std::uint64_t subscribed = 0, sub_errors = 0, published = 0, acked = 0, pub_errors = 0;
  std::uint64_t bad_frames = 0, duplicate_acks = 0;
  FanoutCounts counts;
  std::uint64_t measured = 0;  // deliveries of messages published in the measure window
  // window_s: measured publishing; delivery_span_s: its start to the last delivery (>= window_s).
  double window_s = 0, delivery_span_s = 0, deliveries_per_s = 0, time_to_last_delivery_s = -1;
  Histogram latency_ns;
  double client_cpu_cores = 0, client_cpu_limit = 0;
  bool client_saturated = false;
  bool server = false;
  double server_cpu_cores = 0, server_cpu_ns_per_delivery = -1;
  std::uint64_t server_rss_before = 0, server_rss_after = 0;
  std::string first_error;
  bool ok = false;
};

void print_summary(const Options& o, const Results& r);
void print_fanout_summary(const Options& o, const FanoutResults& r);
bool write_fanout_json(const Options& o, const FanoutResults& r, std::string& why);
void print_handshake_summary(const Options& o, const HandshakeResults& r);
bool write_handshake_json(const Options& o, const HandshakeResults& r, std::string& why);
bool write_json(const Options& o, const Results& r, std::string& why);
bool write_plot(const Options& o, const Results& r, std::string& why);

}  // namespace ringgate::load
