// Test helpers for the tls module: embedded self-signed EC certificates (written to a temp dir
// once per process) and an in-memory server<->client harness that drives two Sessions through
// Output callbacks, delivering bytes whole, byte by byte or in random splits.
//
// Certificates (prime256v1, valid for 100 years, made once with `openssl req -x509`):
//   A: CN=localhost, SAN DNS:localhost, DNS:*.example.test
//   B: CN=other.test, SAN DNS:other.test
//   C: CN=cn-only.test, no SAN
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "ringgate/tls/context.hpp"
#include "ringgate/tls/keys.hpp"
#include "ringgate/tls/session.hpp"

namespace ringgate::tls::test {

inline constexpr const char* kCertAPem = R"PEM(-----BEGIN CERTIFICATE-----
MIIBpTCCAUugAwIBAgIUHrmIv0OtBrheV7hdTOUKatYKICEwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyMjAwMzA1NFoYDzIxMjYxMDI5
MDAzMDU0WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAARgGJpYjkJ4TzYKM+VqhMxP19ZGychWMcT3U8sAMSH0ybSeWlAjO4pE
5E2Fk4w2oeHylaeurcQxpG1GJSld9ZjLo3kwdzAdBgNVHQ4EFgQUHFGuhh703CZs
xOJTBPgSYzBMc4UwHwYDVR0jBBgwFoAUHFGuhh703CZsxOJTBPgSYzBMc4UwDwYD
VR0TAQH/BAUwAwEB/zAkBgNVHREEHTAbgglsb2NhbGhvc3SCDiouZXhhbXBsZS50
ZXN0MAoGCCqGSM49BAMCA0gAMEUCIBHsiwyQP+40YkyGBcFdWm5Tpc8KFJuTsXlX
1mSZv09iAiEAj1bqef6/gDDxPFyTA2/nNBr5F/cn7NE0ulXyp3QIvE4=
-----END CERTIFICATE-----
)PEM";
inline constexpr const char* kCertAKeyPem = R"PEM(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQguKqd82tpRrDiU0ED
hXqmOx1UwcZ8KAepaLaNHRGyMRmhRANCAARgGJpYjkJ4TzYKM+VqhMxP19ZGychW
McT3U8sAMSH0ybSeWlAjO4pE5E2Fk4w2oeHylaeurcQxpG1GJSld9ZjL
-----END PRIVATE KEY-----
)PEM";
inline constexpr const char* kCertBPem = R"PEM(-----BEGIN CERTIFICATE-----
MIIBmDCCAT6gAwIBAgIUMjomiQC8uKtDBCUIWiToyubpWYUwCgYIKoZIzj0EAwIw
FTETMBEGA1UEAwwKb3RoZXIudGVzdDAgFw0yNjExMjIwMDMwNTRaGA8yMTI2MTAy
OTAwMzA1NFowFTETMBEGA1UEAwwKb3RoZXIudGVzdDBZMBMGByqGSM49AgEGCCqG
SM49AwEHA0IABM3SSvhOy9OIae3SAORYqJx4xqiq4SvAQgbUdt10CmClxGKsO/GF
Tr1fiborxKdZprKlZjpPqUK07FqJzwqLInyjajBoMB0GA1UdDgQWBBTq9YQrOFfy
bfbvjaDINmG1XmSRVTAfBgNVHSMEGDAWgBTq9YQrOFfybfbvjaDINmG1XmSRVTAP
BgNVHRMBAf8EBTADAQH/MBUGA1UdEQQOMAyCCm90aGVyLnRlc3QwCgYIKoZIzj0E
AwIDSAAwRQIgRvbtOY032/3Ei9XEkkJbh8t/VZZMAfKdmaltwH/3AZICIQDpPcuY
N2fuaihPXGa71RegeIT+MEFga20z1jcMLSsBXA==
-----END CERTIFICATE-----
)PEM";
inline constexpr const char* kCertBKeyPem = R"PEM(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgZBHU+/xNeSoHaFtw
YZA8FH8twroSBQsv6Zv0MJVJfRahRANCAATN0kr4TsvTiGnt0gDkWKiceMaoquEr
wEIG1HbddApgpcRirDvxhU69X4m6K8SnWaaypWY6T6lCtOxaic8KiyJ8
-----END PRIVATE KEY-----
)PEM";
inline constexpr const char* kCertCPem = R"PEM(-----BEGIN CERTIFICATE-----
MIIBhTCCASugAwIBAgIUTy1wEMpDxJEOcQkJAZHAoxfzsu0wCgYIKoZIzj0EAwIw
FzEVMBMGA1UEAwwMY24tb25seS50ZXN0MCAXDTI2MTEyMjAwMzA1NFoYDzIxMjYx
MDI5MDAzMDU0WjAXMRUwEwYDVQQDDAxjbi1vbmx5LnRlc3QwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAAScE23E2ay67wqHSmJpdQEnzlMolZQTXd+SEWO7T74inZyB
UdyZ7CEyw0FYv8hVoThIJdkfoKdGzRtydhIa3CIeo1MwUTAdBgNVHQ4EFgQUwZq+
ogB8FSEPVuX75Cq5PrCx2W4wHwYDVR0jBBgwFoAUwZq+ogB8FSEPVuX75Cq5PrCx
2W4wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEA9P8ULAgJ98P8
8+UkFvw93z07BZZFqL8Bszb683M9O9ECIAk2PqpdjzloSJcm7SAVlcz5mbs/d9+F
YEtxJdW0Rkd9
-----END CERTIFICATE-----
)PEM";
inline constexpr const char* kCertCKeyPem = R"PEM(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAu2ygo86L1CO5oba
ZN02JBfYUjZ1+fWsevmS96SNeyChRANCAAScE23E2ay67wqHSmJpdQEnzlMolZQT
Xd+SEWO7T74inZyBUdyZ7CEyw0FYv8hVoThIJdkfoKdGzRtydhIa3CIe
-----END PRIVATE KEY-----
)PEM";

