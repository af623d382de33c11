#include "ringgate/app/cli.hpp"

#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <regex>
#include <set>

#include "app/options.hpp"

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

// Issue 14: the flags are one table (src/app/options.cpp); parsing and --help both walk it.
namespace ringgate::app {
namespace {

// The arguments that exercise a row with a value it accepts, plus what finish() needs around it.
// Rows with a numeric range get their minimum without an entry here; any other new row fails
// OptionTable.EveryRowParses until it has one.
const std::map<std::string_view, std::vector<std::string>>& samples() {
  static const std::map<std::string_view, std::vector<std::string>> k = {
      {"--listen", {"--listen", "127.0.0.1:0"}},
      {"--admin", {"--admin", "[::1]:0"}},
      {"--heartbeat-profile", {"--heartbeat-profile", "nginx"}},
      {"--subprotocol", {"--subprotocol", "chat"}},
      {"--no-direct-descriptors", {"--no-direct-descriptors"}},
      {"--handover", {"--handover"}},
      {"--listen-tls", {"--listen-tls", "127.0.0.1:0", "--tls-cert", "c", "--tls-key", "k"}},
      {"--tls-cert", {"--listen-tls", "127.0.0.1:0", "--tls-cert", "c", "--tls-key", "k"}},
      {"--tls-key", {"--listen-tls", "127.0.0.1:0", "--tls-key", "k", "--tls-cert", "c"}},
      {"--tls-ticket-keys", {"--tls-ticket-keys", "/etc/keys"}},
      {"--ktls", {"--ktls", "on"}},
      {"--proxy-protocol", {"--proxy-protocol", "required", "--trusted-proxies", "::1"}},
      {"--trusted-proxies", {"--trusted-proxies", "10.0.0.0/8,::1"}},
      {"--redirect-http", {"--redirect-http", "127.0.0.1:0"}},
      {"--proxy-timeout", {"--proxy-timeout", "0.001"}},  // 0 is refused by finish(), not by the row
      {"--client-publish", {"--client-publish", "on"}},
      {"--slow-consumer", {"--slow-consumer", "t.=conflate"}},
      {"--api", {"--api", "127.0.0.1:0", "--api-token", "t"}},
      {"--api-token", {"--api-token", "t"}},
      {"--broker", {"--broker", "redis://127.0.0.1:6379"}},
      {"--log-level", {"--log-level", "error"}},
      {"--help", {"--help"}},
      {"--version", {"--version"}},
  };
  return k;
}

bool is_duration(const Option& o) { return o.syntax == "SECONDS"; }
std::string seconds_text(std::uint64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", double(ms) / 1000.0);
  return buf;
}
std::string error_of(const std::vector<std::string>& args) { return parse_cli(args).error; }

TEST(OptionTable, RowsAreWellFormedAndUnique) {
  std::set<std::string_view> names;
  for (const Option& o : option_table()) {
    EXPECT_EQ(o.name.substr(0, 2), "--") << o.name;
    EXPECT_TRUE(names.insert(o.name).second) << "twice: " << o.name;
    EXPECT_FALSE(o.help.empty()) << o.name;
    ASSERT_NE(o.set.apply, nullptr) << o.name << " has no parser";
    if (o.takes_value()) {
      EXPECT_FALSE(o.needs.empty()) << o.name << ": no message for a missing value";
    }
    EXPECT_EQ(find_option(o.name), &o);
    if (!o.alias.empty()) {
      EXPECT_EQ(find_option(o.alias), &o);
    }
  }
  EXPECT_EQ(find_option("-h"), find_option("--help"));
  EXPECT_EQ(find_option("--bogus"), nullptr);
  EXPECT_EQ(find_option("--handover=yes"), nullptr);
  EXPECT_EQ(find_option("workers"), nullptr);
}

TEST(OptionTable, EveryRowParses) {
  TempFile token("t\n");
  for (const Option& o : option_table()) {
    std::vector<std::string> args;
    if (o.name == "--api-token-file") {
      args = {"--api-token-file", token.path};
    } else if (auto it = samples().find(o.name); it != samples().end()) {
      args = it->second;
    } else if (o.set.max != 0) {
      args = {std::string(o.name), is_duration(o) ? seconds_text(o.set.min) : std::to_string(o.set.min)};
    } else {
      ADD_FAILURE() << o.name << ": add a sample value to samples()";
      continue;
    }
    CliResult r = parse_cli(args);
    EXPECT_TRUE(r.error.empty()) << o.name << ": " << r.error;
    // The same value through the config-file path: find_option + apply.
    OptionState s;
    std::string err;
    const std::string value = o.takes_value() ? args[std::size_t(std::find(args.begin(), args.end(), o.name) -
                                                                  args.begin()) + 1]
                                              : std::string();
    EXPECT_TRUE(apply(*find_option(o.name), value, s, err)) << o.name << " " << value << ": " << err;
  }
}

// The old parser's message for each flag given without its value; a new row adds its own.
TEST(OptionTable, MissingValueNamesTheFlag) {
  const std::map<std::string_view, std::string_view> old = {
      {"--workers", "--workers needs a number 1..64"},
      {"--tls-session-cache", "--tls-session-cache needs 0..10000000 entries"},
      {"--max-message-bytes", "--max-message-bytes needs 1..2^31"},
      {"--max-head-bytes", "--max-head-bytes needs 256..1048576"},
      {"--max-outbound-bytes", "--max-outbound-bytes needs 4096..2^31"},
      {"--recv-buffers", "--recv-buffers needs a power of two up to 32768"},
      {"--recv-buffer-bytes", "--recv-buffer-bytes needs 512..1048576"},
      {"--history", "--history needs 0..100000 messages"},
      {"--history-max-bytes", "--history-max-bytes needs 65536..2^40"},
      {"--max-publish-bytes", "--max-publish-bytes needs 16..16777216"},
      {"--max-subscriptions", "--max-subscriptions needs 1..1000000"},
      {"--drain-timeout", "--drain-timeout needs seconds (e.g. 5 or 0.5)"},
      {"--drain-window", "--drain-window needs seconds (e.g. 5 or 0.5)"},
      {"--handshake-timeout", "--handshake-timeout needs seconds (e.g. 5 or 0.5)"},
      {"--close-timeout", "--close-timeout needs seconds (e.g. 5 or 0.5)"},
      {"--ping-interval", "--ping-interval needs seconds (e.g. 5 or 0.5)"},
      {"--pong-timeout", "--pong-timeout needs seconds (e.g. 5 or 0.5)"},
      {"--idle-timeout", "--idle-timeout needs seconds (e.g. 5 or 0.5)"},
      {"--max-lifetime", "--max-lifetime needs seconds (e.g. 5 or 0.5)"},
      {"--tls-ticket-rotate", "--tls-ticket-rotate needs seconds (e.g. 5 or 0.5)"},
      {"--proxy-timeout", "--proxy-timeout needs seconds (e.g. 5 or 0.5)"},
      {"--history-ttl", "--history-ttl needs seconds (e.g. 5 or 0.5)"},
      {"--broker-ping-interval", "--broker-ping-interval needs seconds (e.g. 5 or 0.5)"},
      {"--broker-linger", "--broker-linger needs seconds (e.g. 5 or 0.5)"},
      {"--listen", "--listen needs HOST:PORT"},
      {"--admin", "--admin needs HOST:PORT"},
      {"--api", "--api needs HOST:PORT"},
      {"--redirect-http", "--redirect-http needs HOST:PORT"},
      {"--listen-tls", "--listen-tls needs HOST:PORT"},
      {"--ktls", "--ktls needs on, off or auto"},
      {"--proxy-protocol", "--proxy-protocol needs off, optional or required"},
      {"--log-level", "--log-level needs a level"},
      {"--client-publish", "--client-publish needs on or off"},
      {"--heartbeat-profile", "--heartbeat-profile: one of cloudflare, aws-alb, aws-nlb, nginx"},
      {"--slow-consumer", "--slow-consumer needs [PREFIX=]disconnect|drop|conflate"},
      {"--trusted-proxies", "--trusted-proxies: not a CIDR list (bad entry: )"},
      {"--subprotocol", "--subprotocol needs a name"},
      {"--api-token", "--api-token needs a token"},
      {"--api-token-file", "--api-token-file needs a file"},
      {"--tls-ticket-keys", "--tls-ticket-keys needs a file"},
      {"--tls-cert", "--tls-cert needs a file"},
      {"--tls-key", "--tls-key needs a file"},
      {"--broker", "--broker needs embedded, redis://HOST:PORT or nats://HOST:PORT"},
  };
  for (const Option& o : option_table()) {
    if (!o.takes_value()) {
      EXPECT_EQ(error_of({std::string(o.name), "--listen", "127.0.0.1:0"}), "") << o.name << " is a switch";
      continue;
    }
    const auto it = old.find(o.name);
    ASSERT_NE(it, old.end()) << o.name << ": add its missing-value message here";
    EXPECT_EQ(error_of({std::string(o.name)}), it->second);
  }
}

// Integer rows accept both ends of their range and refuse one past each; durations up to 40 days.
TEST(OptionTable, RangesHoldAtBothEnds) {
  for (const Option& o : option_table()) {
    if (o.set.max == 0) continue;
    const std::string name(o.name);
    if (is_duration(o)) {
      EXPECT_EQ(error_of({name, seconds_text(o.set.max)}), "") << name;
      EXPECT_EQ(error_of({name, seconds_text(o.set.max + 1)}), name + ": at most 40 days");
      if (o.set.min > 0) {
        EXPECT_NE(error_of({name, "0"}), "") << name;
      }
      continue;
    }
    EXPECT_EQ(error_of({name, std::to_string(o.set.max)}), "") << name;
    EXPECT_EQ(error_of({name, std::to_string(o.set.max + 1)}), name + std::string(o.needs));
    if (o.set.min > 0) {
      EXPECT_EQ(error_of({name, std::to_string(o.set.min - 1)}), name + std::string(o.needs));
    }
    EXPECT_EQ(error_of({name, "x"}), name + std::string(o.needs));
  }
}

TEST(OptionTable, HelpListsEveryRowAndOnlyRows) {
  // Wrapped lines joined: a row's text may break anywhere.
  const std::string u = std::regex_replace(usage(), std::regex("\\s+"), " ");
  for (const Option& o : option_table()) {
    std::string head(o.name);
    if (o.takes_value()) head.append(" ").append(o.syntax);
    EXPECT_NE(u.find(head), std::string::npos) << head;
    if (!o.alias.empty()) {
      EXPECT_NE(u.find(std::string(o.alias).append(", ").append(o.name)), std::string::npos);
    }
    if (!o.fallback.empty()) {
      const std::string shown = std::string("(default ").append(o.fallback).append(")");
      EXPECT_NE(u.find(shown), std::string::npos) << o.name;
    }
  }
  // Every flag the help mentions (also inside help texts) is one the parser knows.
  const std::regex flag("--[a-z][a-z-]*");
  for (auto it = std::sregex_iterator(u.begin(), u.end(), flag); it != std::sregex_iterator(); ++it) {
    EXPECT_NE(find_option(it->str()), nullptr) << "help mentions " << it->str();
  }
}

// The messages as they were before the table (checked against the old parser's output).
TEST(OptionTable, ErrorsAreThoseOfTheOldParser) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--bogus"}, "unknown option: --bogus"},
      {{"--handover=yes"}, "unknown option: --handover=yes"},
      {{"--workers", "65"}, "--workers needs a number 1..64"},
      {{"--recv-buffers", "1000"}, "--recv-buffers needs a power of two up to 32768"},
      {{"--drain-timeout", "-1"}, "--drain-timeout needs seconds (e.g. 5 or 0.5)"},
      {{"--max-lifetime", "3456000.001"}, "--max-lifetime: at most 40 days"},
      {{"--max-lifetime", "9999999999"}, "--max-lifetime needs seconds (e.g. 5 or 0.5)"},
      {{"--pong-timeout", "0"}, "--pong-timeout must be above 0"},
      {{"--broker-ping-interval", "0.05"}, "--broker-ping-interval: at least 0.1 s"},
      {{"--proxy-timeout", "0"}, "--proxy-timeout must be above 0"},
      {{"--listen", "127.0.0.1"}, "--listen: not a numeric HOST:PORT: 127.0.0.1"},
      {{"--admin", "nowhere"}, "--admin: not a numeric HOST:PORT: nowhere"},
      {{"--ktls", "maybe"}, "--ktls: on, off or auto"},
      {{"--proxy-protocol", "x"}, "--proxy-protocol: off, optional or required"},
      {{"--log-level", "loud"}, "--log-level: debug, info, warn or error"},
      {{"--client-publish", "yes"}, "--client-publish needs on or off"},
      {{"--heartbeat-profile", "haproxy"}, "--heartbeat-profile: one of cloudflare, aws-alb, aws-nlb, nginx"},
      {{"--slow-consumer", "Drop"}, "--slow-consumer needs [PREFIX=]disconnect|drop|conflate"},
      {{"--trusted-proxies", "10.0.0.0/33"}, "--trusted-proxies: not a CIDR list (bad entry: 10.0.0.0/33)"},
      {{"--trusted-proxies"}, "--trusted-proxies: not a CIDR list (bad entry: )"},
      {{"--subprotocol", ""}, "--subprotocol needs a name"},
      {{"--tls-cert", "c", "--tls-cert", "d"}, "--tls-cert and --tls-key come in pairs"},
      {{"--tls-cert", "c", "--listen-tls", "127.0.0.1:1"}, "--tls-cert and --tls-key come in pairs"},
      {{"--tls-cert", "c"}, "--tls-cert and --tls-key come in pairs"},
      {{"--tls-cert", "c", "--tls-key", "k"}, "--tls-cert without --listen-tls"},
      {{"--listen-tls", "127.0.0.1:443"}, "--listen-tls 127.0.0.1:443 has no --tls-cert/--tls-key"},
      {{"--proxy-protocol", "optional"},
       "--proxy-protocol needs --trusted-proxies (headers are accepted only from them)"},
      {{"--api", "127.0.0.1:1"}, "--api needs --api-token or --api-token-file (the API never runs without a token)"},
      {{"--api-token-file", "/nonexistent/ringgate"}, "--api-token-file: cannot read /nonexistent/ringgate"},
      {{"--broker", "bogus://x"},
       "--broker: embedded, redis://HOST:PORT[/?sharded=1] or nats://HOST:PORT, not bogus://x"},
      {{"--broker", "redis://"}, "--broker: redis:// names no host"},
      {{"--broker", "redis://[::1"}, "--broker: bad address in redis://[::1"},
      {{"--broker", "redis://127.0.0.1:0"}, "--broker: bad host or port in redis://127.0.0.1:0"},
      {{"--broker", "redis://127.0.0.1:1/?sharded=2"},
       "--broker: unknown option /?sharded=2 in redis://127.0.0.1:1/?sharded=2"},
      // The first bad flag is the one reported; cross-flag checks come after every flag.
      {{"--workers", "x", "--bogus"}, "--workers needs a number 1..64"},
      {{"--proxy-timeout", "0", "--bogus"}, "unknown option: --bogus"},
  };
  for (const auto& [args, message] : cases) EXPECT_EQ(error_of(args), message) << args[0];
}

