// /ws: the JSON pub/sub protocol (docs/protocol.md), subprotocol "ringgate.v1".
// (Its message handling still runs in the worker, pubsub_conn.cpp, until the exchange moves into
// the pubsub module; this handler names the subprotocol.)
#include "../route.hpp"

namespace ringgate::gateway {
namespace {

constexpr std::string_view kPubsubProtocol[] = {"ringgate.v1"};

class PubsubRoute final : public RouteHandler {
 public:
  std::span<const std::string_view> subprotocols() const noexcept override { return kPubsubProtocol; }
};

}  // namespace

std::unique_ptr<RouteHandler> make_pubsub_route(const RouteContext&) { return std::make_unique<PubsubRoute>(); }

}  // namespace ringgate::gateway
