// The TLS, PROXY-protocol and redirect flags (issue 5's pinned interface).
#include <netinet/in.h>
#include <arpa/inet.h>

#include <gtest/gtest.h>

#include "ringgate/app/cli.hpp"

namespace ringgate::app {
namespace {

sockaddr_in v4(const char* ip) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

TEST(CliTls, ListenersOwnTheCertificatePairsThatFollowThem) {
  CliResult r = parse_cli({"--listen-tls", "127.0.0.1:8443", "--tls-cert", "a.pem", "--tls-key", "a.key",
                           "--tls-key", "b.key", "--tls-cert", "b.pem",  // either order within a pair
                           "--listen-tls", "127.0.0.1:9443", "--tls-cert", "c.pem", "--tls-key", "c.key"});
  ASSERT_TRUE(r.error.empty()) << r.error;
  const gateway::Config& g = r.options.gateway;
  EXPECT_TRUE(g.listen.empty());  // TLS only: no default plain listener
  ASSERT_EQ(g.listen_tls.size(), 2u);
  EXPECT_EQ(g.listen_tls[0].address.to_string(), "127.0.0.1:8443");
  ASSERT_EQ(g.listen_tls[0].certs.size(), 2u);
  EXPECT_EQ(g.listen_tls[0].certs[1].cert, "b.pem");
  EXPECT_EQ(g.listen_tls[0].certs[1].key, "b.key");
  ASSERT_EQ(g.listen_tls[1].certs.size(), 1u);
  EXPECT_EQ(g.listen_tls[1].certs[0].cert, "c.pem");
}

TEST(CliTls, PairsBeforeAnyListenerAreTheDefault) {
  CliResult r = parse_cli({"--tls-cert", "d.pem", "--tls-key", "d.key", "--listen-tls", "127.0.0.1:1",
                           "--listen-tls", "127.0.0.1:2", "--tls-cert", "own.pem", "--tls-key", "own.key"});
  ASSERT_TRUE(r.error.empty()) << r.error;
  EXPECT_EQ(r.options.gateway.listen_tls[0].certs[0].cert, "d.pem");
  EXPECT_EQ(r.options.gateway.listen_tls[1].certs.size(), 1u);
  EXPECT_EQ(r.options.gateway.listen_tls[1].certs[0].cert, "own.pem");
}

TEST(CliTls, ParsesResumptionKtlsProxyAndRedirectFlags) {
  CliResult r = parse_cli({"--listen", "127.0.0.1:80", "--listen-tls", "127.0.0.1:443", "--tls-cert", "c", "--tls-key",
                           "k", "--tls-ticket-keys", "/etc/keys", "--tls-ticket-rotate", "600",
                           "--tls-session-cache", "100", "--ktls", "off", "--proxy-protocol", "optional",
                           "--trusted-proxies", "10.0.0.0/8,::1", "--proxy-timeout", "2.5", "--redirect-http",
                           "127.0.0.1:8081"});
  ASSERT_TRUE(r.error.empty()) << r.error;
  const gateway::Config& g = r.options.gateway;
  EXPECT_EQ(g.tls_ticket_keys, "/etc/keys");
  EXPECT_EQ(g.tls_ticket_rotate_ms, 600000u);
  EXPECT_EQ(g.tls_session_cache, 100u);
  EXPECT_EQ(g.ktls, gateway::KtlsMode::off);
  EXPECT_EQ(g.proxy_protocol, gateway::ProxyMode::optional);
  EXPECT_EQ(g.proxy_timeout_ms, 2500u);
  sockaddr_in in = v4("10.1.2.3"), out = v4("11.0.0.1");
  EXPECT_TRUE(g.trusted_proxies.contains(reinterpret_cast<sockaddr*>(&in)));
  EXPECT_FALSE(g.trusted_proxies.contains(reinterpret_cast<sockaddr*>(&out)));
  ASSERT_EQ(g.redirect_http.size(), 1u);
  EXPECT_EQ(g.redirect_http[0].port(), 8081);
  EXPECT_EQ(g.listen.size(), 1u);
}

TEST(CliTls, DefaultsAreAutoKtlsNoProxyHourlyRotation) {
  CliResult r = parse_cli({});
  ASSERT_TRUE(r.error.empty());
  EXPECT_EQ(r.options.gateway.ktls, gateway::KtlsMode::automatic);
  EXPECT_EQ(r.options.gateway.proxy_protocol, gateway::ProxyMode::off);
  EXPECT_EQ(r.options.gateway.tls_ticket_rotate_ms, 3600000u);
  EXPECT_GT(r.options.gateway.tls_session_cache, 0u);
}

TEST(CliTls, RefusesIncompleteOrContradictoryTlsSetups) {
  const std::vector<std::vector<std::string>> bad = {
      {"--listen-tls", "127.0.0.1:443"},                                          // no certificate
      {"--listen-tls", "127.0.0.1:443", "--tls-cert", "c"},                        // half a pair
      {"--listen-tls", "127.0.0.1:443", "--tls-cert", "c", "--tls-cert", "d"},     // two certs, no key
      {"--tls-cert", "c", "--tls-key", "k"},                                       // no TLS listener
      {"--listen-tls", "localhost-ish:443", "--tls-cert", "c", "--tls-key", "k"},  // not numeric
      {"--ktls", "maybe"},
      {"--proxy-protocol", "sometimes", "--trusted-proxies", "10.0.0.0/8"},
      {"--proxy-protocol", "required"},                                            // nobody trusted
      {"--trusted-proxies", "10.0.0.0/33"},
      {"--trusted-proxies", "not-an-address"},
      {"--tls-session-cache", "-1"},
      {"--proxy-timeout", "0", "--proxy-protocol", "optional", "--trusted-proxies", "::1"},
      {"--redirect-http"},
  };
  for (const auto& args : bad) {
    CliResult r = parse_cli(args);
    EXPECT_FALSE(r.error.empty()) << args[0] << " " << (args.size() > 1 ? args[1] : "");
  }
}

TEST(CliTls, UsageNamesEveryPinnedFlag) {
  const std::string u = usage();
  for (const char* flag : {"--listen-tls", "--tls-cert", "--tls-key", "--tls-ticket-keys", "--tls-ticket-rotate",
                           "--tls-session-cache", "--ktls", "--proxy-protocol", "--trusted-proxies",
                           "--redirect-http"}) {
    EXPECT_NE(u.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace ringgate::app