// A later config file goes through the same rows: looked up by name, applied, then finished.
TEST(OptionTable, ConfigFilePathMatchesTheCommandLine) {
  OptionState s;
  std::string err;
  for (auto [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"--ping-interval", "7"}, {"--heartbeat-profile", "aws-nlb"}, {"--broker-linger", "1.5"},
           {"--max-outbound-bytes", "65536"}, {"--handover", ""}, {"--log-level", "debug"}}) {
    const Option* o = find_option(key);
    ASSERT_NE(o, nullptr) << key;
    ASSERT_TRUE(apply(*o, value, s, err)) << key << ": " << err;
  }
  CliResult r = finish(std::move(s));
  ASSERT_TRUE(r.error.empty()) << r.error;
  const gateway::Config& g = r.options.gateway;
  EXPECT_EQ(g.ping_interval_ms, 7000u) << "explicit wins over the profile here too";
  EXPECT_EQ(g.pong_timeout_ms, 20000u);
  EXPECT_EQ(g.broker.linger_ms, 1500u);
  EXPECT_EQ(g.max_outbound_bytes, 65536u);
  EXPECT_TRUE(g.handover);
  EXPECT_EQ(r.options.log_level, LogLevel::debug);
  ASSERT_EQ(g.listen.size(), 1u);
  EXPECT_EQ(g.listen[0].to_string(), "127.0.0.1:8080");
  EXPECT_FALSE(apply(*find_option("--workers"), "0", s, err));
  EXPECT_EQ(err, "--workers needs a number 1..64");
}

}  // namespace
}  // namespace ringgate::app
