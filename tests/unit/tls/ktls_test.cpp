// kTLS helpers: names, control messages, and installation on this host's loopback.
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>

#include <linux/tls.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "tls_test_util.hpp"

namespace ringgate::tls::test {
namespace {

TEST(Ktls, Names) {
  EXPECT_EQ(ktls_fallback_name(KtlsFallback::none), "none");
  EXPECT_EQ(ktls_fallback_name(KtlsFallback::disabled), "disabled");
  EXPECT_EQ(ktls_fallback_name(KtlsFallback::no_ulp), "no_ulp");
  EXPECT_EQ(ktls_fallback_name(KtlsFallback::cipher), "cipher");
  EXPECT_EQ(ktls_fallback_name(KtlsFallback::partial_record), "partial_record");
  EXPECT_EQ(ktls_fallback_name(KtlsFallback::pending_output), "pending_output");
  EXPECT_EQ(ktls_fallback_name(KtlsFallback::kernel_refused), "kernel_refused");
  EXPECT_EQ(ktls_fallback_name(KtlsFallback::no_descriptor), "no_descriptor");
  const char* failures[] = {"none", "protocol", "version", "no_cipher", "alert",
                            "certificate", "not_tls", "resources", "other"};
  for (int i = 0; i < kFailureCount; ++i) EXPECT_EQ(failure_name(Failure(i)), failures[i]);
}

TEST(Ktls, RecordTypeControlMessageRoundTrip) {
  alignas(cmsghdr) std::uint8_t buf[kRecordTypeCmsgSpace];
  ktls_set_record_type(buf, kRecordAlert);
  msghdr msg{};
  msg.msg_control = buf;
  msg.msg_controllen = sizeof buf;
  const cmsghdr* c = CMSG_FIRSTHDR(&msg);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->cmsg_level, 282);  // SOL_TLS
  EXPECT_EQ(c->cmsg_type, 1);     // TLS_SET_RECORD_TYPE
  // TLS_GET_RECORD_TYPE (2) is what recvmsg returns: rewrite the type and parse it back.
  reinterpret_cast<cmsghdr*>(buf)->cmsg_type = 2;
  EXPECT_EQ(ktls_record_type(msg), kRecordAlert);
  reinterpret_cast<cmsghdr*>(buf)->cmsg_level = SOL_SOCKET;
  EXPECT_EQ(ktls_record_type(msg), 0);
  msghdr empty{};
  EXPECT_EQ(ktls_record_type(empty), 0);
}

TEST(Ktls, CipherWithoutKernelSupportIsReported) {
  ServerOptions so;
  so.max_version = kTls12;
  so.ciphers = "ECDHE-ECDSA-AES128-SHA256";  // CBC: the kernel has no TLS CBC
  std::string error;
  so.certs = {certs().a()};
  auto sc = ServerContext::create(so, error);
  if (!sc) GTEST_SKIP() << "CBC suite not available: " << error;
  ClientOptions co;
  co.max_version = kTls12;
  co.ciphers = "ECDHE-ECDSA-AES128-SHA256";
  auto p = run_pair(sc, make_client(co));
  ASSERT_TRUE(p->server.handshaken) << failure_name(p->server.s.failure());
  KtlsParams params;
  KtlsFallback why = KtlsFallback::none;
  EXPECT_FALSE(p->server.s.ktls_params(params, why));
  EXPECT_EQ(why, KtlsFallback::cipher);
  EXPECT_EQ(params.len, 0u);
}

bool host_has_tls_ulp() {
  std::ifstream f("/proc/sys/net/ipv4/tcp_available_ulp");
  std::string word;
  while (f >> word)
    if (word == "tls") return true;
  return false;
}

TEST(Ktls, InstallOnLoopbackDocumentsHost) {
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(lfd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(lfd, 1), 0);
  socklen_t alen = sizeof addr;
  ASSERT_EQ(::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &alen), 0);
  int cfd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(::connect(cfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  int sfd = ::accept(lfd, nullptr, nullptr);
  ASSERT_GE(sfd, 0);

  // Real keys from a TLS 1.3 AES-128-GCM session.
  ClientOptions co;
  co.min_version = kTls13;
  co.ciphers = "TLS13-AES128-GCM-SHA256";
  auto p = run_pair(make_server({}), make_client(co));
  KtlsParams params;
  KtlsFallback why;
  ASSERT_TRUE(p->server.s.ktls_params(params, why));

  KtlsFallback r = ktls_install(sfd, params);
  if (host_has_tls_ulp()) {
    EXPECT_EQ(r, KtlsFallback::none);
  } else {
    // This build host: `# CONFIG_TLS is not set`, so TCP_ULP "tls" fails with ENOENT.
    EXPECT_EQ(r, KtlsFallback::no_ulp) << ktls_fallback_name(r);
  }
  // A socket that is not connected TCP is refused, never reported as a kernel property.
  int udp = ::socket(AF_INET, SOCK_DGRAM, 0);
  EXPECT_NE(ktls_install(udp, params), KtlsFallback::none);
  KtlsParams empty;
  EXPECT_EQ(ktls_install(sfd, empty), KtlsFallback::cipher);
  ::close(udp);
  ::close(sfd);
  ::close(cfd);
  ::close(lfd);
}

// The real proof of the key mapping: open one record written by wolfSSL the way the kernel's RX
// would, using only the KtlsParams of the receiving direction.
struct Keys {
  std::uint16_t version, cipher;
  const std::uint8_t *key, *salt, *iv, *seq;
  std::size_t key_len, salt_len;
};

Keys keys_of(const KtlsParams& p, const std::uint8_t* info) {
  Keys k{p.version, p.cipher, nullptr, nullptr, nullptr, nullptr, 0, 0};
  if (p.cipher == TLS_CIPHER_AES_GCM_128) {
    auto* i = reinterpret_cast<const tls12_crypto_info_aes_gcm_128*>(info);
    k = {p.version, p.cipher, i->key, i->salt, i->iv, i->rec_seq, sizeof i->key, 4};
  } else if (p.cipher == TLS_CIPHER_AES_GCM_256) {
    auto* i = reinterpret_cast<const tls12_crypto_info_aes_gcm_256*>(info);
    k = {p.version, p.cipher, i->key, i->salt, i->iv, i->rec_seq, sizeof i->key, 4};
  } else if (p.cipher == TLS_CIPHER_CHACHA20_POLY1305) {
    auto* i = reinterpret_cast<const tls12_crypto_info_chacha20_poly1305*>(info);
    k = {p.version, p.cipher, i->key, nullptr, i->iv, i->rec_seq, sizeof i->key, 0};
  }
  return k;
}

// Decrypts one application-data record; empty on a bad tag.
std::vector<std::uint8_t> open_record(const Keys& k, const std::vector<std::uint8_t>& rec) {
  const bool tls13 = k.version == TLS_1_3_VERSION;
  const bool chacha = k.cipher == TLS_CIPHER_CHACHA20_POLY1305;
  std::size_t body = (std::size_t(rec[3]) << 8) | rec[4];
  EXPECT_EQ(rec.size(), 5 + body);
  std::uint8_t nonce[12];
  const std::uint8_t* ct = rec.data() + 5;
  std::size_t ct_len = body - 16;
  if (chacha || tls13) {
    if (chacha) {
      std::memcpy(nonce, k.iv, 12);
    } else {
      std::memcpy(nonce, k.salt, 4);
      std::memcpy(nonce + 4, k.iv, 8);
    }
    for (int i = 0; i < 8; ++i) nonce[4 + i] ^= k.seq[i];
  } else {  // TLS 1.2 AES-GCM: salt || explicit nonce carried in the record
    std::memcpy(nonce, k.salt, 4);
    std::memcpy(nonce + 4, ct, 8);
    ct += 8;
    ct_len -= 8;
  }
  std::uint8_t aad[13];
  std::size_t aad_len = 5;
  if (tls13) {
    std::memcpy(aad, rec.data(), 5);
  } else {
    std::memcpy(aad, k.seq, 8);
    aad[8] = rec[0];
    aad[9] = rec[1];
    aad[10] = rec[2];
    aad[11] = std::uint8_t(ct_len >> 8);
    aad[12] = std::uint8_t(ct_len);
    aad_len = 13;
  }
  std::vector<std::uint8_t> out(ct_len);
  const std::uint8_t* tag = ct + ct_len;
  int rc;
  if (chacha) {
    rc = wc_ChaCha20Poly1305_Decrypt(k.key, nonce, aad, word32(aad_len), ct, word32(ct_len), tag, out.data());
  } else {
    Aes aes;
    wc_AesInit(&aes, nullptr, INVALID_DEVID);
    wc_AesGcmSetKey(&aes, k.key, word32(k.key_len));
    rc = wc_AesGcmDecrypt(&aes, out.data(), ct, word32(ct_len), nonce, 12, tag, 16, aad, word32(aad_len));
    wc_AesFree(&aes);
  }
  if (rc != 0) return {};
  if (tls13) {  // inner plaintext: content || type || zero padding
    while (!out.empty() && out.back() == 0) out.pop_back();
    EXPECT_FALSE(out.empty());
    if (!out.empty()) {
      EXPECT_EQ(out.back(), kRecordApplicationData);
      out.pop_back();
    }
  }
  return out;
}

struct KtlsMode {
  const char* name;
  std::uint16_t version;
  const char* ciphers;
};

class KtlsDecrypt : public ::testing::TestWithParam<KtlsMode> {};

TEST_P(KtlsDecrypt, ParamsOpenRecordsOfBothDirections) {
  const KtlsMode& m = GetParam();
  TicketKeyRing ring;
  ServerOptions so;
  so.tickets = &ring;  // TLS 1.3: the server's TX sequence starts at 1 (the ticket)
  ClientOptions co;
  co.min_version = co.max_version = m.version;
  co.ciphers = m.ciphers;
  auto p = run_pair(make_server(so), make_client(co));
  ASSERT_TRUE(p->client.handshaken);
  KtlsParams sp, cp;
  KtlsFallback why;
  ASSERT_TRUE(p->server.s.ktls_params(sp, why));
  ASSERT_TRUE(p->client.s.ktls_params(cp, why));
  const std::vector<std::uint8_t> down{'d', 'o', 'w', 'n'}, up{'u', 'p', '!'};
  ASSERT_TRUE(p->server.s.write(down));
  ASSERT_TRUE(p->client.s.write(up));
  // The client's RX keys open what the server sent; the server's RX keys open the client's.
  EXPECT_EQ(open_record(keys_of(cp, cp.rx), p->server.outbox), down);
  EXPECT_EQ(open_record(keys_of(sp, sp.rx), p->client.outbox), up);
  // And the wrong direction does not.
  EXPECT_TRUE(open_record(keys_of(cp, cp.tx), p->server.outbox).empty());
}

INSTANTIATE_TEST_SUITE_P(
    AllModes, KtlsDecrypt,
    ::testing::Values(KtlsMode{"tls12_aes128", kTls12, "ECDHE-ECDSA-AES128-GCM-SHA256"},
                      KtlsMode{"tls12_aes256", kTls12, "ECDHE-ECDSA-AES256-GCM-SHA384"},
                      KtlsMode{"tls12_chacha", kTls12, "ECDHE-ECDSA-CHACHA20-POLY1305"},
                      KtlsMode{"tls13_aes128", kTls13, "TLS13-AES128-GCM-SHA256"},
                      KtlsMode{"tls13_aes256", kTls13, "TLS13-AES256-GCM-SHA384"},
                      KtlsMode{"tls13_chacha", kTls13, "TLS13-CHACHA20-POLY1305-SHA256"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace ringgate::tls::test
