// echo_load: WebSocket load client for Ringgate's echo route (and any other echo server).
//   echo_load echo --url ws://127.0.0.1:PORT/echo --connections N --size S --inflight K
//                  --duration D --warmup W [--binary] [--server-pid PID] [--json FILE]
//   echo_load hold --url ws://127.0.0.1:PORT/echo --connections N --duration D
//                  [--server-pid PID] [--json FILE]
// Prints a human summary on stdout; --json writes every figure. Exit code: 0 when the run had no
// errors, 1 when it completed with errors, 2 on bad usage.
#include <arpa/inet.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "load_client.hpp"
#include "proc_sample.hpp"

namespace {

struct Options {
  std::string mode;
  std::string url;
  load::ClientConfig client;
  double duration_s = 5;
  double warmup_s = 2;
  double connect_timeout_s = 30;
  double close_timeout_s = 5;
  int server_pid = 0;
  std::string json;
  std::string command_line;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "echo_load: %s\n"
               "usage: echo_load echo --url ws://HOST:PORT/PATH [--connections N] [--size BYTES] [--inflight K]\n"
               "                      [--duration S] [--warmup S] [--binary] [--server-pid PID] [--json FILE]\n"
               "       echo_load hold --url ws://HOST:PORT/PATH [--connections N] [--duration S]\n"
               "                      [--server-pid PID] [--json FILE]\n"
               "common: [--connect-concurrency N] [--connect-timeout S] [--close-timeout S] [--src-spread N]\n",
               why);
  std::exit(2);
}

bool parse_url(const std::string& url, load::Target& t) {
  std::string_view u(url);
  if (u.substr(0, 5) != "ws://") return false;
  u.remove_prefix(5);
  size_t slash = u.find('/');
  std::string_view hp = u.substr(0, slash);
  t.path = slash == std::string_view::npos ? "/" : std::string(u.substr(slash));
  size_t colon = hp.rfind(':');
  if (colon == std::string_view::npos) return false;
  t.host = std::string(hp.substr(0, colon));
  if (t.host == "localhost") t.host = "127.0.0.1";
  in_addr probe{};
  if (inet_pton(AF_INET, t.host.c_str(), &probe) != 1) return false;  // IPv4 literals only
  long port = std::strtol(std::string(hp.substr(colon + 1)).c_str(), nullptr, 10);
  if (port <= 0 || port > 65535) return false;
  t.port = static_cast<uint16_t>(port);
  t.host_port = std::string(hp);
  return true;
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 0; i < argc; ++i) {
    if (i) o.command_line += ' ';
    o.command_line += argv[i];
  }
  if (argc < 2) usage("missing mode");
  o.mode = argv[1];
  if (o.mode != "echo" && o.mode != "hold") usage("mode must be echo or hold");
  o.client.traffic = o.mode == "echo";
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--url") o.url = val();
    else if (a == "--connections") o.client.connections = std::atoi(val().c_str());
    else if (a == "--size") o.client.size = std::strtoull(val().c_str(), nullptr, 10);
    else if (a == "--inflight") o.client.inflight = std::atoi(val().c_str());
    else if (a == "--duration") o.duration_s = std::atof(val().c_str());
    else if (a == "--warmup") o.warmup_s = std::atof(val().c_str());
    else if (a == "--binary") o.client.binary = true;
    else if (a == "--server-pid") o.server_pid = std::atoi(val().c_str());
    else if (a == "--json") o.json = val();
    else if (a == "--connect-concurrency") o.client.connect_concurrency = std::atoi(val().c_str());
    else if (a == "--connect-timeout") o.connect_timeout_s = std::atof(val().c_str());
    else if (a == "--close-timeout") o.close_timeout_s = std::atof(val().c_str());
    else if (a == "--src-spread") o.client.src_spread = std::atoi(val().c_str());
    else usage(("unknown flag " + a).c_str());
  }
  if (!parse_url(o.url, o.client.target)) usage("--url must look like ws://127.0.0.1:PORT/echo");
  if (o.client.connections < 1) usage("--connections must be >= 1");
  if (o.client.inflight < 1) usage("--inflight must be >= 1");
  if (o.client.size > (16u << 20)) usage("--size is limited to 16 MiB");
  if (o.client.connect_concurrency < 1) usage("--connect-concurrency must be >= 1");
  if (o.duration_s <= 0 || o.warmup_s < 0) usage("bad --duration/--warmup");
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (static_cast<rlim_t>(o.client.connections) + 32 > rl.rlim_cur)
    usage("--connections exceeds RLIMIT_NOFILE (keep it below 19000 per process)");
  return o;
}

