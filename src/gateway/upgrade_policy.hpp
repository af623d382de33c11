// The upgrade policy: the checks that run between "the request head is a valid upgrade for a
// route" and "the 101 is written", in order; the first that refuses names the reason (an
// http::Reject, which carries the status, the counter label and the log text). Each check is one
// entry, added by upgrade_policy(cfg) only when its setting is on (origin allow list, tokens,
// connection limits are the ones planned), so a gateway without them pays nothing.
#pragma once

#include <span>
#include <vector>

#include "ringgate/gateway/config.hpp"
#include "ringgate/http/request.hpp"
#include "ringgate/http/upgrade.hpp"
#include "route.hpp"

namespace ringgate::gateway {

struct UpgradeRequest {
  const http::Request& req;
  const http::Upgrade& up;
  const RouteSpec& route;
};

// A check: Reject::none lets the request on to the next one.
struct UpgradeCheck {
  const char* name;  // for logs and tests
  http::Reject (*check)(const void* state, const UpgradeRequest& r) noexcept;
  const void* state;  // what the check reads (e.g. its part of Config); lives as long as the worker
};

// The checks `cfg` turns on, in the order they run. (None yet: the first ones come with origin
// and token checks.)
inline std::vector<UpgradeCheck> upgrade_policy(const Config& cfg) {
  (void)cfg;
  return {};
}

inline http::Reject check_upgrade(std::span<const UpgradeCheck> policy, const UpgradeRequest& r) noexcept {
  for (const UpgradeCheck& c : policy) {
    if (const http::Reject why = c.check(c.state, r); why != http::Reject::none) return why;
  }
  return http::Reject::none;
}

}  // namespace ringgate::gateway
