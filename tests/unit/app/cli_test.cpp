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
