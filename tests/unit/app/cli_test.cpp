#include "ringgate/app/cli.hpp"

#include <gtest/gtest.h>

namespace ringgate::app {
namespace {

TEST(Cli, DefaultsListenOnLoopback8080) {
  CliResult r = parse_cli({});
  ASSERT_TRUE(r.error.empty());
  ASSERT_EQ(r.options.gateway.listen.size(), 1u);
  EXPECT_EQ(r.options.gateway.listen[0].to_string(), "127.0.0.1:8080");
  EXPECT_GE(r.options.gateway.workers, 1u);
  EXPECT_FALSE(r.options.admin.has_value());
}

TEST(Cli, ParsesEveryFlag) {
  CliResult r = parse_cli({"--listen", "127.0.0.1:0", "--listen", "[::1]:9000", "--admin", "127.0.0.1:9100",
                           "--workers", "3", "--drain-timeout", "0.5", "--handshake-timeout", "2",
                           "--close-timeout", "1.25", "--max-message-bytes", "1000", "--max-head-bytes", "4096",
                           "--recv-buffers", "512", "--recv-buffer-bytes", "8192", "--no-direct-descriptors",
                           "--subprotocol", "chat", "--subprotocol", "superchat",
                           "--log-level", "warn"});
  ASSERT_TRUE(r.error.empty()) << r.error;
  const Options& o = r.options;
  EXPECT_EQ(o.gateway.listen.size(), 2u);
  EXPECT_EQ(o.gateway.listen[1].to_string(), "[::1]:9000");
  EXPECT_EQ(o.admin->port(), 9100);
  EXPECT_EQ(o.gateway.workers, 3u);
  EXPECT_EQ(o.gateway.drain_timeout_ms, 500u);
  EXPECT_EQ(o.gateway.handshake_timeout_ms, 2000u);
  EXPECT_EQ(o.gateway.close_timeout_ms, 1250u);
  EXPECT_EQ(o.gateway.max_message_bytes, 1000u);
  EXPECT_EQ(o.gateway.max_head_bytes, 4096u);
  EXPECT_EQ(o.gateway.recv_buffers, 512u);
  EXPECT_EQ(o.gateway.recv_buffer_bytes, 8192u);
  EXPECT_FALSE(o.gateway.direct_descriptors);
  EXPECT_EQ(o.gateway.subprotocols, (std::vector<std::string>{"chat", "superchat"}));
  EXPECT_EQ(o.log_level, LogLevel::warn);
}

TEST(Cli, RejectsBadFlagsWithAMessage) {
  for (auto args : std::vector<std::vector<std::string>>{
           {"--bogus"}, {"--listen"}, {"--listen", "nowhere"}, {"--listen", "1.2.3.4:99999"},
           {"--workers", "0"}, {"--workers", "x"}, {"--drain-timeout", "-1"}, {"--recv-buffers", "1000"},
           {"--log-level", "loud"}, {"--max-head-bytes", "10"}}) {
    CliResult r = parse_cli(args);
    EXPECT_FALSE(r.error.empty()) << args[0];
  }
}

}  // namespace
}  // namespace ringgate::app

namespace ringgate::app {
namespace {

TEST(Cli, HeartbeatDefaultsKeepConnectionsAliveBehindCommonProxies) {
  CliResult r = parse_cli({});
  ASSERT_TRUE(r.error.empty());
  const auto& g = r.options.gateway;
  EXPECT_EQ(g.ping_interval_ms, 25000u);
  EXPECT_EQ(g.pong_timeout_ms, 10000u);
  EXPECT_EQ(g.idle_timeout_ms, 0u);
  EXPECT_EQ(g.max_lifetime_ms, 0u);
  EXPECT_EQ(g.drain_window_ms, 0u);
  // Worst case with +10 % jitter, a ping still crosses every profile's proxy well inside its cut-off.
  for (const char* name : {"cloudflare", "aws-alb", "aws-nlb", "nginx"}) {
    const HeartbeatProfile* p = heartbeat_profile(name);
    ASSERT_NE(p, nullptr) << name;
    EXPECT_LT(g.ping_interval_ms * 11 / 10, p->proxy_idle_cutoff_ms / 2) << name << ": the default";
    EXPECT_LT(p->ping_interval_ms * 11 / 10, p->proxy_idle_cutoff_ms / 2) << name;
  }
}

TEST(Cli, TimeoutFlagsInSecondsWithFractions) {
  CliResult r = parse_cli({"--ping-interval", "0.5", "--pong-timeout", "2", "--idle-timeout", "300",
                           "--max-lifetime", "86400", "--drain-window", "30"});
  ASSERT_TRUE(r.error.empty()) << r.error;
  const auto& g = r.options.gateway;
  EXPECT_EQ(g.ping_interval_ms, 500u);
  EXPECT_EQ(g.pong_timeout_ms, 2000u);
  EXPECT_EQ(g.idle_timeout_ms, 300000u);
  EXPECT_EQ(g.max_lifetime_ms, 86400000u);
  EXPECT_EQ(g.drain_window_ms, 30000u);
  EXPECT_FALSE(parse_cli({"--pong-timeout", "0"}).error.empty());
  EXPECT_FALSE(parse_cli({"--max-lifetime", "9999999999"}).error.empty());
}

TEST(Cli, ProfileSetsHeartbeatButExplicitFlagsWin) {
  CliResult r = parse_cli({"--heartbeat-profile", "cloudflare"});
  ASSERT_TRUE(r.error.empty());
  EXPECT_EQ(r.options.gateway.ping_interval_ms, 45000u);
  r = parse_cli({"--ping-interval", "7", "--heartbeat-profile", "aws-nlb"});
  ASSERT_TRUE(r.error.empty());
  EXPECT_EQ(r.options.gateway.ping_interval_ms, 7000u) << "explicit flag wins whatever the order";
  EXPECT_EQ(r.options.gateway.pong_timeout_ms, 20000u);
  EXPECT_FALSE(parse_cli({"--heartbeat-profile", "haproxy"}).error.empty());
}

}  // namespace
}  // namespace ringgate::app
