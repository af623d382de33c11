#include "app/options.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <type_traits>
#include <utility>

namespace ringgate::app {
namespace {
// Types named through Config's fields, not where they are declared (they may move to pubsub).
using C = gateway::Config;
using Broker = decltype(C::broker);
using TlsListen = decltype(C::listen_tls)::value_type;
using KtlsMode = decltype(C::ktls);
using ProxyMode = decltype(C::proxy_protocol);
constexpr auto G = &Options::gateway;
constexpr std::uint64_t kMaxDurationMs = 40ull * 24 * 3600 * 1000;  // connection times are 32-bit ms

// A row's field: a path of member pointers from Options (&Options::gateway, &C::broker, ...).
template <auto... Path>
auto& at(OptionState& s) {
  return (s.options .* ... .* Path);
}
template <auto... Path>
using FieldOf = std::remove_reference_t<decltype(at<Path...>(std::declval<OptionState&>()))>;

bool refuse(std::string& err, std::string msg) {
  err = std::move(msg);
  return false;
}
std::string needs(const Option& o) { return std::string(o.name) + std::string(o.needs); }

bool parse_u64(const std::string& s, std::uint64_t& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

bool parse_seconds_ms(const std::string& s, std::uint64_t& out_ms) {
  if (s.empty()) return false;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v) || v < 0 || v > 1e9) return false;
  out_ms = std::uint64_t(std::llround(v * 1000.0));
  return true;
}

// ---- Typed parsers: each row names one, with the field it writes as template arguments.

template <bool PowerOfTwo, auto... Path>
bool apply_count(const Option& o, const std::string& v, OptionState& s, std::string& err) {
  std::uint64_t n = 0;
  if (!parse_u64(v, n) || n < o.set.min || n > o.set.max || (PowerOfTwo && (n & (n - 1)) != 0)) {
    return refuse(err, needs(o));
  }
  at<Path...>(s) = static_cast<FieldOf<Path...>>(n);
  return true;
}
// An integer in [min, max]; a range the field cannot hold does not compile.
template <auto... Path>
consteval Setter count(std::uint64_t min, std::uint64_t max) {
  if (max > std::numeric_limits<FieldOf<Path...>>::max()) throw "the range does not fit the field";
  return {&apply_count<false, Path...>, min, max};
}
template <auto... Path>
consteval Setter power_of_two(std::uint64_t min, std::uint64_t max) {
  if (max > std::numeric_limits<FieldOf<Path...>>::max()) throw "the range does not fit the field";
  return {&apply_count<true, Path...>, min, max};
}

// Seconds with fractions into milliseconds. Marks the flag explicit: a heartbeat profile does not
// override it.
template <auto... Path>
bool apply_seconds(const Option& o, const std::string& v, OptionState& s, std::string& err) {
  std::uint64_t ms = 0;
  if (!parse_seconds_ms(v, ms)) return refuse(err, needs(o));
  if (ms > o.set.max) return refuse(err, std::string(o.name) + ": at most 40 days");
  if (ms < o.set.min) {
    if (o.set.min == 1) return refuse(err, std::string(o.name) + " must be above 0");
    char at_least[32];
    std::snprintf(at_least, sizeof at_least, ": at least %g s", double(o.set.min) / 1000.0);
    return refuse(err, std::string(o.name) + at_least);
  }
  at<Path...>(s) = ms;
  s.explicit_flags.push_back(o.name);
  return true;
}
template <auto... Path>
consteval Setter seconds(std::uint64_t min_ms = 0) {
  static_assert(std::is_same_v<FieldOf<Path...>, std::uint64_t>, "durations are held in 64-bit ms");
  return {&apply_seconds<Path...>, min_ms, kMaxDurationMs};
}

// A numeric HOST:PORT into a list (repeatable flags) or a single field.
template <auto... Path>
bool apply_address(const Option& o, const std::string& v, OptionState& s, std::string& err) {
  auto addr = net::parse_address(v);
  if (!addr) return refuse(err, std::string(o.name) + ": not a numeric HOST:PORT: " + v);
  auto& field = at<Path...>(s);
  if constexpr (requires { field.push_back(*addr); }) {
    field.push_back(*addr);
  } else {
    field = *addr;
  }
  return true;
}
template <auto... Path>
consteval Setter address() {
  return {&apply_address<Path...>};
}

// A non-empty string into a list (repeatable flags) or a single field.
template <auto... Path>
bool apply_text(const Option& o, const std::string& v, OptionState& s, std::string& err) {
  if (v.empty()) return refuse(err, needs(o));
  auto& field = at<Path...>(s);
  if constexpr (requires { field.emplace_back(v); }) {
    field.emplace_back(v);
  } else {
    field = v;
  }
  return true;
}
template <auto... Path>
consteval Setter text() {
  return {&apply_text<Path...>};
}

template <bool Value, auto... Path>
bool apply_switch(const Option&, const std::string&, OptionState& s, std::string&) {
  at<Path...>(s) = Value;
  return true;
}
// A flag without a value that sets the field to `Value`.
template <bool Value, auto... Path>
consteval Setter set_to() {
  return {&apply_switch<Value, Path...>};
}

template <auto... Path>
bool apply_on_off(const Option& o, const std::string& v, OptionState& s, std::string& err) {
  if (v != "on" && v != "off") return refuse(err, needs(o));
  at<Path...>(s) = v == "on";
  return true;
}
template <auto... Path>
consteval Setter on_off() {
  return {&apply_on_off<Path...>};
}

template <class E>
struct Word {
  std::string_view word;
  E value;
};
constexpr Word<KtlsMode> kKtlsWords[] = {{"on", KtlsMode::on}, {"off", KtlsMode::off}, {"auto", KtlsMode::automatic}};
constexpr Word<ProxyMode> kProxyWords[] = {
    {"off", ProxyMode::off}, {"optional", ProxyMode::optional}, {"required", ProxyMode::required}};
constexpr Word<LogLevel> kLevelWords[] = {
    {"debug", LogLevel::debug}, {"info", LogLevel::info}, {"warn", LogLevel::warn}, {"error", LogLevel::error}};

// One of a fixed set of words; a refusal lists them ("--ktls: on, off or auto").
template <const auto& Words, auto... Path>
bool apply_choice(const Option& o, const std::string& v, OptionState& s, std::string& err) {
  for (const auto& w : Words) {
    if (w.word == v) {
      at<Path...>(s) = w.value;
      return true;
    }
  }
  err = std::string(o.name) + ": ";
  const std::size_t n = std::size(Words);
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) err += i + 1 == n ? " or " : ", ";
    err += Words[i].word;
  }
  return false;
}
template <const auto& Words, auto... Path>
consteval Setter choice() {
  return {&apply_choice<Words, Path...>};
}