struct CertDir {
  std::string dir;
  std::string path(const char* name) const { return dir + "/" + name; }
  CertDir() {
    char tmpl[] = "/tmp/ringgate-tls-test-XXXXXX";
    dir = ::mkdtemp(tmpl);
    write("a.crt", kCertAPem);
    write("a.key", kCertAKeyPem);
    write("b.crt", kCertBPem);
    write("b.key", kCertBKeyPem);
    write("c.crt", kCertCPem);
    write("c.key", kCertCKeyPem);
  }
  ~CertDir() {
    for (const char* f : {"a.crt", "a.key", "b.crt", "b.key", "c.crt", "c.key"}) ::unlink(path(f).c_str());
    ::rmdir(dir.c_str());
  }
  void write(const char* name, const char* text) const { std::ofstream(path(name)) << text; }
  CertFiles a() const { return {path("a.crt"), path("a.key")}; }
  CertFiles b() const { return {path("b.crt"), path("b.key")}; }
  CertFiles c() const { return {path("c.crt"), path("c.key")}; }
};

inline const CertDir& certs() {
  static CertDir d;
  return d;
}

enum class Split { whole, bytes, random };

struct Endpoint {
  Session s;
  std::vector<std::uint8_t> outbox;  // ciphertext written by s, not yet delivered
  std::vector<std::uint8_t> plain;   // plaintext read by s
  std::vector<std::uint8_t> wire;    // every byte s ever wrote (for inspecting handshakes)
  bool fail_writes = false;          // makes Output refuse bytes
  bool handshaken = false;
  bool closed = false;
  bool failed = false;

  Output output() {
    return Output{this, [](void* ctx, const std::uint8_t* d, std::size_t n) noexcept {
                    auto* e = static_cast<Endpoint*>(ctx);
                    if (e->fail_writes) return false;
                    e->outbox.insert(e->outbox.end(), d, d + n);
                    e->wire.insert(e->wire.end(), d, d + n);
                    return true;
                  }};
  }

  // Lends `chunk` to the session and runs it until it wants more input.
  void drive(std::span<const std::uint8_t> chunk) {
    if (failed) return;
    s.feed(chunk);
    for (;;) {
      if (!handshaken) {
        Status st = s.handshake();
        if (st == Status::again) break;
        if (st != Status::done) {
          failed = true;
          return;
        }
        handshaken = true;
      }
      std::uint8_t buf[4096];
      std::size_t n = 0;
      Status st = s.read(buf, n);
      if (st == Status::done) {
        EXPECT_GT(n, 0u);
        plain.insert(plain.end(), buf, buf + n);
        continue;
      }
      if (st == Status::closed) closed = true;
      if (st == Status::failed) failed = true;
      break;
    }
    // The contract: a session returns again only once the span is used up.
    if (!failed && !closed) {
      EXPECT_EQ(s.input_left(), 0u);
    }
  }
};