double cpu_seconds_self() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

// A tiny JSON object writer: enough for flat key/number/string objects, one nesting level.
class Json {
 public:
  void num(const char* k, double v) { key(k); char b[64]; std::snprintf(b, sizeof b, "%.6g", v); s_ += b; }
  void integer(const char* k, long long v) { key(k); s_ += std::to_string(v); }
  void boolean(const char* k, bool v) { key(k); s_ += v ? "true" : "false"; }
  void null(const char* k) { key(k); s_ += "null"; }
  void str(const char* k, const std::string& v) {
    key(k);
    s_ += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') { s_ += '\\'; s_ += c; }
      else if (static_cast<unsigned char>(c) < 0x20) s_ += ' ';
      else s_ += c;
    }
    s_ += '"';
  }
  void open(const char* k) { key(k); s_ += '{'; first_ = true; }
  void close() { s_ += '}'; first_ = false; }
  std::string done() { return "{" + s_ + "}\n"; }

 private:
  void key(const char* k) {
    if (!first_) s_ += ',';
    first_ = false;
    s_ += '"'; s_ += k; s_ += "\":";
  }
  std::string s_;
  bool first_ = true;
};

void json_errors(Json& j, const load::Errors& e) {
  j.open("errors");
  j.integer("total", static_cast<long long>(e.total()));
  j.integer("connect_failed", static_cast<long long>(e.connect_failed));
  j.integer("handshake_failed", static_cast<long long>(e.handshake_failed));
  j.integer("protocol_error", static_cast<long long>(e.protocol_error));
  j.integer("payload_mismatch", static_cast<long long>(e.payload_mismatch));
  j.integer("unexpected_close", static_cast<long long>(e.unexpected_close));
  j.integer("io_error", static_cast<long long>(e.io_error));
  j.integer("close_unclean", static_cast<long long>(e.close_unclean));
  j.integer("close_timeout", static_cast<long long>(e.close_timeout));
  j.str("first", e.first);
  j.close();
}

void write_json(const Options& o, const std::string& body) {
  if (o.json.empty()) return;
  FILE* f = std::fopen(o.json.c_str(), "w");
  if (!f) { std::perror(o.json.c_str()); return; }
  std::fputs(body.c_str(), f);
  std::fclose(f);
}

void print_errors(const load::Errors& e) {
  std::printf("errors          %llu", static_cast<unsigned long long>(e.total()));
  if (e.total())
    std::printf(" (connect %llu, handshake %llu, protocol %llu, mismatch %llu, server-close %llu, io %llu, "
                "close-unclean %llu, close-timeout %llu; first: %s)",
                (unsigned long long)e.connect_failed, (unsigned long long)e.handshake_failed,
                (unsigned long long)e.protocol_error, (unsigned long long)e.payload_mismatch,
                (unsigned long long)e.unexpected_close, (unsigned long long)e.io_error,
                (unsigned long long)e.close_unclean, (unsigned long long)e.close_timeout, e.first.c_str());
  std::printf("\n");
}

