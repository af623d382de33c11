// TlsConn (the TLS glue of ringgate-load) against an in-memory wolfSSL server session: the
// handshake through receive() with the input split at every size, plaintext both ways, a batch of
// frames encrypted at once, close_notify, garbage input (a failure value, never an abort), the
// stop-callback contract, resumption offered through start(), and the client context's errors.
#include "tls_conn.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "ringgate/tls/keys.hpp"

namespace ringgate::load {
namespace {

// Self-signed prime256v1, CN/SAN localhost, valid for 100 years (made with openssl req -x509).
constexpr const char* kCert = R"PEM(
-----BEGIN CERTIFICATE-----
MIIBljCCATugAwIBAgIUGsrzzLapUhV2nzBPlOcmNjvaLQYwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyMjAwMzQwNVoYDzIxMjYxMDI5
MDAzNDA1WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAATgYYtvCbYQM4dnUZ4FAshRyKU72VfzfViqTwp4TPwl3yAcDpPXNOJu
uMygmTTOWBAINPrQL8u04sBQQwZaQEpno2kwZzAdBgNVHQ4EFgQUGe4IFggwo84d
x1brtrZnbt+ciZgwHwYDVR0jBBgwFoAUGe4IFggwo84dx1brtrZnbt+ciZgwDwYD
VR0TAQH/BAUwAwEB/zAUBgNVHREEDTALgglsb2NhbGhvc3QwCgYIKoZIzj0EAwID
SQAwRgIhAJZd0RUxDapuwkPuW80f6s0wjQ+aa8L1pY5unITkv/M9AiEA9TBHMebi
BuboyLoCCzKamHDPG+zEv6M5On9qgFQ7SZg=
-----END CERTIFICATE-----
)PEM";
constexpr const char* kKey = R"PEM(
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQggtZEKaAMy6m7fqOQ
AHle8UgCsVt6vKbX49NqDHxwvMqhRANCAATgYYtvCbYQM4dnUZ4FAshRyKU72Vfz
fViqTwp4TPwl3yAcDpPXNOJuuMygmTTOWBAINPrQL8u04sBQQwZaQEpn
-----END PRIVATE KEY-----
)PEM";

struct Files {
  std::string dir, cert, key;
  Files() {
    char tmpl[] = "/tmp/rg-load-tls.XXXXXX";
    dir = mkdtemp(tmpl);
    cert = dir + "/c.pem";
    key = dir + "/k.pem";
    std::ofstream(cert) << kCert;
    std::ofstream(key) << kKey;
  }
  ~Files() {
    std::remove(cert.c_str());
    std::remove(key.c_str());
    rmdir(dir.c_str());
  }
};

struct Server {
  std::vector<std::uint8_t> out;
  tls::Session s;
  static bool write(void* self, const std::uint8_t* p, std::size_t n) noexcept {
    auto& v = static_cast<Server*>(self)->out;
    v.insert(v.end(), p, p + n);
    return true;
  }
  // Feeds client bytes and drives the handshake or reads plaintext into `plain`.
  tls::Status take(std::vector<std::uint8_t>& in, std::string* plain = nullptr) {
    s.feed(in);
    tls::Status st = tls::Status::again;
    if (!s.handshake_done()) st = s.handshake();
    if (s.handshake_done()) {
      std::uint8_t buf[4096];
      std::size_t n = 0;
      while ((st = s.read(buf, n)) == tls::Status::done) {
        if (plain) plain->append(reinterpret_cast<char*>(buf), n);
      }
    }
    in.clear();
    return st;
  }
};

class TlsConnTest : public ::testing::Test {
 protected:
  static Files* files;
  static void SetUpTestSuite() { files = new Files; }
  static void TearDownTestSuite() { delete files; }

  void SetUp() override {
    tls::global_init();
    tls::ServerOptions so;
    so.certs.push_back({files->cert, files->key});
    so.tickets = &ticket_keys;
    std::string why;
    server_ctx = tls::ServerContext::create(so, why);
    ASSERT_TRUE(server_ctx) << why;
  }

