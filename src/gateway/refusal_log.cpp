// Refusal lines (refusal_log.hpp).
#include "refusal_log.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include "ringgate/http/forwarded.hpp"
#include "ringgate/http/upgrade.hpp"
#include "ringgate/net/listener.hpp"
#include "transport/transport.hpp"
#include "user_data.hpp"

namespace ringgate::gateway {
namespace {
net::SockAddr copy_address(const sockaddr* a) {
  net::SockAddr out;
  out.len = a->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  std::memcpy(&out.storage, a, out.len);
  return out;
}

// Printable rendering of request bytes for a log line: no control characters reach the log.
void append_escaped(std::string& out, std::string_view s, std::size_t max) {
  for (std::size_t i = 0; i < s.size() && out.size() < max; ++i) {
    unsigned char ch = static_cast<unsigned char>(s[i]);
    if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
      out.push_back(char(ch));
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", ch);
      out.append(buf);
    }
  }
}
}  // namespace

void Worker::RefusalLog::refusal(std::uint32_t index, Connection& conn, http::Reject why, const http::Request* req,
                                 std::string_view raw_head) noexcept {
  if (!limit_.allow(w_.now_ms_ / 1000)) return;
  // "handshake refused: reason=.. status=.. peer=.. [client=.. forwarded_for=..] method=.. target=..
  // headers=..": the peer goes in last because a direct descriptor needs a ring round trip for it.
  std::string head = "handshake refused: reason=";
  head += http::reject_name(why);
  head += " status=" + std::to_string(http::reject_status(why));
  std::string rest = " method=";
  if (req != nullptr) {
    append_escaped(rest, req->method, 2048);
    rest += " target=";
    append_escaped(rest, req->target, 2048);
    rest += " headers=\"";
    for (std::size_t i = 0; i < req->header_count; ++i) {
      if (i != 0) rest += " | ";
      append_escaped(rest, req->headers[i].name, 3500);
      rest += ": ";
      append_escaped(rest, req->headers[i].value, 3500);
    }
    rest += "\"";
  } else {
    rest += "? target=? raw=\"";
    append_escaped(rest, raw_head.substr(0, 512), 3500);
    rest += "\"";
  }
  // X-Forwarded-For, every line of it: the client is read from the right end (a client's own
  // value stays on the left), and both are logged only if the peer turns out to be a trusted proxy.
  std::string forwarded;
  if (req != nullptr) {
    std::string chain;
    if (http::append_field_lines(*req, "x-forwarded-for", chain) != 0) {
      const std::string_view client = http::forwarded_client(*req, w_.cfg_.trusted_proxies);
      if (!client.empty()) {
        forwarded = " client=";
        append_escaped(forwarded, client, 64);
      }
      forwarded += " forwarded_for=\"";
      append_escaped(forwarded, chain, 1024);
      forwarded += "\"";
    }
  }
  with_peer(index, conn, Pending{0, index, std::move(head), std::move(rest), std::move(forwarded)}, nullptr);
}

void Worker::RefusalLog::proxy_refusal(std::uint32_t index, Connection& conn, ProxyResult why,
                                       const sockaddr* peer) noexcept {
  if (!limit_.allow(w_.now_ms_ / 1000)) return;
  std::string head = "proxy header refused: reason=";
  head += proxy_result_name(why);
  with_peer(index, conn, Pending{0, index, std::move(head), {}, {}}, peer);
}

// Finishes a refusal line with "peer=<TCP peer>". A direct descriptor has no getpeername(): an
// ordinary descriptor is made for it on the ring, and until it is back the connection neither
// sends its answer nor closes, so the peer (a proxy waiting for our answer) is still connected to
// be named. (Looking it up after the answer lost the race to proxies that close at once.)
void Worker::RefusalLog::with_peer(std::uint32_t index, Connection& conn, Pending line, const sockaddr* known) noexcept {
  if (std::uint64_t s = limit_.take_suppressed(); s != 0) {
    w_.metrics_.refusal_logs_suppressed.add(s);
    line.rest += " (" + std::to_string(s) + " earlier refusals not logged)";
  }
  if (const sockaddr* proxied = w_.transport_->proxy_client(conn)) {
    // The client address a trusted proxy reported (PROXY protocol) is the peer that matters.
    const net::SockAddr client = copy_address(proxied);
    RG_LOG_WARN("%s peer=%s via=proxy%s%s%s", line.head.c_str(), client.to_string().c_str(),
                w_.transport_->proxy_tlvs(conn), line.forwarded.c_str(), line.rest.c_str());
    return;
  }
  if (known != nullptr) return finish(line, copy_address(known));
  if (!w_.ring_.direct()) {
    auto a = net::peer_address(conn.fd);
    return finish(line, a ? std::optional<net::SockAddr>(*a) : std::nullopt);
  }
  line.ud = w_.ud(kFdInstall, index);
  if (!w_.ring_.fd_install(conn.fd, line.ud)) return finish(line, std::nullopt);
  conn.ending |= kLogPending;
  pending_.push_back(std::move(line));
}

void Worker::RefusalLog::finish(const Pending& line, const std::optional<net::SockAddr>& peer) noexcept {
  // X-Forwarded-For names the client only when the peer is a proxy we trust.
  const bool trusted = peer && w_.cfg_.trusted_proxies.contains(peer->sa());
  RG_LOG_WARN("%s peer=%s%s%s", line.head.c_str(), peer ? peer->to_string().c_str() : "unknown",
              trusted ? line.forwarded.c_str() : "", line.rest.c_str());
}

void Worker::RefusalLog::on_fd_installed(std::uint64_t token, std::int32_t res) noexcept {
  for (std::size_t i = 0; i < pending_.size(); ++i) {
    if (pending_[i].ud != token) continue;
    std::optional<net::SockAddr> peer;
    if (res >= 0) {
      if (auto a = net::peer_address(res)) peer = *a;
      ::close(res);
    }
    finish(pending_[i], peer);
    const std::uint32_t index = pending_[i].index;
    pending_[i] = std::move(pending_.back());
    pending_.pop_back();
    if (Connection* conn = w_.conns_.get_masked(index, gen_of(token), kGenMask)) {
      conn->ending &= std::uint8_t(~kLogPending);
      if (conn->phase == Phase::teardown) {
        w_.close_if_deferred(index, *conn);
      } else {
        w_.mark_dirty(index, *conn);  // the answer waited for the line
      }
    }
    return;
  }
  if (res >= 0) ::close(res);
}

}  // namespace ringgate::gateway
