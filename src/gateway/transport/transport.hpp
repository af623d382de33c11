// Transport: the layers under HTTP, one object per worker, in the order bytes meet them:
//   proxy.cpp  the PROXY header (v1/v2), only from --trusted-proxies; the TCP peer is looked up
//              first (a direct descriptor needs an ordinary one for getpeername)
//   tls.cpp    user-space TLS (wolfSSL): the handshake, then records while kTLS is not possible
//   ktls.cpp   the switch to kernel TLS at a quiet point, control records (alerts, KeyUpdate)
//              under kTLS, and close_notify
// The worker calls the seam below at fixed points of its loop (accept, receive, flush, send
// completion, release) and never looks at Connection::tls or the transport flags itself. A plain
// connection passes straight through every call. The layers act on the ring only through LinkIo.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "link_io.hpp"
#include "ringgate/gateway/config.hpp"
#include "ringgate/gateway/connection.hpp"
#include "ringgate/gateway/metrics.hpp"
#include "ringgate/net/ring.hpp"
#include "ringgate/tls/context.hpp"
#include "ringgate/tls/ktls.hpp"
#include "ringgate/tls/session.hpp"

namespace ringgate::gateway {

// What a connection needs beyond the common Connection fields, allocated only when TLS runs in
// user space or a PROXY header named a client. Freed when the connection moves to kTLS (unless it
// carries a PROXY address) and when the slot is released.
struct ConnExt {
  std::unique_ptr<tls::Session> session;
  OutQueue cipher;                 // ciphertext from wolfSSL: what goes on the wire
  ChunkPool* pool = nullptr;
  tls::KtlsParams ktls{};          // keys waiting for the switch (kTlsSwitching)
  sockaddr_storage client{};       // from a PROXY header (ss_family 0 = none)
  std::string proxy_tlvs;          // its v2 TLVs we keep, as " alpn=.. authority=.. vpce=.." (logs)
  bool fed = false;                // wolfSSL has seen the connection's first bytes
};

class Transport {
 public:
  Transport(const Config& cfg, WorkerMetrics& metrics, ChunkPool& pool, bool ktls_available) noexcept
      : cfg_(cfg), metrics_(metrics), pool_(pool), ktls_available_(ktls_available) {}
  bool init() noexcept;  // false: out of memory

  // ---- the seam (transport.cpp) ----
  // Accepted on a listener: TLS starts when `tls` is set; the PROXY header is expected when
  // `proxy`. False: tear the connection down.
  bool open(LinkIo& io, Connection& c, const std::shared_ptr<tls::ServerContext>* tls, bool proxy) noexcept;
  // Received bytes, from the ring: through PROXY and TLS to LinkIo::deliver.
  void input(LinkIo& io, Connection& c, std::uint8_t* data, std::size_t len) noexcept;
  // The receive completion belongs to the transport (a control-record recvmsg): hand it over.
  bool owns_recv(const Connection& c) const noexcept { return c.link & kCtrlRecv; }
  void on_recv(LinkIo& io, Connection& c, const net::Completion& cqe) noexcept;  // (ktls.cpp)
  // A receive error the transport explains (EIO under kTLS: a control record waits). True: handled.
  bool on_recv_error(LinkIo& io, Connection& c, std::int32_t res) noexcept;
  // Whether the multishot receive may be (re)armed now.
  bool may_read(const Connection& c) const noexcept {
    return c.tls != kTlsSwitching && !(c.link & (kCtrlRecv | kPeerPending));
  }
  // A receive ended or was canceled: a kTLS switch waiting for it goes on. True: it was waiting.
  bool after_recv(LinkIo& io, Connection& c) noexcept;
  // A ring operation for the transport is in flight (a descriptor being made): no send, no release.
  bool busy(const Connection& c) const noexcept { return c.link & kInstalling; }
  // Flush: what goes on the wire next (user-space TLS encrypts the queue here). nullptr: torn down.
  OutQueue* wire(LinkIo& io, Connection& c) noexcept;
  // Nothing left to send: a step of the transport's own (the kTLS switch). True: it took one.
  bool step(LinkIo& io, Connection& c) noexcept;
  // Our side is closing and everything is sent: close_notify first. done: nothing (more) to do,
  // close TCP; send: it is queued, send the wire queue; wait: in flight or retried next turn.
  enum class CloseStep : std::uint8_t { done, send, wait };
  CloseStep close(LinkIo& io, Connection& c) noexcept;
  // A send completed with `bytes`: consume them from the queue it came from.
  void sent(Connection& c, std::size_t bytes) noexcept;
  // The send in flight (if any) carries only queued plaintext: a slow consumer's close may take it back.
  bool plain_wire(const Connection& c) const noexcept { return &wire_queue(c) == &c.out; }
  // A descriptor made for the transport is back (for_keys: kTLS keys; else the peer's address).
  void on_fd(LinkIo& io, Connection& c, bool for_keys, std::int32_t res) noexcept;
  // The slot is being freed.
  void release(Connection& c, std::uint32_t slot) noexcept;
  // Bytes the transport holds for the peer (ciphertext), for --max-outbound-bytes.
  std::uint64_t queued(const Connection& c) const noexcept { return c.ext != nullptr ? c.ext->cipher.footprint() : 0; }
  // The client a trusted PROXY header named (nullptr: none), and its TLVs for logs.
  const sockaddr* proxy_client(const Connection& c) const noexcept;
  const char* proxy_tlvs(const Connection& c) const noexcept { return c.ext != nullptr ? c.ext->proxy_tlvs.c_str() : ""; }
  // Drain: a connection that has not spoken yet and may still be silent for a while (no PROXY
  // header, no TLS handshake under way).
  bool quiet(const Connection& c) const noexcept { return !(c.link & kProxyPending) && c.tls == kTlsNone; }
  bool waiting_for_proxy(const Connection& c) const noexcept { return c.link & (kPeerPending | kProxyPending); }

