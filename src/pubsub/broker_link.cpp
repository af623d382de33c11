#include "broker_link.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "ringgate/core/clock.hpp"
#include "ringgate/core/log.hpp"
#include "ringgate/net/user_data.hpp"

namespace ringgate::pubsub {

BrokerLink::BrokerLink(net::Ring& ring, LinkProtocol& protocol, const BrokerConfig& cfg, std::uint8_t ud_kind,
                       std::uint32_t index, const char* role) noexcept
    : ring_(ring),
      protocol_(protocol),
      cfg_(cfg),
      ud_kind_(ud_kind),
      index_(index),
      role_(role),
      in_(new (std::nothrow) char[kInBytes]),
      rng_(std::uint32_t(monotonic_ns() ^ (std::uint64_t(index) << 20))) {}

BrokerLink::~BrokerLink() {
  if (fd_ >= 0) ::close(fd_);
}

std::uint64_t BrokerLink::ud(std::uint32_t op) const noexcept { return net::make_ud(ud_kind_, epoch_, index_ << 4 | op); }

void BrokerLink::connect(std::uint64_t now_ms) noexcept {
  ++epoch_;
  ready_ = false;
  ping_sent_ms_ = 0;
  out_.clear();
  wire_.clear();
  wire_off_ = 0;
  const int family = cfg_.address.storage.ss_family;
  fd_ = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0 || in_ == nullptr) {
    RG_LOG_WARN("broker %s (%s): cannot create a socket: %s", cfg_.url.c_str(), role_, std::strerror(errno));
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    state_ = State::backoff;
    retry_at_ms_ = now_ms + cfg_.backoff_max_ms;
    return;
  }
  const int one = 1;
  (void)::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  (void)::setsockopt(fd_, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  state_ = State::connecting;
  connect_deadline_ms_ = now_ms + cfg_.connect_timeout_ms;
  if (!ring_.connect_plain(fd_, cfg_.address.sa(), cfg_.address.len, ud(kOpConnect))) {
    fail("no submission slot");
    return;
  }
  connect_armed_ = true;
  ++inflight_;
}

bool BrokerLink::set_ready(std::uint64_t now_ms) noexcept {
  if (ready_) return false;
  ready_ = true;
  const bool again = ever_ready_;
  if (again || attempt_ > 0) RG_LOG_INFO("broker %s (%s): connected", cfg_.url.c_str(), role_);
  ever_ready_ = true;
  ready_since_ms_ = now_ms;
  next_ping_ms_ = now_ms + cfg_.ping_interval_ms;
  return again;
}

void BrokerLink::on_completion(std::uint32_t op, std::uint32_t epoch, std::int32_t res, std::uint64_t now_ms) noexcept {
  now_ms_ = now_ms;
  if (op == kOpCancel) return;
  if (inflight_ > 0) --inflight_;
  const bool current = epoch == (epoch_ & net::kUdGenMask);
  switch (op) {
    case kOpConnect:
      connect_armed_ = false;
      if (!current || state_ != State::connecting) break;
      if (res < 0) {
        if (attempt_ == 0 || attempt_ % 10 == 0) {
          RG_LOG_WARN("broker %s (%s): connect: %s", cfg_.url.c_str(), role_, std::strerror(-res));
        }
        begin_close();
        break;
      }
      state_ = State::open;
      arm_recv();
      protocol_.link_open(*this);
      break;
    case kOpRecv:
      recv_armed_ = false;
      if (!current || state_ != State::open) break;
      if (res <= 0) {
        fail(res == 0 ? "closed by the broker" : std::strerror(-res));
        break;
      }
      if (!protocol_.link_bytes(*this, in_.get(), std::size_t(res))) {
        fail("protocol error");
        break;
      }
      if (state_ == State::open) arm_recv();
      break;
    case kOpSend:
      sending_ = false;
      if (!current || state_ != State::open) break;
      if (res < 0) {
        fail(std::strerror(-res));
        break;
      }
      wire_off_ += std::size_t(res);
      if (wire_off_ < wire_.size()) {
        start_send();
      } else {
        wire_.clear();
        wire_off_ = 0;
      }
      break;
    default:
      break;
  }
  maybe_closed();
}

void BrokerLink::arm_recv() noexcept {
  if (recv_armed_) return;
  if (!ring_.recv_plain(fd_, in_.get(), kInBytes, ud(kOpRecv))) {
    fail("no submission slot");
    return;
  }
  recv_armed_ = true;
  ++inflight_;
}

void BrokerLink::start_send() noexcept {
  if (sending_ || state_ != State::open) return;
  if (wire_off_ >= wire_.size()) {
    if (out_.empty()) return;
    wire_.clear();
    wire_.swap(out_);
    wire_off_ = 0;
  }
  if (!ring_.send_plain(fd_, wire_.data() + wire_off_, wire_.size() - wire_off_, ud(kOpSend))) return;  // next turn
  sending_ = true;
  ++inflight_;
}

void BrokerLink::poll(std::uint64_t now_ms) noexcept {
  now_ms_ = now_ms;
  switch (state_) {
    case State::backoff:
      if (!stopping_ && now_ms >= retry_at_ms_) connect(now_ms);
      return;
    case State::connecting:
      if (now_ms >= connect_deadline_ms_) fail("connect timed out");
      return;
    case State::open:
      if (!ready_ && now_ms >= connect_deadline_ms_) {
        fail("handshake timed out");
        return;
      }
      if (ping_sent_ms_ != 0 && now_ms - ping_sent_ms_ >= 2 * cfg_.ping_interval_ms) {
        fail("no answer to two pings");
        return;
      }
      if (ready_ && ping_sent_ms_ == 0 && now_ms >= next_ping_ms_) {
        protocol_.link_ping(*this);
        ping_sent_ms_ = now_ms;
        next_ping_ms_ = now_ms + cfg_.ping_interval_ms;
      }
      start_send();
      return;
    case State::closing:
      maybe_closed();
      return;
  }
}

void BrokerLink::fail(const char* why) noexcept {
  if (state_ != State::open && state_ != State::connecting) return;
  if (ready_) RG_LOG_WARN("broker %s (%s): connection lost: %s", cfg_.url.c_str(), role_, why);
  begin_close();
}

void BrokerLink::begin_close() noexcept {
  const bool was_open = state_ == State::open;
  // A connection that stayed up long enough starts the backoff afresh.
  if (ready_ && now_ms_ - ready_since_ms_ >= cfg_.backoff_reset_ms) attempt_ = 0;
  state_ = State::closing;
  ready_ = false;
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);  // completes a pending receive and send
  if (connect_armed_) (void)ring_.cancel(ud(kOpConnect), ud(kOpCancel));
  out_.clear();
  wire_.clear();
  wire_off_ = 0;
  if (was_open) protocol_.link_down(*this);
  maybe_closed();
}

void BrokerLink::maybe_closed() noexcept {
  if (state_ != State::closing || inflight_ != 0) return;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  state_ = State::backoff;
  const std::uint64_t cap = std::min<std::uint64_t>(cfg_.backoff_max_ms, cfg_.backoff_min_ms << std::min(attempt_, 20u));
  ++attempt_;
  retry_at_ms_ = now_ms_ + std::uniform_int_distribution<std::uint64_t>(0, cap)(rng_);
}

void BrokerLink::stop() noexcept {
  stopping_ = true;
  if (state_ == State::open || state_ == State::connecting) begin_close();
}

}  // namespace ringgate::pubsub