int run_echo(const Options& o) {
  load::LoadClient client(o.client);
  uint64_t t_connect = load::now_ns();
  client.connect_all(o.connect_timeout_s);
  double setup_s = double(load::now_ns() - t_connect) * 1e-9;
  int established = client.established_total();
  if (established == 0) {
    std::printf("connections     none established\n");
    print_errors(client.errors());
    Json j;
    j.str("mode", "echo");
    j.str("command", o.command_line);
    j.integer("established", 0);
    json_errors(j, client.errors());
    write_json(o, j.done());
    return 1;
  }

  client.start_traffic();
  client.run_until(load::now_ns() + static_cast<uint64_t>(o.warmup_s * 1e9));

  client.reset_window();
  client.set_measuring(true);
  load::ProcSample s0 = load::sample_proc(o.server_pid);
  double c0 = cpu_seconds_self();
  uint64_t t0 = load::now_ns();
  client.run_until(t0 + static_cast<uint64_t>(o.duration_s * 1e9));
  uint64_t t1 = load::now_ns();
  double c1 = cpu_seconds_self();
  load::ProcSample s1 = load::sample_proc(o.server_pid);
  client.set_measuring(false);
  int open_at_end = client.open_count();
  client.close_all(o.close_timeout_s);

  const load::WindowStats& w = client.window();
  double secs = double(t1 - t0) * 1e-9;
  double mps = double(w.messages) / secs;
  double bps = double(w.bytes) / secs;
  double client_cpu = (c1 - c0) / secs;
  const auto& h = w.latency_ns;
  bool have_server = o.server_pid > 0 && s0.ok && s1.ok;
  double srv_ns = have_server ? double(s1.sched_ns - s0.sched_ns) : 0;
  double srv_stat_ns = have_server ? load::ticks_to_ns(s1.stat_ticks - s0.stat_ticks) : 0;
  double us_per_msg = w.messages ? srv_ns / double(w.messages) / 1000.0 : 0;
  double us_per_msg_stat = w.messages ? srv_stat_ns / double(w.messages) / 1000.0 : 0;

  std::printf("mode            echo %s, %d conns x %zu B x %d in flight, %.1f s warm-up + %.2f s measured\n",
              o.client.binary ? "binary" : "text", o.client.connections, o.client.size, o.client.inflight,
              o.warmup_s, secs);
  std::printf("connections     %d established in %.2f s, %d open at end of window\n", established, setup_s,
              open_at_end);
  std::printf("throughput      %.0f msg/s, %.2f MB/s payload (%llu msgs)\n", mps, bps / 1e6,
              (unsigned long long)w.messages);
  std::printf("latency us      p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", h.quantile(0.5) / 1e3,
              h.quantile(0.99) / 1e3, h.quantile(0.999) / 1e3, double(h.max()) / 1e3);
  std::printf("client cpu      %.3f cores\n", client_cpu);
  if (have_server)
    std::printf("server          %.3f us cpu/msg (schedstat; stat: %.3f), %.3f cores, rss %.1f MiB, %llu threads\n",
                us_per_msg, us_per_msg_stat, srv_ns / 1e9 / secs, double(s1.rss_bytes) / 1048576.0,
                (unsigned long long)s1.threads);
  else if (o.server_pid > 0)
    std::printf("server          pid %d could not be sampled\n", o.server_pid);
  std::printf("closes          %llu clean\n", (unsigned long long)client.clean_closes());
  print_errors(client.errors());

  Json j;
  j.str("mode", "echo");
  j.str("command", o.command_line);
  j.str("url", o.url);
  j.integer("connections", o.client.connections);
  j.integer("size", static_cast<long long>(o.client.size));
  j.integer("inflight", o.client.inflight);
  j.boolean("binary", o.client.binary);
  j.num("warmup_s", o.warmup_s);
  j.num("measured_s", secs);
  j.integer("established", established);
  j.num("setup_s", setup_s);
  j.integer("open_at_end", open_at_end);
  j.integer("messages", static_cast<long long>(w.messages));
  j.num("messages_per_s", mps);
  j.num("bytes_per_s", bps);
  j.open("latency_us");
  j.num("p50", h.quantile(0.5) / 1e3);
  j.num("p99", h.quantile(0.99) / 1e3);
  j.num("p999", h.quantile(0.999) / 1e3);
  j.num("max", double(h.max()) / 1e3);
  j.close();
  j.num("client_cpu_cores", client_cpu);
  if (have_server) {
    j.open("server");
    j.integer("pid", o.server_pid);
    j.num("cpu_us_per_msg", us_per_msg);
    j.num("cpu_us_per_msg_stat", us_per_msg_stat);
    j.num("cpu_cores", srv_ns / 1e9 / secs);
    j.integer("rss_bytes", static_cast<long long>(s1.rss_bytes));
    j.integer("threads", static_cast<long long>(s1.threads));
    j.close();
  } else {
    j.null("server");
  }
  j.integer("clean_closes", static_cast<long long>(client.clean_closes()));
  json_errors(j, client.errors());
  write_json(o, j.done());
  return client.errors().total() == 0 && w.messages > 0 ? 0 : 1;
}