// ---- The special ones: values that span flags, files, URLs.

std::vector<tls::CertFiles>& pair_target(OptionState& s) {
  auto& listeners = s.options.gateway.listen_tls;
  return listeners.empty() ? s.default_certs : listeners.back().certs;
}

// --tls-cert / --tls-key in either order; a completed pair belongs to the last --listen-tls, or
// before any, to every TLS listener without its own.
template <bool Cert>
bool apply_tls_file(const Option& o, const std::string& v, OptionState& s, std::string& err) {
  if (v.empty()) return refuse(err, needs(o));
  std::string& slot = Cert ? s.pending_cert : s.pending_key;
  if (!slot.empty()) return refuse(err, "--tls-cert and --tls-key come in pairs");
  slot = v;
  if (!s.pending_cert.empty() && !s.pending_key.empty()) {
    pair_target(s).push_back(tls::CertFiles{s.pending_cert, s.pending_key});
    s.pending_cert.clear();
    s.pending_key.clear();
  }
  return true;
}

bool apply_listen_tls(const Option& o, const std::string& v, OptionState& s, std::string& err) {
  auto addr = net::parse_address(v);
  if (!addr) return refuse(err, std::string(o.name) + ": not a numeric HOST:PORT: " + v);
  if (!s.pending_cert.empty() || !s.pending_key.empty()) return refuse(err, "--tls-cert and --tls-key come in pairs");
  s.options.gateway.listen_tls.push_back(TlsListen{*addr, {}});
  return true;
}

