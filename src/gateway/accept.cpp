// Accepting: one multishot accept per listener into direct descriptors; each new connection gets a
// slot, its handshake deadline, its transport (TLS, a PROXY header) and, on an --api listener, its
// stream route.
#include <cerrno>

#include "ringgate/gateway/worker.hpp"
#include "route.hpp"
#include "transport/transport.hpp"
#include "user_data.hpp"
#include "worker_port.hpp"

namespace ringgate::gateway {

void Worker::arm_accept(std::size_t listener) noexcept {
  if (ring_.accept_multishot(listeners_[listener].spec.fd, ud(kAccept, std::uint32_t(listener)))) {
    accept_armed_[listener] = 1;
  } else {
    accept_retry_ = true;
  }
}

void Worker::on_accept(std::size_t listener, const net::Completion& c) noexcept {
  if (!c.more()) {
    accept_armed_[listener] = 0;
    if (!draining_) accept_retry_ = true;
  }
  if (c.res < 0) {
    if (c.res != -ECANCELED) {
      metrics_.accept_errors.add();
      // ENFILE: the fixed-file table is full; retry shortly rather than spin.
      accept_retry_ = !draining_;
    }
    return;
  }
  SlabId id;
  Connection* conn = draining_ ? nullptr : conns_.alloc(id);
  if (conn == nullptr) {
    metrics_.accept_errors.add();
    (void)ring_.close(c.res, ud(kClose, kNoSlot));
    return;
  }
  conn->fd = c.res;
  conn->listener = std::uint8_t(listener);
  conn->since_ms = conn->last_rx_ms = now32();
  metrics_.connections_accepted.add();
  metrics_.connections_active.add(1);
  wheel_.arm(conn->timer, now_ms_ + cfg_.handshake_timeout_ms);
  const ListenerKind kind = listeners_[listener].spec.kind;
  const std::shared_ptr<tls::ServerContext>* tls = kind == ListenerKind::tls ? listeners_[listener].context() : nullptr;
  const bool proxy = cfg_.proxy_protocol != ProxyMode::off && kind != ListenerKind::api;
  // An --api listener's bytes all go to its stream route (which parses HTTP itself).
  if (kind == ListenerKind::api) conn->route = std::uint8_t(find_route({}, RouteKind::stream) + 1);
  Port port(*this, id.index, *conn);
  if ((kind == ListenerKind::tls && tls == nullptr) || !transport_->open(port, *conn, tls, proxy)) {
    teardown(id.index, *conn);
  }
}

const std::shared_ptr<tls::ServerContext>* Worker::Listener::context() noexcept {
  if (spec.tls == nullptr) return nullptr;
  if (generation != spec.tls->generation() || !ctx) {
    generation = spec.tls->generation();
    ctx = spec.tls->get();
  }
  return &ctx;
}

}  // namespace ringgate::gateway
