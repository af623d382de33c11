// Results of a run and their three renderings: the human summary (stdout), --json FILE and
// --plot FILE.png (gnuplot: latency percentile curve + throughput / connections over time).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

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

void print_summary(const Options& o, const Results& r);
void print_handshake_summary(const Options& o, const HandshakeResults& r);
bool write_handshake_json(const Options& o, const HandshakeResults& r, std::string& why);
bool write_json(const Options& o, const Results& r, std::string& why);
bool write_plot(const Options& o, const Results& r, std::string& why);

}  // namespace ringgate::load
