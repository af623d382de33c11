// /echo: every data message goes back as it came (text or binary), through the one writer, which
// queues a large assembled message in place instead of copying it. Subprotocols: --subprotocol.
#include <string>
#include <vector>

#include "../route.hpp"

namespace ringgate::gateway {
namespace {

class EchoRoute final : public RouteHandler {
 public:
  explicit EchoRoute(const Config& cfg) {
    for (const std::string& p : cfg.subprotocols) protocols_.emplace_back(p);
  }
  std::span<const std::string_view> subprotocols() const noexcept override { return protocols_; }
  void on_message(ConnIo& io, ws::Opcode op, std::span<std::uint8_t> data) noexcept override {
    (void)io.send(op, data);  // (out of memory: the worker closes with 1011)
  }

 private:
  std::vector<std::string_view> protocols_;  // views of cfg.subprotocols (the worker's copy)
};

}  // namespace

std::unique_ptr<RouteHandler> make_echo_route(const RouteContext& ctx) {
  return std::make_unique<EchoRoute>(ctx.cfg);
}

}  // namespace ringgate::gateway