bool apply_trusted_proxies(const Option& o, const std::string& v, OptionState& s, std::string& err) {
  std::string_view bad;
  if (s.options.gateway.trusted_proxies.parse(v, bad)) return true;
  return refuse(err, std::string(o.name) + ": not a CIDR list (bad entry: " + std::string(bad) + ")");
}

bool apply_heartbeat_profile(const Option& o, const std::string& v, OptionState& s, std::string& err) {
  const HeartbeatProfile* p = heartbeat_profile(v);
  if (p == nullptr) return refuse(err, needs(o));
  s.profile = p;
  return true;
}

bool apply_slow_consumer(const Option& o, const std::string& v, OptionState& s, std::string& err) {
  return s.options.gateway.slow_consumer.add(v) || refuse(err, needs(o));
}

// The first line, without trailing blanks; never an empty token.
bool apply_api_token_file(const Option& o, const std::string& v, OptionState& s, std::string& err) {
  if (v.empty()) return refuse(err, needs(o));
  std::ifstream in(v);
  std::string line;
  if (!in || !std::getline(in, line)) return refuse(err, "--api-token-file: cannot read " + v);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
  if (line.empty()) return refuse(err, "--api-token-file: " + v + " has an empty first line");
  s.options.gateway.api_token = line;
  return true;
}

bool apply_broker(const Option&, const std::string& v, OptionState& s, std::string& err) {
  return parse_broker_url(v, s.options.gateway.broker, err);
}

