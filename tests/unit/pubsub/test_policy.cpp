// Slow-consumer policy rules (--slow-consumer [PREFIX=]POLICY): the default, prefix rules with the
// longest match winning whatever the order given, redefinition, rejected names leaving the rules as
// they were, and prefixes that themselves contain '='.
#include "ringgate/pubsub/policy.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace ringgate::pubsub {
namespace {

TEST(SlowPolicy, ParsesTheThreeNamesOnly) {
  EXPECT_EQ(parse_slow_policy("disconnect"), SlowPolicy::disconnect);
  EXPECT_EQ(parse_slow_policy("drop"), SlowPolicy::drop);
  EXPECT_EQ(parse_slow_policy("conflate"), SlowPolicy::conflate);
  for (std::string_view bad : {"", "Drop", "DROP", "drop ", " drop", "dro", "drops", "close", "conflate\n"}) {
    EXPECT_FALSE(parse_slow_policy(bad).has_value()) << "'" << bad << "'";
  }
  for (SlowPolicy p : {SlowPolicy::disconnect, SlowPolicy::drop, SlowPolicy::conflate}) {
    EXPECT_EQ(parse_slow_policy(slow_policy_name(p)), p) << "name round-trips";
  }
}

TEST(PolicyRules, DefaultIsDisconnect) {
  PolicyRules r;
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.for_topic("news"), SlowPolicy::disconnect);
  EXPECT_EQ(r.for_topic(""), SlowPolicy::disconnect);
}

TEST(PolicyRules, BarePolicySetsTheDefault) {
  PolicyRules r;
  ASSERT_TRUE(r.add("drop"));
  EXPECT_FALSE(r.empty());
  EXPECT_EQ(r.for_topic("news"), SlowPolicy::drop);
  EXPECT_EQ(r.for_topic("anything.else"), SlowPolicy::drop);
  ASSERT_TRUE(r.add("conflate"));
  EXPECT_EQ(r.for_topic("news"), SlowPolicy::conflate) << "a later default replaces an earlier one";
  // An explicit "disconnect" default still counts as configured.
  PolicyRules d;
  ASSERT_TRUE(d.add("disconnect"));
  EXPECT_FALSE(d.empty());
}

TEST(PolicyRules, PrefixRuleAppliesOnlyToMatchingTopics) {
  PolicyRules r;
  ASSERT_TRUE(r.add("ticker.=conflate"));
  EXPECT_FALSE(r.empty());
  EXPECT_EQ(r.for_topic("ticker.AAPL"), SlowPolicy::conflate);
  EXPECT_EQ(r.for_topic("ticker."), SlowPolicy::conflate);
  EXPECT_EQ(r.for_topic("ticker"), SlowPolicy::disconnect) << "shorter than the prefix";
  EXPECT_EQ(r.for_topic("tickers.x"), SlowPolicy::disconnect);
  EXPECT_EQ(r.for_topic("news.ticker.AAPL"), SlowPolicy::disconnect) << "prefix, not substring";
  EXPECT_EQ(r.for_topic("Ticker.AAPL"), SlowPolicy::disconnect) << "case-sensitive";
  ASSERT_TRUE(r.add("drop"));
  EXPECT_EQ(r.for_topic("news"), SlowPolicy::drop) << "the default covers the rest";
  EXPECT_EQ(r.for_topic("ticker.AAPL"), SlowPolicy::conflate) << "a prefix rule beats the default";
}

