// X-Forwarded-For read from the right across repeated lines (issue 13 finding 4: HAProxy appends
// its own line, so a client's "X-Forwarded-For: 6.6.6.6" comes first and must not be believed),
// the textual CidrSet lookup under it, and the line-joining helper for logs.
#include "ringgate/http/forwarded.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ringgate::http {
namespace {

CidrSet trusted_set(std::string_view list) {
  CidrSet set;
  std::string_view bad;
  EXPECT_TRUE(set.parse(list, bad)) << bad;
  return set;
}

// Parses "GET / HTTP/1.1" + extra lines; the request keeps views into *storage.
const Request& parse_with(std::string& storage, std::string_view extra) {
  static Request req;
  storage = "GET / HTTP/1.1\r\nHost: a\r\n";
  storage += extra;
  if (!extra.empty() && !extra.ends_with('\n')) storage += "\r\n";
  storage += "\r\n";
  EXPECT_EQ(parse_request_head(storage, req).status, ParseStatus::done) << storage;
  return req;
}

std::string client_of(std::string_view extra, std::string_view trusted = "10.0.0.0/8,::1,2001:db8:1::/48") {
  std::string storage;
  const Request& req = parse_with(storage, extra);
  return std::string(forwarded_client(req, trusted_set(trusted)));
}

TEST(ForwardedClient, HaproxyAppendsASecondLine) {
  // The finding: client spoofs a first line, HAProxy (10.0.0.5 is trusted) appends the real one.
  EXPECT_EQ(client_of("X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 203.0.113.7\r\n"), "203.0.113.7");
  // Two trusted hops appended their own lines after the client's address.
  EXPECT_EQ(client_of("X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 203.0.113.7\r\nx-forwarded-for: 10.1.2.3\r\n"),
            "203.0.113.7");
  // Other fields between the lines do not matter.
  EXPECT_EQ(client_of("X-Forwarded-For: 6.6.6.6\r\nUser-Agent: x\r\nX-Forwarded-For: 198.51.100.1\r\n"),
            "198.51.100.1");
}

TEST(ForwardedClient, OneLineRightToLeft) {
  EXPECT_EQ(client_of("X-Forwarded-For: 203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(client_of("X-Forwarded-For: 6.6.6.6, 203.0.113.7, 10.0.0.9"), "203.0.113.7");  // nginx recursive
  EXPECT_EQ(client_of("X-Forwarded-For: 6.6.6.6,203.0.113.7 ,\t10.0.0.9, ::1"), "203.0.113.7");
  EXPECT_EQ(client_of("X-Forwarded-For: 6.6.6.6, 2001:db8::42, 2001:db8:1::9"), "2001:db8::42");
  // Empty elements and empty lines are skipped.
  EXPECT_EQ(client_of("X-Forwarded-For: 203.0.113.7, , 10.0.0.1,\r\nX-Forwarded-For:\r\n"), "203.0.113.7");
}

TEST(ForwardedClient, AllTrustedGivesTheLeftmost) {
  EXPECT_EQ(client_of("X-Forwarded-For: 10.9.9.9, 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\n"), "10.9.9.9");
  EXPECT_EQ(client_of("X-Forwarded-For: ::1"), "::1");
}

TEST(ForwardedClient, PortsAndBrackets) {
  EXPECT_EQ(client_of("X-Forwarded-For: 203.0.113.7:51234, 10.0.0.1:443"), "203.0.113.7");
  EXPECT_EQ(client_of("X-Forwarded-For: [2001:db8::42]:51234, [::1]"), "2001:db8::42");
  EXPECT_EQ(client_of("X-Forwarded-For: [2001:db8::42]"), "2001:db8::42");
  // An IPv4-mapped address is matched as IPv4 (10.0.0.0/8 covers it), then the next one counts.
  EXPECT_EQ(client_of("X-Forwarded-For: 203.0.113.7, ::ffff:10.1.1.1"), "203.0.113.7");
}

TEST(ForwardedClient, GarbageIsNeverAnAddress) {
  EXPECT_EQ(client_of(""), "");
  EXPECT_EQ(client_of("X-Forwarded-For:"), "");
  EXPECT_EQ(client_of("X-Forwarded-For: , ,"), "");
  EXPECT_EQ(client_of("X-Forwarded-For: unknown"), "");
  EXPECT_EQ(client_of("X-Forwarded-For: 203.0.113.7, <script>"), "");  // junk on the right: stop
  EXPECT_EQ(client_of("X-Forwarded-For: 203.0.113.7, 10.0.0.1\r\nX-Forwarded-For: evil\r\n"), "");
  const std::string_view bad[] = {
      "X-Forwarded-For: 203.0.113.999", "X-Forwarded-For: 203.0.113", "X-Forwarded-For: 01.2.3.4",
      "X-Forwarded-For: 1.2.3.4:", "X-Forwarded-For: 1.2.3.4:x", "X-Forwarded-For: 1.2.3.4:123456",
      "X-Forwarded-For: [::1", "X-Forwarded-For: [::1]x", "X-Forwarded-For: [1.2.3.4]:80x",
      "X-Forwarded-For: fe80::1%eth0", "X-Forwarded-For: 1.2.3.4 5.6.7.8", "X-Forwarded-For: :::",
      "X-Forwarded-For: []", "X-Forwarded-For: \"1.2.3.4\"",
  };
  for (std::string_view line : bad) EXPECT_EQ(client_of(line), "") << line;
  // Junk left of the first untrusted element is never reached, so it does not matter.
  EXPECT_EQ(client_of("X-Forwarded-For: garbage, 203.0.113.7"), "203.0.113.7");
}

TEST(ForwardedClient, EmptyTrustedSetTakesTheRightmost) {
  EXPECT_EQ(client_of("X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 10.0.0.1\r\n", ""), "10.0.0.1");
}

TEST(CidrSetText, ContainsAddressLiteral) {
  const CidrSet set = trusted_set("10.0.0.0/8,192.168.1.7,2001:db8::/32");
  EXPECT_TRUE(set.contains(std::string_view("10.255.0.1")));
  EXPECT_TRUE(set.contains(std::string_view("192.168.1.7")));
  EXPECT_TRUE(set.contains(std::string_view("::ffff:10.0.0.1")));
  EXPECT_TRUE(set.contains(std::string_view("2001:db8:ffff::1")));
  EXPECT_FALSE(set.contains(std::string_view("192.168.1.8")));
  EXPECT_FALSE(set.contains(std::string_view("2001:db9::1")));
  EXPECT_FALSE(set.contains(std::string_view("")));
  EXPECT_FALSE(set.contains(std::string_view("10.0.0.1 ")));
  EXPECT_FALSE(set.contains(std::string_view("10.0.0.1/8")));
  EXPECT_FALSE(set.contains(std::string_view("10.0.0.1\0", 9)));
  EXPECT_FALSE(set.contains(std::string_view("[2001:db8::1]")));
}

TEST(ParseIpAddress, Families) {
  sockaddr_storage ss;
  ASSERT_TRUE(parse_ip_address("192.0.2.1", ss));
  EXPECT_EQ(ss.ss_family, AF_INET);
  ASSERT_TRUE(parse_ip_address("2001:db8::1", ss));
  EXPECT_EQ(ss.ss_family, AF_INET6);
  EXPECT_FALSE(parse_ip_address("2001:db8::1:", ss));
  EXPECT_FALSE(parse_ip_address(std::string(60, '1'), ss));
}

TEST(AppendFieldLines, JoinsEveryLine) {
  std::string storage;
  const Request& req =
      parse_with(storage, "X-Forwarded-For: 6.6.6.6\r\nA: b\r\nx-forwarded-for: 203.0.113.7, 10.0.0.1\r\n");
  std::string out = "forwarded_for=";
  EXPECT_EQ(append_field_lines(req, "X-Forwarded-For", out), 2u);
  EXPECT_EQ(out, "forwarded_for=6.6.6.6, 203.0.113.7, 10.0.0.1");
  std::string none;
  EXPECT_EQ(append_field_lines(req, "Missing", none), 0u);
  EXPECT_EQ(none, "");
}

}  // namespace
}  // namespace ringgate::http