  std::shared_ptr<tls::ClientContext> client(const char* version = nullptr, bool tickets = true) {
    Options o;
    o.tls = true;
    o.tickets = tickets;
    if (version) o.tls_version = std::string(version) == "1.2" ? tls::kTls12 : tls::kTls13;
    std::string why;
    auto ctx = make_client_context(o, why);
    EXPECT_TRUE(ctx) << why;
    return ctx;
  }

  // Runs the handshake, delivering server bytes to the client `split` bytes at a time (0 = whole).
  void handshake(TlsConn& c, Server& srv, std::size_t split, int& handshakes) {
    ASSERT_TRUE(srv.s.init_server(server_ctx, tls::Output{&srv, &Server::write}));
    std::uint8_t scratch[1024];
    for (int round = 0; round < 10 && !c.handshake_done(); ++round) {
      ASSERT_NE(srv.take(c.wire()), tls::Status::failed);
      std::vector<std::uint8_t> in;
      in.swap(srv.out);
      for (std::size_t at = 0; at < in.size();) {
        std::size_t n = split ? std::min(split, in.size() - at) : in.size() - at;
        TlsConn::In r = c.receive(
            {in.data() + at, n}, scratch,
            [&] {
              ++handshakes;
              return true;
            },
            [](std::uint8_t*, std::size_t) { return true; });
        ASSERT_EQ(r, TlsConn::In::ok);
        EXPECT_EQ(c.session().input_left(), 0u);  // the recv buffer is never kept
        at += n;
      }
    }
    ASSERT_TRUE(c.handshake_done());
    ASSERT_NE(srv.take(c.wire()), tls::Status::failed);  // client Finished (1.3)
    ASSERT_TRUE(srv.s.handshake_done());
  }

  tls::TicketKeyRing ticket_keys;
  std::shared_ptr<tls::ServerContext> server_ctx;
};
Files* TlsConnTest::files = nullptr;

TEST_F(TlsConnTest, HandshakeAtEverySplitThenDataBothWays) {
  auto ctx = client();
  for (std::size_t split : {0, 1, 7, 100}) {
    TlsConn c;
    ASSERT_TRUE(c.start(ctx, "localhost", {}, 5));
    EXPECT_FALSE(c.wire().empty());  // ClientHello queued at once
    EXPECT_EQ(c.started_ns(), 5u);
    Server srv;
    int handshakes = 0;
    handshake(c, srv, split, handshakes);
    EXPECT_EQ(handshakes, 1) << "split " << split;
    EXPECT_EQ(c.session().version(), tls::kTls13);
    EXPECT_EQ(srv.s.sni(), "localhost");

    // Client -> server: two frames' worth in one encrypt (one flush).
    c.wire().clear();
    std::string msg = "GET /echo HTTP/1.1\r\n\r\n";
    ASSERT_TRUE(c.encrypt({reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size()}));
    ASSERT_TRUE(c.encrypt({}));  // nothing to do, still fine
    std::string got;
    srv.take(c.wire(), &got);
    EXPECT_EQ(got, msg);

    // Server -> client, delivered byte by byte: the plaintext arrives whole and in order.
    std::string reply(3000, 'x');
    for (std::size_t i = 0; i < reply.size(); ++i) reply[i] = char('a' + i % 26);
    ASSERT_TRUE(srv.s.write({reinterpret_cast<const std::uint8_t*>(reply.data()), reply.size()}));
    std::string plain;
    std::uint8_t scratch[512];
    for (std::uint8_t b : srv.out) {
      TlsConn::In r = c.receive(
          {&b, 1}, scratch, [] { return true; },
          [&](std::uint8_t* p, std::size_t n) {
            plain.append(reinterpret_cast<char*>(p), n);
            return true;
          });
      ASSERT_EQ(r, TlsConn::In::ok);
    }
    srv.out.clear();
    EXPECT_EQ(plain, reply);
    EXPECT_GT(c.inputs_after_handshake(), 0u);

    // Our close_notify once; the server's close_notify reads as closed.
    c.wire().clear();
    EXPECT_TRUE(c.queue_close_notify());
    EXPECT_TRUE(c.notify_queued());
    EXPECT_FALSE(c.wire().empty());
    c.wire().clear();
    EXPECT_FALSE(c.queue_close_notify());
    EXPECT_TRUE(c.wire().empty());
    ASSERT_TRUE(srv.s.close_notify());
    TlsConn::In r = c.receive(srv.out, scratch, [] { return true; }, [](std::uint8_t*, std::size_t) { return true; });
    EXPECT_EQ(r, TlsConn::In::closed);
  }
}