TEST(PolicyRules, LongestPrefixWinsWhateverTheOrder) {
  const std::vector<std::string> rules = {"a=drop", "a.b=conflate", "a.b.c=disconnect", "conflate"};
  // Every order of the four rules gives the same answers.
  std::vector<int> order = {0, 1, 2, 3};
  do {
    PolicyRules r;
    for (int i : order) ASSERT_TRUE(r.add(rules[std::size_t(i)]));
    EXPECT_EQ(r.for_topic("a"), SlowPolicy::drop);
    EXPECT_EQ(r.for_topic("a.x"), SlowPolicy::drop);
    EXPECT_EQ(r.for_topic("a.b"), SlowPolicy::conflate);
    EXPECT_EQ(r.for_topic("a.bx"), SlowPolicy::conflate);
    EXPECT_EQ(r.for_topic("a.b.c"), SlowPolicy::disconnect);
    EXPECT_EQ(r.for_topic("a.b.c.d"), SlowPolicy::disconnect);
    EXPECT_EQ(r.for_topic("b"), SlowPolicy::conflate) << "default";
  } while (std::next_permutation(order.begin(), order.end()));
}

TEST(PolicyRules, RedefiningAPrefixReplacesIt) {
  PolicyRules r;
  ASSERT_TRUE(r.add("x.=drop"));
  ASSERT_TRUE(r.add("x.=conflate"));
  EXPECT_EQ(r.for_topic("x.y"), SlowPolicy::conflate);
  ASSERT_TRUE(r.add("x.=disconnect"));
  EXPECT_EQ(r.for_topic("x.y"), SlowPolicy::disconnect);
  ASSERT_TRUE(r.add("drop"));
  EXPECT_EQ(r.for_topic("x.y"), SlowPolicy::disconnect) << "an explicit prefix rule still beats the default";
}

TEST(PolicyRules, UnknownPolicyIsRejectedAndChangesNothing) {
  PolicyRules r;
  ASSERT_TRUE(r.add("a.=conflate"));
  for (std::string_view bad : {"bogus", "", "a.=bogus", "a.=", "b=", "a.=Drop", "=", "drop=x", "a=drop=x"}) {
    EXPECT_FALSE(r.add(bad)) << "'" << bad << "'";
  }
  EXPECT_EQ(r.for_topic("a.z"), SlowPolicy::conflate) << "the failed 'a.=...' rules did not replace it";
  EXPECT_EQ(r.for_topic("b"), SlowPolicy::disconnect) << "no failed rule became a default or 'b' rule";
  EXPECT_EQ(r.for_topic("drop"), SlowPolicy::disconnect);
  PolicyRules fresh;
  EXPECT_FALSE(fresh.add("nope"));
  EXPECT_TRUE(fresh.empty()) << "a rejected rule leaves no trace";
}

TEST(PolicyRules, PrefixMayContainEqualsSign) {
  // Topic names allow '=': the policy is after the LAST '=', the prefix is everything before.
  PolicyRules r;
  ASSERT_TRUE(r.add("k=v=drop"));
  ASSERT_TRUE(r.add("k=v.x=conflate"));
  EXPECT_EQ(r.for_topic("k=v"), SlowPolicy::drop);
  EXPECT_EQ(r.for_topic("k=v.y"), SlowPolicy::drop);
  EXPECT_EQ(r.for_topic("k=v.x.1"), SlowPolicy::conflate);
  EXPECT_EQ(r.for_topic("k"), SlowPolicy::disconnect) << "'k' is not the prefix";
  EXPECT_EQ(r.for_topic("k=w"), SlowPolicy::disconnect);
  ASSERT_TRUE(r.add("==conflate"));  // prefix "="
  EXPECT_EQ(r.for_topic("=a"), SlowPolicy::conflate);
  EXPECT_EQ(r.for_topic("a="), SlowPolicy::disconnect);
}

TEST(PolicyRules, EmptyPrefixActsAsTheDefault) {
  PolicyRules r;
  ASSERT_TRUE(r.add("=drop"));  // "" matches every topic: the same as a bare policy
  EXPECT_EQ(r.for_topic("anything"), SlowPolicy::drop);
  ASSERT_TRUE(r.add("a=conflate"));
  EXPECT_EQ(r.for_topic("a1"), SlowPolicy::conflate);
  EXPECT_EQ(r.for_topic("b1"), SlowPolicy::drop);
}

}  // namespace
}  // namespace ringgate::pubsub
