// The PROXY protocol layer (v1 and v2, haproxy.org/download/2.9/doc/proxy-protocol.txt): a header
// is honoured only from --trusted-proxies, so the TCP peer is known before the first byte is read.
// Bytes of a header split across reads wait in conn.in; what follows the header goes on to TLS or
// HTTP. Refusals are counted (ringgate_proxy_headers_total) and logged with the peer.
#include <netinet/in.h>

#include <cstring>
#include <utility>

#include "ringgate/http/proxy_protocol.hpp"
#include "transport.hpp"

namespace ringgate::gateway {

void Transport::on_peer_known(LinkIo& io, Connection& c, const sockaddr* peer) noexcept {
  c.link &= std::uint8_t(~kPeerPending);
  const bool trusted = peer != nullptr && cfg_.trusted_proxies.contains(peer);
  if (trusted) c.link |= kProxyTrusted;
  if (!trusted && cfg_.proxy_protocol == ProxyMode::required) {
    // Only proxies may connect to a listener that requires the header.
    metrics_.proxy_headers[std::size_t(ProxyResult::untrusted)].add();
    io.log_proxy_refusal(ProxyResult::untrusted, peer);
    io.teardown();
    return;
  }
  io.arm_recv();
}

void Transport::proxy_input(LinkIo& io, Connection& c, std::uint8_t* data, std::size_t len) noexcept {
  std::string_view bytes(reinterpret_cast<const char*>(data), len);
  if (c.in != nullptr) {
    // Earlier bytes were a prefix: append (the chunk holds a maximal header plus one buffer).
    Chunk* in = c.in;
    const std::size_t n = std::min<std::size_t>(len, in->room());
    std::memcpy(in->data + in->end, data, n);
    in->end += std::uint32_t(n);
    bytes = std::string_view(reinterpret_cast<const char*>(in->data), in->end);
  }
  http::ProxyHeader header;
  const http::ProxyResult r = http::parse_proxy_header(bytes, header);
  const bool trusted = c.link & kProxyTrusted;
  auto reject = [&](ProxyResult why) {
    metrics_.proxy_headers[std::size_t(why)].add();
    io.log_proxy_refusal(why, nullptr);
    if (c.in != nullptr) pool_.put(std::exchange(c.in, nullptr));
    io.teardown();
  };
  switch (r.status) {
    case http::ProxyStatus::need_more:
      if (c.in == nullptr) {
        c.in = pool_.get(http::kMaxV2Bytes + cfg_.recv_buffer_bytes);
        if (c.in == nullptr) return reject(ProxyResult::too_large);
        std::memcpy(c.in->data, data, len);
        c.in->end = std::uint32_t(len);
      }
      return;
    case http::ProxyStatus::invalid:
      return reject(trusted ? ProxyResult::invalid : ProxyResult::untrusted);
    case http::ProxyStatus::too_large:
      return reject(trusted ? ProxyResult::too_large : ProxyResult::untrusted);
    case http::ProxyStatus::not_proxy:
      if (cfg_.proxy_protocol == ProxyMode::required) return reject(ProxyResult::missing);
      metrics_.proxy_headers[std::size_t(ProxyResult::absent)].add();
      break;
    case http::ProxyStatus::done:
      if (!trusted) return reject(ProxyResult::untrusted);
      if (!accept_proxy_header(c, header)) return reject(ProxyResult::invalid);
      break;
  }
  c.link &= std::uint8_t(~kProxyPending);
  // From here the ordinary handshake deadline applies (counted from the accept).
  const std::uint64_t spent = io.age_ms();
  io.set_deadline(cfg_.handshake_timeout_ms > spent ? cfg_.handshake_timeout_ms - spent : 0);
  const std::size_t skip = r.status == http::ProxyStatus::done ? r.consumed : 0;
  if (c.in == nullptr) {
    if (len > skip) secure_input(io, c, data + skip, len - skip);
    return;
  }
  // The bytes were buffered: go on from the buffer (taken out of conn.in, which the HTTP layer uses).
  Chunk* in = std::exchange(c.in, nullptr);
  if (in->end > skip) secure_input(io, c, in->data + skip, in->end - skip);
  pool_.put(in);
}

// A trusted header: its client address (and the v2 TLVs worth logging) stay with the connection.
bool Transport::accept_proxy_header(Connection& c, const http::ProxyHeader& header) noexcept {
  if (header.local || header.source.ss_family == AF_UNSPEC) {
    metrics_.proxy_headers[std::size_t(ProxyResult::local)].add();
    return true;
  }
  ConnExt* ext = ext_of(c);
  if (ext == nullptr) return false;
  ext->client = header.source;
  // v2 TLVs: the protocol and server name the balancer negotiated, the AWS endpoint id.
  const std::pair<const char*, std::string_view> tlvs[] = {
      {" proxy_alpn=", header.alpn}, {" proxy_authority=", header.authority}, {" aws_vpce=", header.aws_vpce}};
  for (const auto& [label, value] : tlvs) {
    if (value.empty()) continue;
    ext->proxy_tlvs += label;
    for (char ch : value.substr(0, 255)) ext->proxy_tlvs += ch > 0x20 && ch < 0x7f && ch != '"' ? ch : '?';
  }
  metrics_.proxy_headers[std::size_t(ProxyResult::accepted)].add();
  return true;
}

}  // namespace ringgate::gateway