// ---- The table. Order is --help's order. Data, not code: rows only name parsers and fields.
constexpr Option kOptions[] = {
    {"--listen", "HOST:PORT", "127.0.0.1:8080", "WebSocket listener (repeatable; port 0 = any)",
     " needs HOST:PORT", address<G, &C::listen>()},
    {"--admin", "HOST:PORT", "off", "admin listener: GET /metrics, GET /healthz", " needs HOST:PORT",
     address<&Options::admin>()},
    {"--workers", "N", "online CPUs", "worker threads, one io_uring each", " needs a number 1..64",
     count<G, &C::workers>(1, 64)},
    {"--drain-timeout", "SECONDS", "5", "on SIGTERM, wait this long for close handshakes",
     " needs seconds (e.g. 5 or 0.5)", seconds<G, &C::drain_timeout_ms>()},
    {"--drain-window", "SECONDS", "0", "spread the 1001 closes of a drain over this window",
     " needs seconds (e.g. 5 or 0.5)", seconds<G, &C::drain_window_ms>()},
    {"--handshake-timeout", "SECONDS", "10", "accept -> completed upgrade", " needs seconds (e.g. 5 or 0.5)",
     seconds<G, &C::handshake_timeout_ms>()},
    {"--ping-interval", "SECONDS", "25; 0 = off", "ping a peer silent this long, jittered +-10 %",
     " needs seconds (e.g. 5 or 0.5)", seconds<G, &C::ping_interval_ms>()},
    {"--pong-timeout", "SECONDS", "10", "close 1011 when a ping stays unanswered this long",
     " needs seconds (e.g. 5 or 0.5)", seconds<G, &C::pong_timeout_ms>(1)},
    {"--idle-timeout", "SECONDS", "0 = off", "close 1000 after no message either way this long",
     " needs seconds (e.g. 5 or 0.5)", seconds<G, &C::idle_timeout_ms>()},
    {"--max-lifetime", "SECONDS", "0 = off", "close 1001 WebSockets older than this",
     " needs seconds (e.g. 5 or 0.5)", seconds<G, &C::max_lifetime_ms>()},
    {"--heartbeat-profile", "NAME", "",
     "cloudflare, aws-alb, aws-nlb or nginx: ping interval and pong timeout for that proxy's idle cut-off "
     "(explicit --ping-interval and --pong-timeout win)",
     ": one of cloudflare, aws-alb, aws-nlb, nginx", {&apply_heartbeat_profile}},
    {"--close-timeout", "SECONDS", "5", "wait for the peer after we close or refuse",
     " needs seconds (e.g. 5 or 0.5)", seconds<G, &C::close_timeout_ms>()},
    {"--max-message-bytes", "N", "16777216", "larger messages are closed with 1009", " needs 1..2^31",
     count<G, &C::max_message_bytes>(1, 1ull << 31)},
    {"--max-head-bytes", "N", "8192", "larger request heads get 431", " needs 256..1048576",
     count<G, &C::max_head_bytes>(256, 1u << 20)},
    {"--max-outbound-bytes", "N", "1048576",
     "queued output that pauses reading from a peer, and a subscriber's queue limit", " needs 4096..2^31",
     count<G, &C::max_outbound_bytes>(4096, 1ull << 31)},
    {"--recv-buffers", "N", "512", "provided receive buffers per worker, a power of two",
     " needs a power of two up to 32768", power_of_two<G, &C::recv_buffers>(1, 32768)},
    {"--recv-buffer-bytes", "N", "4096", "size of each receive buffer", " needs 512..1048576",
     count<G, &C::recv_buffer_bytes>(512, 1u << 20)},
    {"--subprotocol", "NAME", "", "a Sec-WebSocket-Protocol /echo accepts (repeatable, in preference order)",
     " needs a name", text<G, &C::subprotocols>()},
    {"--no-direct-descriptors", "", "", "use ordinary fds instead of io_uring direct descriptors", "",
     set_to<false, G, &C::direct_descriptors>()},
    {"--handover", "", "",
     "start even if another process listens on the same ports (SO_REUSEPORT): for a restart without refused "
     "connections; the old process is then stopped with SIGTERM",
     "", set_to<true, G, &C::handover>()},
    {"--listen-tls", "HOST:PORT", "",
     "WebSocket-over-TLS listener (repeatable); the --tls-cert/--tls-key pairs after it are its certificates "
     "(first = default, others by SNI)",
     " needs HOST:PORT", {&apply_listen_tls}},
    {"--tls-cert", "FILE", "",
     "PEM certificate chain; with its --tls-key, one certificate of the --listen-tls before it. Pairs given "
     "before any --listen-tls serve every TLS listener without its own",
     " needs a file", {&apply_tls_file<true>}},
    {"--tls-key", "FILE", "", "the private key of the --tls-cert it pairs with (either order)", " needs a file",
     {&apply_tls_file<false>}},
    {"--tls-ticket-keys", "FILE", "",
     "session-ticket keys shared by a fleet (base64 48/80-byte keys, one per line, first encrypts); re-read "
     "on rotation and SIGHUP",
     " needs a file", text<G, &C::tls_ticket_keys>()},
    {"--tls-ticket-rotate", "SECONDS", "3600", "new ticket key (or re-read of the file) this often",
     " needs seconds (e.g. 5 or 0.5)", seconds<G, &C::tls_ticket_rotate_ms>()},
    {"--tls-session-cache", "ENTRIES", "20480; 0 = off", "TLS 1.2 session-ID cache size",
     " needs 0..10000000 entries", count<G, &C::tls_session_cache>(0, 10'000'000)},
    {"--ktls", "on|off|auto", "auto: when the kernel can", "kernel TLS after the handshake",
     " needs on, off or auto", choice<kKtlsWords, G, &C::ktls>()},
    {"--proxy-protocol", "off|optional|required", "off", "PROXY v1/v2 header before any byte (every listener)",
     " needs off, optional or required", choice<kProxyWords, G, &C::proxy_protocol>()},
    {"--trusted-proxies", "CIDR[,CIDR...]", "", "peers allowed to send PROXY headers and X-Forwarded-For",
     ": not a CIDR list (bad entry: )", {&apply_trusted_proxies}},
    {"--proxy-timeout", "SECONDS", "5", "the PROXY header must arrive within this",
     " needs seconds (e.g. 5 or 0.5)", seconds<G, &C::proxy_timeout_ms>()},
    {"--redirect-http", "HOST:PORT", "", "plain HTTP listener answering 301 to https://same-host/same-path",
     " needs HOST:PORT", address<G, &C::redirect_http>()},
    {"--client-publish", "on|off", "off: err forbidden", "/ws clients may publish", " needs on or off",
     on_off<G, &C::client_publish>()},
    {"--slow-consumer", "[PREFIX=]disconnect|drop|conflate", "disconnect",
     "what a subscriber over --max-outbound-bytes gets: close 4100, dropped messages + gap, or newest per "
     "topic (repeatable; the longest matching topic prefix wins)",
     " needs [PREFIX=]disconnect|drop|conflate", {&apply_slow_consumer}},
    {"--history", "N", "100", "messages kept per topic for recovery with \"since\"", " needs 0..100000 messages",
     count<G, &C::history>(0, 100000)},
    {"--history-ttl", "SECONDS", "300", "topic state kept after its last subscriber and message",
     " needs seconds (e.g. 5 or 0.5)", seconds<G, &C::history_ttl_ms>()},
    {"--history-max-bytes", "N", "67108864",
     "memory for all topics' history together; over it the oldest messages are forgotten first",
     " needs 65536..2^40", count<G, &C::history_max_bytes>(65536, 1ull << 40)},
    {"--max-publish-bytes", "N", "65536", "largest published data", " needs 16..16777216",
     count<G, &C::max_publish_bytes>(16, 16u << 20)},
    {"--max-subscriptions", "N", "1024", "per connection", " needs 1..1000000",
     count<G, &C::max_subscriptions>(1, 1000000)},
    {"--api", "HOST:PORT", "", "HTTP publish API: POST /publish with a bearer token (repeatable)",
     " needs HOST:PORT", address<G, &C::api>()},
    {"--api-token", "TOKEN", "", "the API's bearer token (or --api-token-file)", " needs a token",
     text<G, &C::api_token>()},
    {"--api-token-file", "FILE", "", "the API's bearer token: the file's first line", " needs a file",
     {&apply_api_token_file}},
    {"--broker", "URL", "embedded",
     "embedded, redis://HOST[:PORT][/?sharded=1] (port 6379) or nats://HOST[:PORT] (port 4222): gateways "
     "sharing one Redis or NATS deliver each other's publishes",
     " needs embedded, redis://HOST:PORT or nats://HOST:PORT", {&apply_broker}},
    {"--broker-ping-interval", "SECONDS", "5",
     "a PING on each broker connection this often; two unanswered -> reconnect",
     " needs seconds (e.g. 5 or 0.5)", seconds<G, &C::broker, &Broker::ping_interval_ms>(100)},
    {"--broker-linger", "SECONDS", "5; 0 = unsubscribe at once",
     "keep a topic's broker subscription this long after its last subscriber leaves",
     " needs seconds (e.g. 5 or 0.5)", seconds<G, &C::broker, &Broker::linger_ms>()},
    {"--log-level", "LEVEL", "info", "debug, info, warn or error", " needs a level",
     choice<kLevelWords, &Options::log_level>()},
    {"--help", "", "", "print this help and exit", "", set_to<true, &Options::help>(), "-h"},
    {"--version", "", "", "print the version and exit", "", set_to<true, &Options::version>()},
};
}  // namespace

std::span<const Option> option_table() noexcept { return kOptions; }

const Option* find_option(std::string_view name) noexcept {
  for (const Option& o : kOptions) {
    if (o.name == name || (!o.alias.empty() && o.alias == name)) return &o;
  }
  return nullptr;
}

}  // namespace ringgate::app
