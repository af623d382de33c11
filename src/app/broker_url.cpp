// --broker URL: the scheme picks Redis or NATS, the host is resolved once at start-up.
#include <netdb.h>

#include <charconv>
#include <cstring>
#include <string_view>

#include "app/options.hpp"

namespace ringgate::app {
namespace {
using BrokerKind = decltype(BrokerConfigOf::kind);

bool refuse(std::string& err, std::string msg) {
  err = std::move(msg);
  return false;
}

// Splits [v6]:port or host:port; the default port when none is given.
bool split_host_port(std::string_view rest, std::string& host, std::string& port) {
  host = std::string(rest);
  if (host.front() == '[') {
    const std::size_t close = host.find(']');
    if (close == std::string::npos) return false;
    if (close + 1 < host.size()) {
      if (host[close + 1] != ':') return false;
      port = host.substr(close + 2);
    }
    host = host.substr(1, close - 1);
  } else if (const std::size_t colon = host.rfind(':'); colon != std::string::npos) {
    port = host.substr(colon + 1);
    host.resize(colon);
  }
  return true;
}

// The scheme and the /?sharded= option; sets kind, sharded and the scheme's default port.
bool parse_broker_scheme(const std::string& v, std::string_view& rest, std::uint16_t& port, BrokerConfigOf& b,
                         std::string& err) {
  if (rest.substr(0, 8) == "redis://") {
    b.kind = BrokerKind::redis;
    port = 6379;
    rest.remove_prefix(8);
  } else if (rest.substr(0, 7) == "nats://") {
    b.kind = BrokerKind::nats;
    port = 4222;
    rest.remove_prefix(7);
  } else {
    return refuse(err, "--broker: embedded, redis://HOST:PORT[/?sharded=1] or nats://HOST:PORT, not " + v);
  }
  std::string_view query;
  if (const std::size_t slash = rest.find('/'); slash != std::string_view::npos) {
    query = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  if (query.empty()) return true;
  const bool redis = b.kind == BrokerKind::redis;
  if (redis && (query == "?sharded=1" || query == "?sharded=true")) {
    b.sharded = true;
  } else if (!(redis && (query == "?sharded=0" || query == "?sharded=false"))) {
    return refuse(err, "--broker: unknown option /" + std::string(query) + " in " + v);
  }
  return true;
}

}  // namespace

bool parse_broker_url(const std::string& v, BrokerConfigOf& b, std::string& err) {
  b.kind = BrokerKind::embedded;  // (the timing fields keep what other flags set)
  b.address = net::SockAddr{};
  b.sharded = false;
  b.url = v;
  if (v == "embedded") return true;
  std::string_view rest = v;
  std::uint16_t default_port = 0;
  if (!parse_broker_scheme(v, rest, default_port, b, err)) return false;
  if (rest.empty()) return refuse(err, "--broker: " + v + " names no host");
  std::string host, port = std::to_string(default_port);
  if (!split_host_port(rest, host, port)) return refuse(err, "--broker: bad address in " + v);
  std::uint64_t p = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (host.empty() || ec != std::errc{} || end != port.data() + port.size() || p == 0 || p > 65535) {
    return refuse(err, "--broker: bad host or port in " + v);
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0 || res == nullptr) {
    return refuse(err, "--broker: cannot resolve " + host + ": " + ::gai_strerror(rc));
  }
  std::memcpy(&b.address.storage, res->ai_addr, res->ai_addrlen);
  b.address.len = socklen_t(res->ai_addrlen);
  ::freeaddrinfo(res);
  return true;
}

}  // namespace ringgate::app
