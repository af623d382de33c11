// LinkIo: what the layers under HTTP (transport/) may ask of the worker for one connection. Like
// ConnIo for routes, it keeps them out of the Worker: they see the connection's transport fields
// (Connection::tls, the transport flags, ConnExt) and act on the ring only through this.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ringgate/gateway/metrics.hpp"
#include "ringgate/http/request.hpp"

namespace ringgate::gateway {

class LinkIo {
 public:
  // Plaintext for the HTTP / WebSocket layer above.
  virtual void deliver(std::uint8_t* data, std::size_t len) noexcept = 0;
  // The connection's multishot receive: (re)arm it, or cancel it (its last completion comes back).
  virtual void arm_recv() noexcept = 0;
  virtual void cancel_recv() noexcept = 0;
  // One recvmsg in place of the multishot receive (its completion is the transport's, see
  // Transport::owns_recv). False: no SQE.
  virtual bool recvmsg(msghdr* msg) noexcept = 0;
  // A sendmsg of bytes that are not in the output queue (a kTLS alert record), with control data
  // (at most 24 bytes). False: no SQE or no send slot now (try again at the next flush).
  virtual bool send_aside(const void* data, std::size_t len, const void* cmsg, std::size_t cmsg_len) noexcept = 0;
  // An ordinary descriptor for the connection's direct one (FIXED_FD_INSTALL); the result comes
  // to Transport::on_fd with `for_keys`. False: no SQE. Only when direct() is true.
  virtual bool install_fd(bool for_keys) noexcept = 0;
  virtual bool direct() const noexcept = 0;
  virtual int fd() const noexcept = 0;  // the ordinary descriptor when !direct()
  virtual std::uint32_t slot() const noexcept = 0;
  virtual void dirty() noexcept = 0;          // flush this connection at the end of the loop turn
  virtual void teardown() noexcept = 0;       // close now
  virtual void peer_gone() noexcept = 0;      // the peer left (1006 if the WebSocket was open)
  virtual void release_if_done() noexcept = 0;
  // Our side ends: flush what is queued (with close_notify), then close; the close deadline runs.
  // peer_ended: the peer ended TLS first, so an open WebSocket ended without a close frame (1006).
  virtual void finish(bool peer_ended) noexcept = 0;
  virtual void refuse(http::Reject why, std::string_view first_bytes) noexcept = 0;
  virtual void log_proxy_refusal(ProxyResult why, const sockaddr* peer) noexcept = 0;
  virtual void set_deadline(std::uint64_t ms) noexcept = 0;  // from now
  virtual std::uint64_t age_ms() const noexcept = 0;         // since the accept

 protected:
  ~LinkIo() = default;
};

}  // namespace ringgate::gateway