TEST_F(TlsConnTest, GarbageIsAFailureValue) {
  auto ctx = client();
  TlsConn c;
  ASSERT_TRUE(c.start(ctx, "", {}, 0));
  std::string http = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
  std::uint8_t scratch[256];
  bool called = false;
  TlsConn::In r = c.receive(
      {reinterpret_cast<const std::uint8_t*>(http.data()), http.size()}, scratch,
      [&] {
        called = true;
        return true;
      },
      [&](std::uint8_t*, std::size_t) {
        called = true;
        return true;
      });
  EXPECT_EQ(r, TlsConn::In::failed);
  EXPECT_FALSE(called);
  EXPECT_FALSE(c.handshake_done());
  EXPECT_NE(c.failure(), tls::Failure::none);
  EXPECT_EQ(c.session().input_left(), 0u);
}

TEST_F(TlsConnTest, StopFromTheHandshakeCallbackSkipsThePlaintext) {
  auto ctx = client("1.2");
  TlsConn c;
  ASSERT_TRUE(c.start(ctx, "localhost", {}, 0));
  Server srv;
  ASSERT_TRUE(srv.s.init_server(server_ctx, tls::Output{&srv, &Server::write}));
  std::uint8_t scratch[512];
  int plains = 0, handshakes = 0;
  for (int round = 0; round < 10 && !c.handshake_done(); ++round) {
    srv.take(c.wire());
    if (srv.s.handshake_done()) {  // TLS 1.2: the server is done first; data rides with its Finished
      ASSERT_TRUE(srv.s.write({reinterpret_cast<const std::uint8_t*>("early"), 5}));
    }
    std::vector<std::uint8_t> in;
    in.swap(srv.out);
    TlsConn::In r = c.receive(
        in, scratch,
        [&] {
          ++handshakes;
          return false;  // e.g. the slot was torn down
        },
        [&](std::uint8_t*, std::size_t) {
          ++plains;
          return true;
        });
    EXPECT_EQ(r, TlsConn::In::ok);
    EXPECT_EQ(c.session().input_left(), 0u);
  }
  EXPECT_EQ(handshakes, 1);
  EXPECT_EQ(plains, 0);
  EXPECT_EQ(c.session().version(), tls::kTls12);
}

TEST_F(TlsConnTest, OffersTheSavedSessionOnStart) {
  auto ctx = client("1.2");
  std::vector<std::uint8_t> saved;
  {
    TlsConn c;
    ASSERT_TRUE(c.start(ctx, "localhost", {}, 0));
    Server srv;
    int handshakes = 0;
    handshake(c, srv, 0, handshakes);
    EXPECT_FALSE(c.session().resumed());
    saved = c.session().save();
    ASSERT_FALSE(saved.empty());
  }
  TlsConn c;
  ASSERT_TRUE(c.start(ctx, "localhost", saved, 0));
  Server srv;
  int handshakes = 0;
  handshake(c, srv, 0, handshakes);
  EXPECT_TRUE(c.session().resumed());
  EXPECT_TRUE(srv.s.resumed());
}

TEST(TlsClientContext, BadCipherListIsAnError) {
  Options o;
  o.tls = true;
  o.ciphers = "NO-SUCH-CIPHER";
  std::string why;
  EXPECT_EQ(make_client_context(o, why), nullptr);
  EXPECT_FALSE(why.empty());
  Options ok;
  ok.tls = true;
  ok.tls_version = tls::kTls12;
  ok.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256";
  why.clear();
  EXPECT_NE(make_client_context(ok, why), nullptr) << why;
}

}  // namespace
}  // namespace ringgate::load
