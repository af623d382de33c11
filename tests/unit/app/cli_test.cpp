#include "ringgate/app/cli.hpp"

#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>

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

TEST(Cli, HandoverIsOffUnlessAsked) {
  // Off by default: a second gateway on a port another process listens on must refuse to start.
  EXPECT_FALSE(parse_cli({}).options.gateway.handover);
  CliResult r = parse_cli({"--handover", "--listen", "127.0.0.1:0"});
  ASSERT_TRUE(r.error.empty()) << r.error;
  EXPECT_TRUE(r.options.gateway.handover);
  EXPECT_FALSE(parse_cli({"--handover=yes"}).error.empty());  // a switch: it takes no value
  EXPECT_NE(usage().find("--handover"), std::string::npos);
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

// Issue 6: the pub/sub and HTTP publish API flags.
namespace ringgate::app {
namespace {

// A file with exactly `content` in the test's temp dir, removed when the test is done.
struct TempFile {
  std::string path;
  explicit TempFile(const std::string& content) {
    std::string tmpl = ::testing::TempDir() + "ringgate_cli_token_XXXXXX";
    const int fd = mkstemp(tmpl.data());
    EXPECT_GE(fd, 0);
    if (fd >= 0) {
      EXPECT_EQ(::write(fd, content.data(), content.size()), ssize_t(content.size()));
      ::close(fd);
    }
    path = tmpl;
  }
  ~TempFile() { std::remove(path.c_str()); }
};

bool fails(const std::vector<std::string>& args) { return !parse_cli(args).error.empty(); }

TEST(CliPubsub, Defaults) {
  CliResult r = parse_cli({});
  ASSERT_TRUE(r.error.empty()) << r.error;
  const gateway::Config& g = r.options.gateway;
  EXPECT_FALSE(g.client_publish);
  EXPECT_TRUE(g.slow_consumer.empty());
  EXPECT_EQ(g.slow_consumer.for_topic("news"), pubsub::SlowPolicy::disconnect);
  EXPECT_EQ(g.history, 100u);
  EXPECT_EQ(g.history_ttl_ms, 300000u);
  EXPECT_EQ(g.max_publish_bytes, 65536u);
  EXPECT_EQ(g.max_subscriptions, 1024u);
  EXPECT_EQ(g.max_outbound_bytes, 1048576u);
  EXPECT_TRUE(g.api.empty());
  EXPECT_TRUE(g.api_token.empty());
}

TEST(CliPubsub, ClientPublishOnOrOffOnly) {
  EXPECT_TRUE(parse_cli({"--client-publish", "on"}).options.gateway.client_publish);
  CliResult off = parse_cli({"--client-publish", "on", "--client-publish", "off"});
  ASSERT_TRUE(off.error.empty()) << off.error;
  EXPECT_FALSE(off.options.gateway.client_publish) << "the last one wins";
  for (const char* bad : {"yes", "true", "1", "ON", ""}) EXPECT_TRUE(fails({"--client-publish", bad})) << bad;
  EXPECT_TRUE(fails({"--client-publish"}));
}

TEST(CliPubsub, SlowConsumerDefaultAndPrefixRules) {
  CliResult r = parse_cli({"--slow-consumer", "drop", "--slow-consumer", "ticker.=conflate",
                           "--slow-consumer", "ticker.vip.=disconnect", "--slow-consumer", "k=v=conflate"});
  ASSERT_TRUE(r.error.empty()) << r.error;
  const pubsub::PolicyRules& p = r.options.gateway.slow_consumer;
  EXPECT_FALSE(p.empty());
  EXPECT_EQ(p.for_topic("news"), pubsub::SlowPolicy::drop);
  EXPECT_EQ(p.for_topic("ticker.AAPL"), pubsub::SlowPolicy::conflate);
  EXPECT_EQ(p.for_topic("ticker.vip.1"), pubsub::SlowPolicy::disconnect);
  EXPECT_EQ(p.for_topic("k=v.1"), pubsub::SlowPolicy::conflate);
  for (const char* bad : {"bogus", "ticker.=bogus", "ticker.=", "", "Drop"}) {
    EXPECT_TRUE(fails({"--slow-consumer", bad})) << "'" << bad << "'";
  }
  EXPECT_TRUE(fails({"--slow-consumer"}));
}

TEST(CliPubsub, HistoryAndLimits) {
  CliResult r = parse_cli({"--history", "0", "--history-ttl", "60", "--max-publish-bytes", "1024",
                           "--max-subscriptions", "7", "--max-outbound-bytes", "65536"});
  ASSERT_TRUE(r.error.empty()) << r.error;
  const gateway::Config& g = r.options.gateway;
  EXPECT_EQ(g.history, 0u) << "0 = no history";
  EXPECT_EQ(g.history_ttl_ms, 60000u);
  EXPECT_EQ(g.max_publish_bytes, 1024u);
  EXPECT_EQ(g.max_subscriptions, 7u);
  EXPECT_EQ(g.max_outbound_bytes, 65536u);
  // Range edges that pass.
  EXPECT_EQ(parse_cli({"--history", "100000"}).options.gateway.history, 100000u);
  EXPECT_EQ(parse_cli({"--history-ttl", "0"}).options.gateway.history_ttl_ms, 0u);
  EXPECT_EQ(parse_cli({"--history-ttl", "2592000"}).options.gateway.history_ttl_ms, 2592000000u);
  EXPECT_EQ(parse_cli({"--max-publish-bytes", "16"}).options.gateway.max_publish_bytes, 16u);
  EXPECT_EQ(parse_cli({"--max-publish-bytes", "16777216"}).options.gateway.max_publish_bytes, 16777216u);
  EXPECT_EQ(parse_cli({"--max-subscriptions", "1"}).options.gateway.max_subscriptions, 1u);
  EXPECT_EQ(parse_cli({"--max-subscriptions", "1000000"}).options.gateway.max_subscriptions, 1000000u);
  // And just past them, plus junk.
  for (auto args : std::vector<std::vector<std::string>>{
           {"--history", "100001"}, {"--history", "-1"}, {"--history", "x"}, {"--history"},
           {"--history-ttl", "3456001"}, {"--history-ttl", "-5"}, {"--history-ttl", "soon"}, {"--history-ttl"},
           {"--max-publish-bytes", "15"}, {"--max-publish-bytes", "0"}, {"--max-publish-bytes", "16777217"},
           {"--max-publish-bytes", "1k"}, {"--max-subscriptions", "0"}, {"--max-subscriptions", "1000001"},
           {"--max-subscriptions", ""}, {"--max-outbound-bytes", "4095"}}) {
    EXPECT_TRUE(fails(args)) << args[0] << " " << (args.size() > 1 ? args[1] : "(no value)");
  }
}

// Like every other SECONDS flag, --history-ttl takes fractions.
TEST(CliPubsub, HistoryTtlTakesFractionalSeconds) {
  CliResult r = parse_cli({"--history-ttl", "1.5"});
  EXPECT_TRUE(r.error.empty()) << r.error;
  EXPECT_EQ(r.options.gateway.history_ttl_ms, 1500u);
}

TEST(CliPubsub, WorkersAtMost64) {
  EXPECT_EQ(parse_cli({"--workers", "64"}).options.gateway.workers, 64u);
  EXPECT_TRUE(fails({"--workers", "65"}));
  EXPECT_TRUE(fails({"--workers", "1000"}));
}

TEST(CliApi, ListenersWithAToken) {
  CliResult r = parse_cli({"--api", "127.0.0.1:9200", "--api", "[::1]:0", "--api-token", "s3cret"});
  ASSERT_TRUE(r.error.empty()) << r.error;
  const gateway::Config& g = r.options.gateway;
  ASSERT_EQ(g.api.size(), 2u);
  EXPECT_EQ(g.api[0].to_string(), "127.0.0.1:9200");
  EXPECT_EQ(g.api[1].to_string(), "[::1]:0");
  EXPECT_EQ(g.api_token, "s3cret");
  ASSERT_EQ(g.listen.size(), 1u) << "an API listener does not replace the default WebSocket listener";
  EXPECT_EQ(g.listen[0].to_string(), "127.0.0.1:8080");
}

TEST(CliApi, NeverWithoutAToken) {
  CliResult r = parse_cli({"--api", "127.0.0.1:9200"});
  EXPECT_FALSE(r.error.empty());
  EXPECT_NE(r.error.find("token"), std::string::npos) << r.error;
  EXPECT_TRUE(fails({"--api", "127.0.0.1:9200", "--api-token", ""}));
  EXPECT_TRUE(fails({"--api", "example.com:9200", "--api-token", "t"})) << "numeric HOST:PORT (or localhost) only";
  EXPECT_TRUE(fails({"--api", "127.0.0.1", "--api-token", "t"}));
  EXPECT_TRUE(fails({"--api"}));
  EXPECT_TRUE(fails({"--api-token"}));
  // A token without --api is harmless.
  EXPECT_TRUE(parse_cli({"--api-token", "t"}).error.empty());
}

TEST(CliApi, TokenFileFirstLineWithoutTrailingNewlineOrCr) {
  struct Case {
    const char* content;
    const char* token;
  };
  for (const Case& c : {Case{"tok123\n", "tok123"}, Case{"tok123\r\n", "tok123"}, Case{"tok123", "tok123"},
                        Case{"tok123 \t\r\n", "tok123"}, Case{"first\nsecond\n", "first"},
                        Case{"a b\n", "a b"}}) {
    TempFile f(c.content);
    CliResult r = parse_cli({"--api", "127.0.0.1:9200", "--api-token-file", f.path});
    ASSERT_TRUE(r.error.empty()) << r.error;
    EXPECT_EQ(r.options.gateway.api_token, c.token) << "file content '" << c.content << "'";
  }
}

TEST(CliApi, TokenFileEmptyOrMissingFails) {
  for (const char* content : {"", "\n", "\r\n", "  \n", "\nsecond-line-token\n"}) {
    TempFile f(content);
    CliResult r = parse_cli({"--api", "127.0.0.1:9200", "--api-token-file", f.path});
    EXPECT_FALSE(r.error.empty()) << "empty first line must not become an empty token: '" << content << "'";
  }
  const std::string missing = ::testing::TempDir() + "ringgate_cli_no_such_token_file";
  std::remove(missing.c_str());
  CliResult r = parse_cli({"--api", "127.0.0.1:9200", "--api-token-file", missing});
  EXPECT_FALSE(r.error.empty());
  EXPECT_NE(r.error.find(missing), std::string::npos) << "names the file: " << r.error;
  EXPECT_TRUE(fails({"--api-token-file", ""}));
  EXPECT_TRUE(fails({"--api-token-file"}));
  EXPECT_TRUE(fails({"--api-token-file", ::testing::TempDir()})) << "a directory is not a token file";
}

TEST(CliApi, LastTokenFlagWins) {
  TempFile f("from-file\n");
  CliResult a = parse_cli({"--api", "127.0.0.1:1", "--api-token", "inline", "--api-token-file", f.path});
  ASSERT_TRUE(a.error.empty()) << a.error;
  EXPECT_EQ(a.options.gateway.api_token, "from-file");
  CliResult b = parse_cli({"--api", "127.0.0.1:1", "--api-token-file", f.path, "--api-token", "inline"});
  ASSERT_TRUE(b.error.empty()) << b.error;
  EXPECT_EQ(b.options.gateway.api_token, "inline");
}

TEST(CliBroker, EmbeddedByDefaultAndByName) {
  EXPECT_EQ(parse_cli({}).options.gateway.broker.kind, gateway::BrokerKind::embedded);
  CliResult r = parse_cli({"--broker", "embedded"});
  ASSERT_TRUE(r.error.empty()) << r.error;
  EXPECT_EQ(r.options.gateway.broker.kind, gateway::BrokerKind::embedded);
}

TEST(CliBroker, RedisAndNatsUrls) {
  CliResult r = parse_cli({"--broker", "redis://127.0.0.1:6380"});
  ASSERT_TRUE(r.error.empty()) << r.error;
  EXPECT_EQ(r.options.gateway.broker.kind, gateway::BrokerKind::redis);
  EXPECT_EQ(r.options.gateway.broker.address.to_string(), "127.0.0.1:6380");
  EXPECT_FALSE(r.options.gateway.broker.sharded);
  EXPECT_EQ(r.options.gateway.broker.url, "redis://127.0.0.1:6380");

  r = parse_cli({"--broker", "redis://127.0.0.1:7000/?sharded=1"});
  ASSERT_TRUE(r.error.empty()) << r.error;
  EXPECT_TRUE(r.options.gateway.broker.sharded);
  EXPECT_EQ(r.options.gateway.broker.address.port(), 7000);

  r = parse_cli({"--broker", "nats://[::1]:4333"});
  ASSERT_TRUE(r.error.empty()) << r.error;
  EXPECT_EQ(r.options.gateway.broker.kind, gateway::BrokerKind::nats);
  EXPECT_EQ(r.options.gateway.broker.address.to_string(), "[::1]:4333");

  // Default ports, and names resolved at start-up.
  r = parse_cli({"--broker", "redis://localhost"});
  ASSERT_TRUE(r.error.empty()) << r.error;
  EXPECT_EQ(r.options.gateway.broker.address.port(), 6379);
  EXPECT_TRUE(r.options.gateway.broker.address.is_loopback());
  r = parse_cli({"--broker", "nats://127.0.0.1"});
  ASSERT_TRUE(r.error.empty()) << r.error;
  EXPECT_EQ(r.options.gateway.broker.address.port(), 4222);
}

TEST(CliBroker, PingIntervalInAnyOrder) {
  EXPECT_EQ(parse_cli({}).options.gateway.broker.ping_interval_ms, 5000u);
  for (auto args : {std::vector<std::string>{"--broker-ping-interval", "0.5", "--broker", "redis://127.0.0.1:1"},
                    std::vector<std::string>{"--broker", "redis://127.0.0.1:1", "--broker-ping-interval", "0.5"}}) {
    CliResult r = parse_cli(args);
    ASSERT_TRUE(r.error.empty()) << r.error;
    EXPECT_EQ(r.options.gateway.broker.ping_interval_ms, 500u) << args[0];
  }
  EXPECT_FALSE(parse_cli({"--broker-ping-interval", "0.05"}).error.empty());
  EXPECT_EQ(parse_cli({}).options.gateway.broker.linger_ms, 5000u);
  EXPECT_EQ(parse_cli({"--broker-linger", "0"}).options.gateway.broker.linger_ms, 0u);
  EXPECT_EQ(parse_cli({"--broker-linger", "1.5"}).options.gateway.broker.linger_ms, 1500u);
  EXPECT_FALSE(parse_cli({"--broker-ping-interval", "x"}).error.empty());
}

TEST(CliBroker, RefusesWhatItCannotUse) {
  for (const char* bad : {"bogus://x", "redis://", "nats://", "redis://127.0.0.1:0", "redis://127.0.0.1:65536",
                          "redis://127.0.0.1:x", "redis://127.0.0.1:6379/?sharded=2", "nats://127.0.0.1:4222/?sharded=1",
                          "redis://[::1", "http://127.0.0.1:80", "", "redis://no-such-host.invalid:6379"}) {
    CliResult r = parse_cli({"--broker", bad});
    EXPECT_FALSE(r.error.empty()) << "accepted --broker '" << bad << "'";
    EXPECT_NE(r.error.find("--broker"), std::string::npos) << r.error;
  }
  EXPECT_FALSE(parse_cli({"--broker"}).error.empty());
}

}  // namespace
}  // namespace ringgate::app