int run_hold(const Options& o) {
  load::LoadClient client(o.client);
  load::ProcSample before = load::sample_proc(o.server_pid);
  uint64_t t_connect = load::now_ns();
  client.connect_all(o.connect_timeout_s);
  double setup_s = double(load::now_ns() - t_connect) * 1e-9;
  int established = client.established_total();
  load::ProcSample connected = load::sample_proc(o.server_pid);
  uint64_t t0 = load::now_ns();
  client.run_until(t0 + static_cast<uint64_t>(o.duration_s * 1e9));
  double held_s = double(load::now_ns() - t0) * 1e-9;
  load::ProcSample after = load::sample_proc(o.server_pid);
  int open_at_end = client.open_count();
  client.close_all(o.close_timeout_s);
  load::ProcSample closed = load::sample_proc(o.server_pid);

  bool have_server = o.server_pid > 0 && before.ok && after.ok;
  double per_conn = have_server && established > 0
                        ? (double(after.rss_bytes) - double(before.rss_bytes)) / double(established)
                        : 0;
  double idle_cpu = have_server ? double(after.sched_ns - connected.sched_ns) / 1e9 / held_s : 0;

  std::printf("mode            hold, %d conns, %.2f s held\n", o.client.connections, held_s);
  std::printf("connections     %d established in %.2f s (%d failed), %d open at end\n", established, setup_s,
              o.client.connections - established, open_at_end);
  if (have_server) {
    std::printf("server rss      before %.1f MiB, connected %.1f MiB, after hold %.1f MiB, after close %.1f MiB\n",
                before.rss_bytes / 1048576.0, connected.rss_bytes / 1048576.0, after.rss_bytes / 1048576.0,
                closed.ok ? closed.rss_bytes / 1048576.0 : 0.0);
    std::printf("rss per conn    %.0f bytes (after hold - before) / established\n", per_conn);
    std::printf("server idle cpu %.4f cores while holding\n", idle_cpu);
  }
  std::printf("closes          %llu clean\n", (unsigned long long)client.clean_closes());
  print_errors(client.errors());

  Json j;
  j.str("mode", "hold");
  j.str("command", o.command_line);
  j.str("url", o.url);
  j.integer("connections", o.client.connections);
  j.integer("established", established);
  j.integer("failed", o.client.connections - established);
  j.integer("open_at_end", open_at_end);
  j.num("setup_s", setup_s);
  j.num("held_s", held_s);
  if (have_server) {
    j.open("server");
    j.integer("pid", o.server_pid);
    j.integer("rss_before", static_cast<long long>(before.rss_bytes));
    j.integer("rss_connected", static_cast<long long>(connected.rss_bytes));
    j.integer("rss_after_hold", static_cast<long long>(after.rss_bytes));
    if (closed.ok) j.integer("rss_after_close", static_cast<long long>(closed.rss_bytes));
    j.num("rss_bytes_per_conn", per_conn);
    j.num("idle_cpu_cores", idle_cpu);
    j.close();
  } else {
    j.null("server");
  }
  j.integer("clean_closes", static_cast<long long>(client.clean_closes()));
  json_errors(j, client.errors());
  write_json(o, j.done());
  return client.errors().total() == 0 && established == o.client.connections ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse_args(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  return o.mode == "echo" ? run_echo(o) : run_hold(o);
}
