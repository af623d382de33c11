// Slow-consumer policy: what happens when a subscriber's outbound queue is over its limit.
// Chosen per topic by the longest matching prefix rule (--slow-consumer [PREFIX=]POLICY); a rule
// without a prefix is the default for every topic (disconnect unless given).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringgate::pubsub {

enum class SlowPolicy : std::uint8_t {
  disconnect,  // close 4100 "slow consumer": the client reconnects and recovers (seq/history)
  drop,        // drop messages; send a gap notice once the queue drains below half
  conflate,    // keep only the newest message per topic while over the limit
};

std::optional<SlowPolicy> parse_slow_policy(std::string_view s) noexcept;
std::string_view slow_policy_name(SlowPolicy p) noexcept;

class PolicyRules {
 public:
  // "disconnect" or "PREFIX=drop"; false when the policy name is unknown.
  bool add(std::string_view rule);
  SlowPolicy for_topic(std::string_view topic) const noexcept;
  bool empty() const noexcept { return rules_.empty() && !has_default_; }

 private:
  struct Rule {
    std::string prefix;
    SlowPolicy policy;
  };
  std::vector<Rule> rules_;  // with a prefix; the longest match wins
  SlowPolicy default_ = SlowPolicy::disconnect;
  bool has_default_ = false;
};

}  // namespace ringgate::pubsub
