#include "ringgate/pubsub/policy.hpp"

namespace ringgate::pubsub {

std::optional<SlowPolicy> parse_slow_policy(std::string_view s) noexcept {
  if (s == "disconnect") return SlowPolicy::disconnect;
  if (s == "drop") return SlowPolicy::drop;
  if (s == "conflate") return SlowPolicy::conflate;
  return std::nullopt;
}

std::string_view slow_policy_name(SlowPolicy p) noexcept {
  switch (p) {
    case SlowPolicy::disconnect: return "disconnect";
    case SlowPolicy::drop: return "drop";
    case SlowPolicy::conflate: return "conflate";
  }
  return "?";
}

bool PolicyRules::add(std::string_view rule) {
  const std::size_t eq = rule.rfind('=');
  const auto policy = parse_slow_policy(eq == std::string_view::npos ? rule : rule.substr(eq + 1));
  if (!policy) return false;
  if (eq == std::string_view::npos || eq == 0) {
    default_ = *policy;
    has_default_ = true;
    return true;
  }
  const std::string_view prefix = rule.substr(0, eq);
  for (Rule& r : rules_) {
    if (r.prefix == prefix) {
      r.policy = *policy;
      return true;
    }
  }
  rules_.push_back(Rule{std::string(prefix), *policy});
  return true;
}

SlowPolicy PolicyRules::for_topic(std::string_view topic) const noexcept {
  const Rule* best = nullptr;
  for (const Rule& r : rules_) {
    if (topic.starts_with(r.prefix) && (best == nullptr || r.prefix.size() > best->prefix.size())) best = &r;
  }
  return best != nullptr ? best->policy : default_;
}

}  // namespace ringgate::pubsub
