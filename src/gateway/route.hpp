// Routes are data: one row per route in kRoutes (routes/table.cpp), one file per route in
// routes/. A row names the path, what kind of traffic the route takes, and the factory that makes
// the route's handler for a worker; the handler says which subprotocols it speaks and handles
// open, message and close. The worker matches a request against the rows, runs the upgrade
// policy, writes the 101 and from then on hands the route whole messages through ConnIo.
//
// Adding a route: a new file in routes/ with a RouteHandler and its factory, and a row here.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "ringgate/gateway/conn_io.hpp"
#include "ringgate/gateway/config.hpp"
#include "ringgate/gateway/metrics.hpp"
#include "ringgate/http/request.hpp"
#include "ringgate/pubsub/exchange.hpp"

namespace ringgate::gateway {

// A route that takes pub/sub answers (the /ws protocol, the HTTP API): the worker's Delivery hands
// it the exchange's answers for its connections.
class PubsubAnswers {
 public:
  virtual void subscribed(ConnIo&, std::uint64_t id, std::uint64_t seq) noexcept { (void)id, (void)seq; }
  virtual void unsubscribed(ConnIo&, std::uint64_t id) noexcept { (void)id; }
  virtual void refused(ConnIo&, std::uint64_t id, pubsub::ErrorCode, std::string_view) noexcept { (void)id; }
  virtual void published(ConnIo&, const pubsub::Delivery::PubAnswer&) noexcept {}

 protected:
  ~PubsubAnswers() = default;
};

enum class RouteKind : std::uint8_t {
  websocket,  // GET with Upgrade: websocket on this path: messages after the 101
  page,       // GET without Upgrade on this path: one response, then close
  stream,     // every byte of a listener (--api): the route parses its HTTP requests itself
};

class RouteHandler {
 public:
  virtual ~RouteHandler() = default;
  // Subprotocols the route speaks (the client's first one in this list is chosen); none: no header.
  virtual std::span<const std::string_view> subprotocols() const noexcept { return {}; }
  // A message longer than this is not collected: it is discarded and on_oversize() called once it
  // ended. (The WebSocket limit --max-message-bytes still closes with 1009 above it.)
  virtual std::uint64_t collect_limit() const noexcept { return UINT64_MAX; }
  // A non-empty reason refuses messages of this opcode (close 1003 with it, at the first frame).
  virtual std::string_view refuse(ws::Opcode) const noexcept { return {}; }
  virtual void on_open(ConnIo&) noexcept {}
  // A whole data message. `data` has kMessagePadding readable bytes after it (SIMD parsers).
  virtual void on_message(ConnIo&, ws::Opcode, std::span<std::uint8_t> data) noexcept { (void)data; }
  virtual void on_oversize(ConnIo&) noexcept {}
  // The connection is going away (after its WebSocket ended, or torn down).
  virtual void on_close(ConnIo&) noexcept {}
  // kind page: the request (the response goes out with ConnIo::write, then end_response).
  virtual void on_request(ConnIo&, const http::Request&) noexcept {}
  // kind stream: bytes as they arrive (the route keeps partial requests with ConnIo::stash).
  virtual void on_bytes(ConnIo&, std::span<std::uint8_t>) noexcept {}
  // kind stream: the connection was idle within keep-alive when the drain began (true: close it).
  virtual bool idle_for_drain(ConnIo&) noexcept { return false; }
  // What the peer's requests in flight hold, beyond its queued output (publishes not yet answered).
  virtual std::uint64_t held_bytes(std::uint64_t token) const noexcept { (void)token; return 0; }
  // Pub/sub answers for this route's connections (nullptr: it makes no pub/sub requests).
  virtual PubsubAnswers* answers() noexcept { return nullptr; }
};

inline constexpr std::size_t kMessagePadding = 64;  // = pubsub::kPadding = SIMDJSON_PADDING

struct RouteContext {
  const Config& cfg;
  WorkerMetrics& metrics;
  pubsub::Exchange* exchange;  // this worker's pub/sub (routes that publish or subscribe)
};

struct RouteSpec {
  std::string_view path;  // exact match ("" for a stream route: the whole listener)
  RouteKind kind;
  std::unique_ptr<RouteHandler> (*make)(const RouteContext&);
};

// The table (routes/table.cpp), and the row of `path` for `kind` (-1: none). A stream route has
// no path: it takes a whole listener (find_route({}, RouteKind::stream)).
std::span<const RouteSpec> route_table() noexcept;
int find_route(std::string_view path, RouteKind kind) noexcept;

// Factories, one per file in routes/.
std::unique_ptr<RouteHandler> make_echo_route(const RouteContext&);
std::unique_ptr<RouteHandler> make_demo_page_route(const RouteContext&);
std::unique_ptr<RouteHandler> make_pubsub_route(const RouteContext&);
std::unique_ptr<RouteHandler> make_api_route(const RouteContext&);

}  // namespace ringgate::gateway
