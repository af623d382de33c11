// The route table. Row order is the Connection::route number minus one (kRouteEcho = 1, kRouteWs
// = 2): keep /echo and /ws first. A path may appear once per kind.
#include <array>

#include "../route.hpp"

namespace ringgate::gateway {
namespace {

constexpr std::array kRoutes = {
    RouteSpec{"/echo", RouteKind::websocket, make_echo_route},
    RouteSpec{"/ws", RouteKind::websocket, make_pubsub_route},
    RouteSpec{"/", RouteKind::page, make_demo_page_route},
    RouteSpec{"/index.html", RouteKind::page, make_demo_page_route},
    RouteSpec{{}, RouteKind::stream, make_api_route},  // --api listeners: POST /publish
};

}  // namespace

std::span<const RouteSpec> route_table() noexcept { return kRoutes; }

int find_route(std::string_view path, RouteKind kind) noexcept {
  for (std::size_t i = 0; i < kRoutes.size(); ++i) {
    if (kRoutes[i].kind == kind && kRoutes[i].path == path) return int(i);
  }
  return -1;
}

}  // namespace ringgate::gateway
