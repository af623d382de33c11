// ktls_vm_test: end-to-end proof that the gateway moves TLS sessions into the kernel (kTLS).
//
// For TLS 1.2 and 1.3 x AES-128-GCM / AES-256-GCM / ChaCha20-Poly1305 (suite forced by the client),
// in both descriptor modes (io_uring direct descriptors and ordinary fds), a fresh gateway runs in a
// forked child; a user-space wolfSSL client upgrades to /echo, echoes 1 B .. 1 MB and verifies every
// byte, pings, closes with 1000 and expects the server's close_notify; a second connection sends
// close_notify first. The server's metrics must show every connection installed in the kernel, no
// fallback, and no user-space session left. Then 2000 idle connections are held against ktls=on and
// ktls=off to measure the server's RSS per connection.
//
// Inside the VM (tools/ktls-vm.sh, kernel with CONFIG_TLS) run it plainly. On a host without kTLS
// run it with --expect-fallback: the same cases must work in user space with result="no_ulp".
// Exit status 0 only if every check passed.
#include <sys/resource.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ktls_client.hpp"
#include "ringgate/net/listener.hpp"
#include "ringgate/tls/context.hpp"
#include "server_child.hpp"

namespace ringgate::ktls_test {
namespace {

struct Options {
  std::string certs;  // directory with ec.crt, ec.key, rsa.crt, rsa.key
  bool expect_fallback = false;
  int idle = 2000;
};

struct Case {
  const char* version_label;
  std::uint16_t version;
  const char* cipher_label;
  const char* suite;
  bool rsa = false;
};

constexpr Case kCases[] = {
    {"tls1.2", tls::kTls12, "aes-128-gcm", "ECDHE-ECDSA-AES128-GCM-SHA256"},
    {"tls1.2", tls::kTls12, "aes-256-gcm", "ECDHE-ECDSA-AES256-GCM-SHA384"},
    {"tls1.2", tls::kTls12, "chacha20-poly1305", "ECDHE-ECDSA-CHACHA20-POLY1305"},
    {"tls1.3", tls::kTls13, "aes-128-gcm", "TLS13-AES128-GCM-SHA256"},
    {"tls1.3", tls::kTls13, "aes-256-gcm", "TLS13-AES256-GCM-SHA384"},
    {"tls1.3", tls::kTls13, "chacha20-poly1305", "TLS13-CHACHA20-POLY1305-SHA256"},
};
// One RSA certificate case (the offload does not depend on the signature; this covers the path).
constexpr Case kRsaCase{"tls1.2", tls::kTls12, "aes-128-gcm(rsa)", "ECDHE-RSA-AES128-GCM-SHA256", true};

constexpr const char* kFallbacks[] = {"disabled",       "no_ulp",         "cipher",       "partial_record",
                                      "pending_output", "kernel_refused", "no_descriptor"};
constexpr const char* kRecordTypes[] = {"close_notify", "alert", "key_update", "renegotiation", "other"};
constexpr const char* kFailureReasons[] = {"protocol", "version",   "no_cipher", "alert",
                                           "certificate", "not_tls", "resources", "other"};

std::string ktls_key(const char* result) { return std::string("ringgate_tls_ktls_total{result=\"") + result + "\"}"; }
std::string record_key(const char* type) {
  return std::string("ringgate_tls_ktls_records_total{type=\"") + type + "\"}";
}

gateway::Config base_config(const Options& o, bool rsa, gateway::KtlsMode ktls, bool direct) {
  gateway::Config cfg;
  gateway::TlsListen l;
  l.address = *net::parse_address("127.0.0.1:0");
  const std::string stem = o.certs + (rsa ? "/rsa" : "/ec");
  l.certs.push_back(tls::CertFiles{stem + ".crt", stem + ".key"});
  cfg.listen_tls.push_back(l);
  cfg.ktls = ktls;
  cfg.workers = 1;
  cfg.direct_descriptors = direct;
  cfg.fixed_files = 8192;             // the VM's RLIMIT_NOFILE is 1M: keep the table modest
  cfg.ping_interval_ms = 0;           // no server pings: idle means idle, counts stay exact
  cfg.handshake_timeout_ms = 120000;  // TCG is slow
  return cfg;
}

// Collects failed checks; a case passes when none failed.
struct Checks {
  std::vector<std::string> failed;
  void expect(bool ok, const std::string& what) {
    if (!ok) failed.push_back(what);
  }
  void expect_eq(const Metrics& m, const std::string& key, double want) {
    const double got = metric(m, key);
    if (got != want) failed.push_back(key + " = " + std::to_string((long long)got) + ", want " + std::to_string((long long)want));
  }
  std::string joined() const {
    std::string s;
    for (const auto& f : failed) s += (s.empty() ? "" : "; ") + f;
    return s;
  }
};

// The server's TLS counters after `conns` connections (one of which sent close_notify first).
void check_final_metrics(Checks& c, const Metrics& m, const Options& o, double conns) {
  const char* expected = o.expect_fallback ? "no_ulp" : nullptr;
  c.expect_eq(m, ktls_key("installed"), expected ? 0 : conns);
  for (const char* f : kFallbacks) c.expect_eq(m, ktls_key(f), expected && !std::strcmp(f, expected) ? conns : 0);
  for (const char* r : kFailureReasons) {
    c.expect_eq(m, std::string("ringgate_tls_handshake_failures_total{reason=\"") + r + "\"}", 0);
  }
  c.expect_eq(m, "ringgate_tls_handshakes_total{kind=\"full\"}", conns);
  c.expect_eq(m, "ringgate_tls_user_sessions", 0);
  c.expect_eq(m, "ringgate_tls_ktls_available", o.expect_fallback ? 0 : 1);
  // Under kTLS the client's close_notify reaches the worker as a record-type cmsg; in user space
  // wolfSSL consumes it and nothing is counted here.
  for (const char* t : kRecordTypes) {
    c.expect_eq(m, record_key(t), !o.expect_fallback && !std::strcmp(t, "close_notify") ? 1 : 0);
  }
  c.expect_eq(m, "ringgate_connections_active", 0);
}

bool open_ws(Client& cl, std::uint16_t port, const std::shared_ptr<tls::ClientContext>& ctx) {
  return cl.connect(port) && cl.handshake(ctx) && cl.upgrade();
}

bool run_case(const Options& o, const Case& k, bool direct) {
  const long long t0 = now_ms();
  const std::string name = std::string(k.version_label) + " " + k.cipher_label + (direct ? " direct" : " fd");
  Checks c;
  auto report = [&](const std::string& detail) {
    const bool ok = c.failed.empty();
    std::printf("%s %s: %s [%lld ms]\n", ok ? "PASS" : "FAIL", name.c_str(), ok ? detail.c_str() : c.joined().c_str(),
                now_ms() - t0);
    std::fflush(stdout);
    return ok;
  };
  const auto mode = o.expect_fallback ? gateway::KtlsMode::automatic : gateway::KtlsMode::on;
  ServerChild srv;
  std::string why;
  if (!srv.start(base_config(o, k.rsa, mode, direct), why)) {
    c.expect(false, "server start: " + why);
    return report("");
  }
  tls::ClientOptions co;
  co.min_version = co.max_version = k.version;
  co.ciphers = k.suite;
  auto ctx = tls::ClientContext::create(co, why);
  if (!ctx) {
    c.expect(false, "client context: " + why);
    return report("");
  }
  Metrics m;
  const std::string result = o.expect_fallback ? "no_ulp" : "installed";
  // Connection 1: data both ways, ping, WebSocket close, the server's close_notify.
  {
    Client cl;
    if (!open_ws(cl, srv.port(), ctx)) {
      c.expect(false, "connection 1: " + cl.why());
      return report("");
    }
    c.expect(cl.session().version() == k.version, "negotiated version differs");
    c.expect(cl.session().cipher_name() == k.suite, "negotiated suite " + std::string(cl.session().cipher_name()));
    // The switch happens right after the handshake; by the time the 101 arrived it was decided.
    if (!wait_metrics(srv, m, 30000, [&](const Metrics& x) { return metric(x, ktls_key(result.c_str())) == 1; }, why)) {
      c.expect(false, "connection 1 " + result + ": " + why);
    }
    c.expect_eq(m, "ringgate_tls_user_sessions", o.expect_fallback ? 1 : 0);
    for (std::size_t n : {std::size_t(1), std::size_t(1000), std::size_t(100000), std::size_t(1) << 20}) {
      if (!cl.echo(n, std::uint32_t(n))) break;
    }
    if (cl.why().empty()) cl.ping_pong();
    if (cl.why().empty()) cl.ws_close();
    c.expect(cl.why().empty(), "connection 1: " + cl.why());
  }
  // Connection 2: the client ends TLS first, without a WebSocket close.
  bool answered = false;
  {
    Client cl;
    if (!open_ws(cl, srv.port(), ctx) || !cl.echo(1000, 7) || !cl.tls_close_first(answered)) {
      c.expect(false, "connection 2: " + cl.why());
    }
    // RFC 8446 §6.1: a close_notify is answered with ours before the write side closes.
    c.expect(answered, "connection 2: the server did not answer the client's close_notify");
  }
  if (!wait_metrics(srv, m, 30000, [](const Metrics& x) { return metric(x, "ringgate_connections_active") == 0; }, why)) {
    c.expect(false, "connections did not close: " + why);
  }
  check_final_metrics(c, m, o, 2);
  c.expect(srv.stop(), "the server child did not exit cleanly");
  return report(result + "=2, echo ok (1B,1000B,100KB,1MB), ping ok, close 1000 + close_notify ok, client close_notify " +
                (o.expect_fallback ? "ok" : "counted") + " and answered");
}

// Holds `n` idle WebSockets and returns the server's RSS growth per connection (-1 on failure).
long long idle_bytes_per_conn(const Options& o, bool ktls, int n, bool& ok) {
  const long long t0 = now_ms();
  const char* label = ktls ? "on" : "off";
  Checks c;
  auto mode = ktls ? (o.expect_fallback ? gateway::KtlsMode::automatic : gateway::KtlsMode::on) : gateway::KtlsMode::off;
  ServerChild srv;
  std::string why;
  if (!srv.start(base_config(o, false, mode, true), why)) {
    std::printf("FAIL idle ktls=%s: server start: %s\n", label, why.c_str());
    ok = false;
    return -1;
  }
  tls::ClientOptions co;
  co.min_version = co.max_version = tls::kTls13;
  co.ciphers = "TLS13-AES128-GCM-SHA256";
  auto ctx = tls::ClientContext::create(co, why);
  if (!ctx) {
    std::printf("FAIL idle ktls=%s: client context: %s\n", label, why.c_str());
    ok = false;
    return -1;
  }
  Metrics m;
  {  // warm-up: first-use allocations (buffers, wolfSSL tables) are not per connection
    Client cl;
    c.expect(open_ws(cl, srv.port(), ctx) && cl.echo(1000, 1) && cl.ws_close(), "warm-up: " + cl.why());
  }
  c.expect(wait_metrics(srv, m, 30000, [](const Metrics& x) { return metric(x, "ringgate_connections_active") == 0; }, why),
           "warm-up close: " + why);
  const long long rss0 = rss_bytes(srv.pid()), slab0 = slab_bytes();
  const std::string result = !ktls ? "disabled" : o.expect_fallback ? "no_ulp" : "installed";
  // RSS is sampled at n/2 and at n: the slope between them is the per-connection cost, free of
  // one-time steps (the worker's malloc arena, pools growing) that the first connections trigger.
  auto settle = [&](int count) {
    c.expect(wait_metrics(srv, m, 60000, [&](const Metrics& x) {
               return metric(x, "ringgate_connections_active") == count &&
                      metric(x, ktls_key(result.c_str())) == count + 1;
             }, why), "idle hold of " + std::to_string(count) + ": " + why);
    ::usleep(100000);
  };
  std::vector<std::unique_ptr<Client>> held;
  long long rss_half = 0;
  const int half = n / 2;
  for (int i = 0; i < n && c.failed.empty(); ++i) {
    if (i == half) {
      settle(half);
      rss_half = rss_bytes(srv.pid());
    }
    auto cl = std::make_unique<Client>();
    if (!open_ws(*cl, srv.port(), ctx)) {
      c.expect(false, "idle connection " + std::to_string(i) + ": " + cl->why());
      break;
    }
    cl->drop_session();
    held.push_back(std::move(cl));
  }
  const long long t_open = now_ms() - t0;
  settle(n);
  c.expect_eq(m, "ringgate_tls_user_sessions", result == "installed" ? 0 : n);
  const long long rss1 = rss_bytes(srv.pid()), slab1 = slab_bytes();
  held.clear();
  c.expect(wait_metrics(srv, m, 60000, [](const Metrics& x) { return metric(x, "ringgate_connections_active") == 0; }, why),
           "idle close: " + why);
  c.expect_eq(m, "ringgate_tls_user_sessions", 0);
  c.expect(srv.stop(), "the server child did not exit cleanly");
  const long long per = n - half > 0 ? (rss1 - rss_half) / (n - half) : 0;
  std::printf("idle_bytes_per_conn ktls=%s %lld\n", label, per);
  std::printf("  ktls=%s: %d idle wss held, server VmRSS %lld -> %lld (at %d) -> %lld KiB (average from empty %lld B/conn), "
              "system Slab +%lld B/conn (both ends), %s=%d, open %lld ms, total %lld ms%s%s\n",
              label, n, rss0 / 1024, rss_half / 1024, half, rss1 / 1024, n > 0 ? (rss1 - rss0) / n : 0,
              n > 0 ? (slab1 - slab0) / n : 0, result.c_str(), n + 1, t_open,
              now_ms() - t0, c.failed.empty() ? "" : "\nFAIL idle: ", c.joined().c_str());
  std::fflush(stdout);
  if (!c.failed.empty()) ok = false;
  return per;
}

int usage() {
  std::fprintf(stderr, "usage: ktls_vm_test --certs DIR [--expect-fallback] [--idle N]\n"
                       "  DIR holds ec.crt ec.key (P-256) and rsa.crt rsa.key (RSA-2048)\n");
  return 2;
}

int run(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--certs" && i + 1 < argc) o.certs = argv[++i];
    else if (a == "--expect-fallback") o.expect_fallback = true;
    else if (a == "--idle" && i + 1 < argc) o.idle = std::atoi(argv[++i]);
    else return usage();
  }
  if (o.certs.empty()) return usage();
  ::signal(SIGPIPE, SIG_IGN);
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  tls::global_init();
  const long long t0 = now_ms();
  int failed = 0, total = 0;
  for (bool direct : {true, false}) {
    for (const Case& k : kCases) {
      ++total;
      if (!run_case(o, k, direct)) ++failed;
    }
  }
  ++total;
  if (!run_case(o, kRsaCase, true)) ++failed;
  if (o.idle > 0) {
    bool ok = true;
    const long long on = idle_bytes_per_conn(o, true, o.idle, ok);
    const long long off = idle_bytes_per_conn(o, false, o.idle, ok);
    total += 2;
    if (ok && !o.expect_fallback && !(on < off)) {
      std::printf("FAIL idle: kTLS connections are not smaller than user-space ones (%lld >= %lld B)\n", on, off);
      ok = false;
    }
    if (!ok) ++failed;
  }
  std::printf("%s: %d of %d groups failed (%s mode, %lld ms)\n", failed ? "FAIL" : "PASS", failed, total,
              o.expect_fallback ? "fallback" : "kTLS", now_ms() - t0);
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace ringgate::ktls_test

int main(int argc, char** argv) { return ringgate::ktls_test::run(argc, argv); }