struct Pair {
  Endpoint server, client;
  Split split = Split::whole;
  std::mt19937 rng{12345};

  void deliver(Endpoint& from, Endpoint& to) {
    std::vector<std::uint8_t> bytes;
    bytes.swap(from.outbox);
    std::size_t off = 0;
    while (off < bytes.size()) {
      std::size_t n = bytes.size() - off;
      if (split == Split::bytes) n = 1;
      if (split == Split::random) n = std::min<std::size_t>(n, 1 + rng() % 700);
      to.drive(std::span<const std::uint8_t>(bytes.data() + off, n));
      off += n;
    }
  }
  // Moves bytes both ways until neither side has anything to say.
  void pump() {
    for (int i = 0; i < 100000 && (!server.outbox.empty() || !client.outbox.empty()); ++i) {
      if (!client.outbox.empty()) deliver(client, server);
      if (!server.outbox.empty()) deliver(server, client);
    }
  }
  // Starts the client (ClientHello) and pumps until quiet.
  void connect() {
    client.drive({});
    pump();
  }
};

// The plaintext handshake messages at the start of a TLS 1.2 stream (before ChangeCipherSpec):
// (type, body) pairs.
struct HsMsg {
  std::uint8_t type;
  std::vector<std::uint8_t> body;
};
inline std::vector<HsMsg> plaintext_handshake(const std::vector<std::uint8_t>& wire) {
  std::vector<std::uint8_t> hs;
  for (std::size_t off = 0; off + 5 <= wire.size();) {
    std::size_t len = (std::size_t(wire[off + 3]) << 8) | wire[off + 4];
    if (wire[off] != 22 || off + 5 + len > wire.size()) break;
    hs.insert(hs.end(), wire.begin() + std::ptrdiff_t(off + 5), wire.begin() + std::ptrdiff_t(off + 5 + len));
    off += 5 + len;
  }
  std::vector<HsMsg> out;
  for (std::size_t off = 0; off + 4 <= hs.size();) {
    std::size_t len = (std::size_t(hs[off + 1]) << 16) | (std::size_t(hs[off + 2]) << 8) | hs[off + 3];
    if (off + 4 + len > hs.size()) break;
    out.push_back({hs[off], {hs.begin() + std::ptrdiff_t(off + 4), hs.begin() + std::ptrdiff_t(off + 4 + len)}});
    off += 4 + len;
  }
  return out;
}
// The session ID of a ClientHello or ServerHello body (after version and random).
inline std::vector<std::uint8_t> hello_session_id(const HsMsg& m) {
  if (m.body.size() < 35 || m.body.size() < 35u + m.body[34]) return {};
  return {m.body.begin() + 35, m.body.begin() + 35 + m.body[34]};
}

inline std::shared_ptr<ServerContext> make_server(ServerOptions o) {
  if (o.certs.empty()) o.certs.push_back(certs().a());
  std::string error;
  auto ctx = ServerContext::create(o, error);
  EXPECT_TRUE(ctx) << error;
  return ctx;
}

inline std::shared_ptr<ClientContext> make_client(ClientOptions o) {
  std::string error;
  auto ctx = ClientContext::create(o, error);
  EXPECT_TRUE(ctx) << error;
  return ctx;
}

// One full connection; returns the pair (already pumped).
inline std::unique_ptr<Pair> run_pair(const std::shared_ptr<ServerContext>& sc, const std::shared_ptr<ClientContext>& cc,
                                      const char* sni = "localhost", std::span<const std::uint8_t> resume = {},
                                      Split split = Split::whole) {
  auto p = std::make_unique<Pair>();
  p->split = split;
  EXPECT_TRUE(p->server.s.init_server(sc, p->server.output()));
  EXPECT_TRUE(p->client.s.init_client(cc, p->client.output(), sni, resume));
  p->connect();
  return p;
}

}  // namespace ringgate::tls::test