 private:
  OutQueue& wire_queue(const Connection& c) const noexcept {
    return c.tls == kTlsHandshake || c.tls == kTlsSwitching || c.tls == kTlsUser ? c.ext->cipher
                                                                                 : const_cast<OutQueue&>(c.out);
  }
  ConnExt* ext_of(Connection& c) noexcept;
  void free_ext(Connection& c) noexcept;
  // proxy.cpp
  void on_peer_known(LinkIo& io, Connection& c, const sockaddr* peer) noexcept;
  void proxy_input(LinkIo& io, Connection& c, std::uint8_t* data, std::size_t len) noexcept;
  bool accept_proxy_header(Connection& c, const http::ProxyHeader& h) noexcept;
  // tls.cpp
  bool start_tls(Connection& c, const std::shared_ptr<tls::ServerContext>& ctx) noexcept;
  void secure_input(LinkIo& io, Connection& c, std::uint8_t* data, std::size_t len) noexcept;
  void tls_input(LinkIo& io, Connection& c, std::uint8_t* data, std::size_t len) noexcept;
  bool handshake(LinkIo& io, Connection& c) noexcept;
  bool encrypt(LinkIo& io, Connection& c) noexcept;
  // ktls.cpp
  void begin_switch(LinkIo& io, Connection& c) noexcept;
  void try_switch(LinkIo& io, Connection& c) noexcept;
  void finish_switch(LinkIo& io, Connection& c, tls::KtlsFallback result) noexcept;
  bool arm_control_recv(LinkIo& io, Connection& c) noexcept;
  CloseStep close_notify(LinkIo& io, Connection& c) noexcept;
  void on_close_notify(LinkIo& io, Connection& c) noexcept;

  struct ControlRecv {  // a recvmsg for one kTLS control record (alert, handshake message)
    msghdr msg;
    iovec iov;
    alignas(8) std::uint8_t cmsg[64];
    std::uint8_t data[512];
  };
  static constexpr std::size_t kPlainBytes = 16384;         // one TLS record's plaintext at most
  static constexpr std::uint32_t kCipherHighWater = 65536;  // encrypt ahead of the socket at most this

  const Config& cfg_;
  WorkerMetrics& metrics_;
  ChunkPool& pool_;
  bool ktls_available_;
  std::unique_ptr<std::uint8_t[]> plain_;  // decrypted bytes of one wolfSSL read (+64 B padding)
  std::unordered_map<std::uint32_t, std::unique_ptr<ControlRecv>> control_recvs_;
};

}  // namespace ringgate::gateway
