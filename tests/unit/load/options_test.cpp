// ringgate-load's TLS interface: wss:// URLs (default ports, SNI from a host name, none for an IP
// literal), the TLS flags and their cross-checks (--resume ids vs TLS 1.3, tickets vs
// --no-tickets, TLS flags on ws://), and the handshake mode's defaults.
#include "options.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ringgate::load {
namespace {

std::string parse(std::vector<const char*> args, Options& o) {
  args.insert(args.begin(), "ringgate-load");
  return parse_options(int(args.size()), const_cast<char**>(args.data()), o);
}

TEST(WssUrl, SchemePortsAndSni) {
  Options o;
  EXPECT_EQ(parse_url("wss://127.0.0.1:8443/echo", o), "");
  EXPECT_TRUE(o.tls);
  EXPECT_EQ(o.target.port(), 8443);
  EXPECT_EQ(o.path, "/echo");
  EXPECT_EQ(o.sni, "");  // IP literal: no SNI
  EXPECT_EQ(o.host_header, "127.0.0.1:8443");

  EXPECT_EQ(parse_url("wss://localhost/x", o), "");
  EXPECT_EQ(o.target.port(), 443);
  EXPECT_EQ(o.sni, "localhost");
  EXPECT_EQ(o.host_header, "localhost");
  EXPECT_EQ(o.target.to_string(), "127.0.0.1:443");

  EXPECT_EQ(parse_url("wss://localhost:9000", o), "");
  EXPECT_EQ(o.sni, "localhost");
  EXPECT_EQ(o.path, "/");

  EXPECT_EQ(parse_url("wss://[::1]/", o), "");
  EXPECT_EQ(o.target.port(), 443);
  EXPECT_EQ(o.sni, "");
  EXPECT_EQ(parse_url("wss://[::1]:7000/", o), "");
  EXPECT_EQ(o.target.port(), 7000);

  EXPECT_EQ(parse_url("ws://127.0.0.1/", o), "");
  EXPECT_FALSE(o.tls);
  EXPECT_EQ(o.target.port(), 80);
  EXPECT_EQ(o.sni, "");  // never for ws://
  EXPECT_EQ(parse_url("ws://localhost:81/", o), "");
  EXPECT_EQ(o.sni, "");
}

TEST(WssUrl, RefusesOtherSchemesAndRemoteHosts) {
  Options o;
  EXPECT_NE(parse_url("https://127.0.0.1:443/", o).find("ws:// or wss://"), std::string::npos);
  EXPECT_NE(parse_url("wss:/127.0.0.1:443/", o), "");
  EXPECT_NE(parse_url("wss://10.0.0.1:443/", o).find("not a loopback"), std::string::npos);
  EXPECT_NE(parse_url("wss://example.com/", o), "");  // names other than localhost are not resolved
  EXPECT_NE(parse_url("wss://127.0.0.1:0/", o), "");
  EXPECT_NE(parse_url("wss://127.0.0.1:70000/", o), "");
  EXPECT_NE(parse_url("wss:///echo", o), "");
}

TEST(TlsFlags, VersionCiphersTicketsSni) {
  Options o;
  ASSERT_EQ(parse({"echo", "--url", "wss://127.0.0.1:1/", "--tls-version", "1.2", "--ciphers",
                   "ECDHE-ECDSA-AES128-GCM-SHA256", "--no-tickets", "--sni", "gw.example.test"},
                  o),
            "");
  EXPECT_EQ(o.tls_version, tls::kTls12);
  EXPECT_EQ(o.ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256");
  EXPECT_FALSE(o.tickets);
  EXPECT_EQ(o.sni, "gw.example.test");
  EXPECT_EQ(o.resume, "none");

  Options d;
  ASSERT_EQ(parse({"hold", "--url", "wss://localhost:1/"}, d), "");
  EXPECT_EQ(d.tls_version, 0);  // negotiate
  EXPECT_TRUE(d.tickets);
  EXPECT_EQ(d.sni, "localhost");

  Options v;
  EXPECT_NE(parse({"echo", "--url", "wss://127.0.0.1:1/", "--tls-version", "1.1"}, v).find("1.2 or 1.3"),
            std::string::npos);
  Options m;
  EXPECT_NE(parse({"echo", "--url", "wss://127.0.0.1:1/", "--ciphers"}, m).find("missing value"), std::string::npos);
}

TEST(TlsFlags, NeedAWssUrl) {
  for (std::vector<const char*> extra : {std::vector<const char*>{"--tls-version", "1.3"},
                                         {"--no-tickets"}, {"--ciphers", "X"}, {"--sni", "a"}}) {
    Options o;
    std::vector<const char*> args{"echo", "--url", "ws://127.0.0.1:1/"};
    args.insert(args.end(), extra.begin(), extra.end());
    EXPECT_NE(parse(args, o).find("need a wss:// URL"), std::string::npos) << extra[0];
  }
  Options h;
  EXPECT_NE(parse({"handshake", "--url", "ws://127.0.0.1:1/"}, h).find("wss://"), std::string::npos);
}

TEST(HandshakeMode, DefaultsAndResume) {
  Options o;
  ASSERT_EQ(parse({"handshake", "--url", "wss://127.0.0.1:1/", "--duration", "3"}, o), "");
  EXPECT_EQ(o.mode, "handshake");
  EXPECT_EQ(o.connections, 1u);  // one slot unless told
  EXPECT_EQ(o.resume, "none");
  EXPECT_DOUBLE_EQ(o.duration_s, 3);

  Options c;
  ASSERT_EQ(parse({"handshake", "--url", "wss://127.0.0.1:1/", "--connections", "8", "--resume", "tickets"}, c), "");
  EXPECT_EQ(c.connections, 8u);
  EXPECT_EQ(c.resume, "tickets");
  EXPECT_TRUE(c.tickets);
  EXPECT_EQ(c.tls_version, 0);

  // ids: TLS 1.2 session IDs, so tickets go off and 1.2 is implied...
  Options i;
  ASSERT_EQ(parse({"handshake", "--url", "wss://127.0.0.1:1/", "--resume", "ids"}, i), "");
  EXPECT_EQ(i.tls_version, tls::kTls12);
  EXPECT_FALSE(i.tickets);
  Options i2;
  ASSERT_EQ(parse({"handshake", "--url", "wss://127.0.0.1:1/", "--resume", "ids", "--tls-version", "1.2"}, i2), "");
  EXPECT_FALSE(i2.tickets);
  // ...and refused with TLS 1.3, which has no session IDs.
  Options i3;
  EXPECT_NE(parse({"handshake", "--url", "wss://127.0.0.1:1/", "--tls-version", "1.3", "--resume", "ids"}, i3)
                .find("TLS 1.3 has no session IDs"),
            std::string::npos);

  Options t;
  EXPECT_NE(parse({"handshake", "--url", "wss://127.0.0.1:1/", "--resume", "tickets", "--no-tickets"}, t)
                .find("contradicts"),
            std::string::npos);
  Options bad;
  EXPECT_NE(parse({"handshake", "--url", "wss://127.0.0.1:1/", "--resume", "psk"}, bad).find("none, tickets or ids"),
            std::string::npos);
  Options echo;
  EXPECT_NE(parse({"echo", "--url", "wss://127.0.0.1:1/", "--resume", "tickets"}, echo).find("handshake mode"),
            std::string::npos);
}

TEST(Usage, MentionsTheTlsInterface) {
  std::string u = usage_text();
  for (const char* s : {"wss://", "handshake", "--resume none|tickets|ids", "--tls-version 1.2|1.3", "--ciphers",
                        "--no-tickets", "--sni"}) {
    EXPECT_NE(u.find(s), std::string::npos) << s;
  }
}

}  // namespace
}  // namespace ringgate::load
