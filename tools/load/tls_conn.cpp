// TLS glue of ringgate-load (see tls_conn.hpp).
#include "tls_conn.hpp"

#include <new>

namespace ringgate::load {

std::shared_ptr<tls::ClientContext> make_client_context(const Options& o, std::string& why) {
  tls::global_init();
  tls::ClientOptions co;
  if (o.tls_version != 0) co.min_version = co.max_version = o.tls_version;
  co.ciphers = o.ciphers;
  co.tickets = o.tickets;
  co.verify = false;  // a load generator against self-signed loopback servers
  auto ctx = tls::ClientContext::create(co, why);
  if (!ctx && why.empty()) why = "cannot create the TLS client context";
  return ctx;
}

bool TlsConn::on_output(void* self, const std::uint8_t* data, std::size_t len) noexcept {
  auto& wire = static_cast<TlsConn*>(self)->wire_;
  try {
    wire.insert(wire.end(), data, data + len);
  } catch (const std::bad_alloc&) {
    return false;
  }
  return true;
}

bool TlsConn::start(const std::shared_ptr<tls::ClientContext>& ctx, const std::string& sni,
                    std::span<const std::uint8_t> resume, std::uint64_t now_ns) noexcept {
  started_ns_ = now_ns;
  if (!session_.init_client(ctx, tls::Output{this, &TlsConn::on_output}, sni.empty() ? nullptr : sni.c_str(),
                            resume)) {
    return false;
  }
  // No input yet: this only writes the ClientHello.
  return session_.handshake() != tls::Status::failed;
}

TlsConn::In TlsConn::drain(std::span<std::uint8_t> scratch, bool (*plain)(void*, std::uint8_t*, std::size_t),
                           void* ctx) noexcept {
  In result = In::ok;
  int idle = 0;
  for (;;) {
    std::size_t produced = 0;
    tls::Status s = session_.read(scratch, produced);
    if (s == tls::Status::done) {
      if (produced == 0) {
        if (++idle > 2) break;  // defensive: "done" must make progress
        continue;
      }
      idle = 0;
      if (!plain(ctx, scratch.data(), produced)) break;
      continue;
    }
    if (s == tls::Status::closed) result = In::closed;
    if (s == tls::Status::failed) result = In::failed;
    break;
  }
  session_.feed({});  // never keep a pointer into the caller's recv buffer
  return result;
}

bool TlsConn::encrypt(std::span<const std::uint8_t> plain) noexcept {
  if (plain.empty()) return true;
  return session_.write(plain);
}

bool TlsConn::queue_close_notify() noexcept {
  if (notify_queued_) return false;
  notify_queued_ = true;
  (void)session_.close_notify();
  return true;
}

}  // namespace ringgate::load
