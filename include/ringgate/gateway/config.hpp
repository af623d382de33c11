// Gateway configuration: everything the app's flags decide, with the defaults documented in
// docs/operations.md. Plain data; validated by the app before the server starts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ringgate/http/proxy_protocol.hpp"
#include "ringgate/net/listener.hpp"
#include "ringgate/pubsub/broker_config.hpp"
#include "ringgate/pubsub/policy.hpp"
#include "ringgate/tls/context.hpp"

namespace ringgate::gateway {

enum class ProxyMode : std::uint8_t { off, optional, required };
enum class KtlsMode : std::uint8_t { off, on, automatic };

struct TlsListen {
  net::SockAddr address;
  std::vector<tls::CertFiles> certs;  // the first is the default; the others are picked by SNI
};

// --broker: where topics live (pub/sub's; the names stay here for the app).
using BrokerKind = pubsub::BrokerKind;
using BrokerConfig = pubsub::BrokerConfig;

struct Config {
  std::vector<net::SockAddr> listen;
  std::vector<TlsListen> listen_tls;
  std::vector<net::SockAddr> redirect_http;   // plain listeners answering 301 to https://
  std::string tls_ticket_keys;                 // key file shared by a fleet; empty = random keys
  std::uint64_t tls_ticket_rotate_ms = 3600000;// new random key (or re-read of the file) this often
  std::uint32_t tls_session_cache = 20480;     // TLS 1.2 session-ID cache entries (0 = off)
  std::uint32_t tls_session_lifetime_s = 7200;
  KtlsMode ktls = KtlsMode::automatic;
  ProxyMode proxy_protocol = ProxyMode::off;
  http::CidrSet trusted_proxies;               // PROXY headers and X-Forwarded-For only from these
  std::uint64_t proxy_timeout_ms = 5000;       // the PROXY header must arrive within this
  unsigned workers = 0;                        // 0 = online CPUs
  std::uint64_t drain_timeout_ms = 5000;       // SIGTERM: how long close handshakes may take
  std::uint64_t handshake_timeout_ms = 10000;  // TCP accept -> completed upgrade
  std::uint64_t close_timeout_ms = 5000;       // we sent close (or a refusal): how long we wait for the peer
  std::uint64_t ping_interval_ms = 25000;      // no bytes from the peer this long -> ping (±10 % jitter); 0 = off
  std::uint64_t pong_timeout_ms = 10000;       // ping unanswered this long -> close 1011, "pong timeout"
  std::uint64_t idle_timeout_ms = 0;           // no data message either way this long -> close 1000; 0 = off
  std::uint64_t max_lifetime_ms = 0;           // WebSocket older than this -> close 1001; 0 = off
  std::uint64_t drain_window_ms = 0;           // SIGTERM: spread the 1001 closes evenly over this window
  std::uint64_t max_message_bytes = 16u << 20; // bigger -> close 1009
  std::uint32_t max_head_bytes = 8192;         // bigger request head -> 431
  std::uint32_t max_outbound_bytes = 1u << 20; // queued for a peer beyond this: stop reading from it
  std::uint32_t recv_buffers = 512;            // provided buffers per worker (power of two): 2 MiB
  std::uint32_t recv_buffer_bytes = 4096;
  std::vector<std::string> subprotocols;       // offered by /echo, in order of preference
  // Pub/sub (route /ws) and the HTTP publish API.
  bool client_publish = false;                 // clients may publish (else err forbidden)
  pubsub::PolicyRules slow_consumer;           // --slow-consumer [PREFIX=]POLICY
  std::uint32_t history = 100;                 // messages kept per topic for recovery (0 = none)
  std::uint64_t history_ttl_ms = 300000;       // topic state kept this long after its last subscriber and message
  std::uint64_t history_max_bytes = 64u << 20; // all topics' history together; the oldest messages go first
  std::uint32_t max_publish_bytes = 65536;     // a client request or API body larger -> too_large / 413
  std::uint32_t max_subscriptions = 1024;      // per connection
  std::vector<net::SockAddr> api;              // --api: POST /publish listeners
  std::string api_token;                       // bearer token (from --api-token or --api-token-file)
  BrokerConfig broker;
  std::uint64_t node_id = 0;                   // names this process in broker envelopes; 0 = random at start
  bool direct_descriptors = true;
  unsigned fixed_files = 0;                    // per worker ring; 0 = RLIMIT_NOFILE
  bool handover = false;                       // share ports another process listens on (a restart)
};

}  // namespace ringgate::gateway
