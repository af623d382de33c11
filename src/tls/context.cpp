// TLS contexts over wolfSSL: one WOLFSSL_CTX per certificate (SNI switches between them), the
// ALPN choice, and the resumption callbacks that route wolfSSL's ticket and session-cache hooks to
// the process-wide TicketKeyRing and SessionCache (keys.hpp).
//
// Thread safety: a built context is only read. Per handshake wolfSSL takes a reference on a CTX
// (wolfSSL_new, wolfSSL_set_SSL_CTX: its own mutex) and calls our callbacks, which only read Impl
// and go through the lock-free ring or the striped cache. Nothing here calls a CTX setter after
// create().
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/openssl/evp.h>
#include <wolfssl/openssl/pem.h>
#include <wolfssl/wolfcrypt/ecc.h>

#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <mutex>

#include "ringgate/core/clock.hpp"
#include "ringgate/tls/context.hpp"
#include "ringgate/tls/keys.hpp"
#include "tls/wolf_internal.hpp"

namespace ringgate::tls {

const char* const kDefaultCiphers =
    "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

namespace {

std::once_flag g_init_once;
int g_ex_index = -1;  // CTX ex-data slot: ServerContext::Impl* or ClientContext::Impl*

void init_once() {
  std::call_once(g_init_once, [] {
    wolfSSL_Init();
    g_ex_index = wolfSSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  });
}

struct CtxFree {
  void operator()(WOLFSSL_CTX* c) const noexcept { wolfSSL_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<WOLFSSL_CTX, CtxFree>;

bool file_readable(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string wolf_reason(int code) {
  char buf[WOLFSSL_MAX_ERROR_SZ] = {};
  wolfSSL_ERR_error_string_n(static_cast<unsigned long>(code < 0 ? -code : code), buf, sizeof buf);
  return buf;
}

int wolf_version(std::uint16_t v) { return v >= kTls13 ? WOLFSSL_TLSV1_3 : WOLFSSL_TLSV1_2; }

// Applies min/max protocol versions; false with `error` on an impossible range.
// Key exchange groups, X25519 first: browsers and OpenSSL send an X25519 key share, and it is
// the cheapest ECDHE here (a TLS 1.3 resumption still pays one, psk_dhe_ke). P-256 and P-384 stay
// for clients that offer only those.
void set_groups(WOLFSSL_CTX* c) noexcept {
  int groups[] = {WOLFSSL_ECC_X25519, WOLFSSL_ECC_SECP256R1, WOLFSSL_ECC_SECP384R1};
  (void)wolfSSL_CTX_set_groups(c, groups, int(sizeof groups / sizeof groups[0]));
}

bool apply_versions(WOLFSSL_CTX* ctx, std::uint16_t min_v, std::uint16_t max_v, std::string& error) {
  if (min_v < kTls12 || max_v > kTls13 || min_v > max_v) {
    error = "bad TLS version range (only 1.2 and 1.3 are supported)";
    return false;
  }
  if (wolfSSL_CTX_SetMinVersion(ctx, wolf_version(min_v)) != WOLFSSL_SUCCESS) {
    error = "cannot set the minimum TLS version";
    return false;
  }
  if (max_v == kTls12 && wolfSSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) != WOLFSSL_SUCCESS) {
    error = "cannot set the maximum TLS version";
    return false;
  }
  return true;
}

// "*.example.com" matches exactly one extra leftmost label; names compare case-insensitively.
bool name_matches(std::string_view pattern, std::string_view host) {
  auto ieq = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      char x = a[i], y = b[i];
      if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
      if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
      if (x != y) return false;
    }
    return true;
  };
  if (pattern.size() > 2 && pattern[0] == '*' && pattern[1] == '.') {
    auto dot = host.find('.');
    if (dot == std::string_view::npos || dot == 0) return false;
    return ieq(pattern.substr(1), host.substr(dot));
  }
  return ieq(pattern, host);
}

// The leaf certificate's DNS names: subjectAltName entries, else the subject CN.
bool cert_names(const std::string& path, std::vector<std::string>& out, std::string& error) {
  WOLFSSL_X509* x = wolfSSL_X509_load_certificate_file(path.c_str(), WOLFSSL_FILETYPE_PEM);
  if (x == nullptr) {
    error = path + ": not a PEM certificate";
    return false;
  }
  while (const char* n = wolfSSL_X509_get_next_altname(x)) {
    std::string_view s(n);
    // IP address entries come back as raw bytes; keep printable host names only.
    bool printable = !s.empty();
    for (char c : s) printable = printable && c > 0x20 && c < 0x7f;
    if (printable) out.emplace_back(s);
  }
  if (out.empty()) {
    char cn[256] = {};
    WOLFSSL_X509_NAME* subject = wolfSSL_X509_get_subject_name(x);
    if (subject && wolfSSL_X509_NAME_get_text_by_NID(subject, NID_commonName, cn, sizeof cn) > 0) out.emplace_back(cn);
  }
  wolfSSL_X509_free(x);
  return true;
}

// True when `key_path` holds the private half of the certificate's public key: a signature made
// with it verifies under the certificate. (wolfSSL_CTX_check_private_key in 5.5.4 accepts a
// foreign EC key, so it cannot be relied on.)
bool key_matches_cert(const std::string& cert_path, const std::string& key_path) {
  WOLFSSL_X509* x = wolfSSL_X509_load_certificate_file(cert_path.c_str(), WOLFSSL_FILETYPE_PEM);
  FILE* f = std::fopen(key_path.c_str(), "r");
  WOLFSSL_EVP_PKEY* key = f ? wolfSSL_PEM_read_PrivateKey(f, nullptr, nullptr, nullptr) : nullptr;
  if (f) std::fclose(f);
  WOLFSSL_EVP_PKEY* pub = x ? wolfSSL_X509_get_pubkey(x) : nullptr;
  bool ok = false;
  if (key && pub) {
    static const unsigned char msg[] = "ringgate key check";
    unsigned char sig[1024];
    std::size_t sig_len = sizeof sig;
    WOLFSSL_EVP_MD_CTX* s = wolfSSL_EVP_MD_CTX_new();
    WOLFSSL_EVP_MD_CTX* v = wolfSSL_EVP_MD_CTX_new();
    ok = s && v && wolfSSL_EVP_DigestSignInit(s, nullptr, wolfSSL_EVP_sha256(), nullptr, key) == 1 &&
         wolfSSL_EVP_DigestSignUpdate(s, msg, sizeof msg) == 1 && wolfSSL_EVP_DigestSignFinal(s, sig, &sig_len) == 1 &&
         wolfSSL_EVP_DigestVerifyInit(v, nullptr, wolfSSL_EVP_sha256(), nullptr, pub) == 1 &&
         wolfSSL_EVP_DigestVerifyUpdate(v, msg, sizeof msg) == 1 &&
         wolfSSL_EVP_DigestVerifyFinal(v, sig, sig_len) == 1;
    wolfSSL_EVP_MD_CTX_free(s);
    wolfSSL_EVP_MD_CTX_free(v);
  }
  wolfSSL_EVP_PKEY_free(pub);
  wolfSSL_EVP_PKEY_free(key);
  wolfSSL_X509_free(x);
  return ok;
}

}  // namespace

void global_init() noexcept { init_once(); }

void thread_cleanup() noexcept {
#ifdef FP_ECC
  wc_ecc_fp_free();  // the ECC fixed-point cache is thread-local: it would leak with the thread
#endif
}

// ---------------------------------------------------------------------------------------------
// ServerContext

struct ServerContext::Impl {
  std::vector<CtxPtr> ctxs;  // [0] = default
  std::vector<std::vector<std::string>> names;
  std::vector<std::uint8_t> alpn_wire;  // our protocols, length-prefixed, in preference order
  TicketKeyRing* tickets = nullptr;
  SessionCache* cache = nullptr;

  static Impl* of(WOLFSSL* ssl) noexcept {
    return static_cast<Impl*>(wolfSSL_CTX_get_ex_data(wolfSSL_get_SSL_CTX(ssl), g_ex_index));
  }

  WOLFSSL_CTX* ctx_for(std::string_view host) const noexcept {
    for (std::size_t i = 0; i < names.size(); ++i)
      for (const auto& n : names[i])
        if (name_matches(n, host)) return ctxs[i].get();
    return nullptr;
  }
};

namespace {

std::uint64_t now_s() noexcept { return monotonic_ns() / 1'000'000'000u; }

int on_alpn(WOLFSSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
            unsigned int inlen, void* arg) {
  auto* impl = static_cast<ServerContext::Impl*>(arg);
  const auto& ours = impl->alpn_wire;
  // Server preference: the first of ours that the client offered.
  for (std::size_t i = 0; i < ours.size(); i += 1 + ours[i]) {
    const std::uint8_t len = ours[i];
    for (unsigned j = 0; j < inlen; j += 1u + in[j]) {
      if (j + 1u + in[j] > inlen) break;  // malformed list: stop, never read past it
      if (in[j] == len && std::memcmp(in + j + 1, ours.data() + i + 1, len) == 0) {
        *out = in + j + 1;
        *outlen = len;
        return SSL_TLSEXT_ERR_OK;
      }
    }
  }
  return SSL_TLSEXT_ERR_NOACK;  // no common protocol: carry on without ALPN
}

int on_servername(WOLFSSL* ssl, int*, void* arg) {
  auto* impl = static_cast<ServerContext::Impl*>(arg);
  const char* host = wolfSSL_get_servername(ssl, WOLFSSL_SNI_HOST_NAME);
  if (host == nullptr || impl->ctxs.size() < 2) return SSL_TLSEXT_ERR_OK;
  WOLFSSL_CTX* target = impl->ctx_for(host);
  if (target != nullptr && target != wolfSSL_get_SSL_CTX(ssl)) wolfSSL_set_SSL_CTX(ssl, target);
  return SSL_TLSEXT_ERR_OK;  // unknown names get the default certificate
}

int on_ticket(WOLFSSL* ssl, unsigned char name[WOLFSSL_TICKET_NAME_SZ], unsigned char iv[WOLFSSL_TICKET_IV_SZ],
              unsigned char mac[WOLFSSL_TICKET_MAC_SZ], int enc, unsigned char* ticket, int in_len, int* out_len,
              void*) {
  auto* impl = ServerContext::Impl::of(ssl);
  if (impl == nullptr || impl->tickets == nullptr) return WOLFSSL_TICKET_RET_REJECT;
  *out_len = in_len;  // AEAD in place: the body keeps its length, the tag lives in `mac`
  if (enc) return impl->tickets->encrypt(name, iv, mac, ticket, in_len) ? WOLFSSL_TICKET_RET_OK : WOLFSSL_TICKET_RET_FATAL;
  switch (impl->tickets->open(name, iv, mac, ticket, in_len)) {
    case 0: return WOLFSSL_TICKET_RET_OK;
    case 1: return WOLFSSL_TICKET_RET_CREATE;  // an older key: accept and issue a fresh ticket
    default: return WOLFSSL_TICKET_RET_REJECT;  // full handshake, not an error
  }
}

int on_session_new(WOLFSSL* ssl, WOLFSSL_SESSION* sess) {
  auto* impl = ServerContext::Impl::of(ssl);
  unsigned int id_len = 0;
  const unsigned char* id = wolfSSL_SESSION_get_id(sess, &id_len);
  if (impl == nullptr || impl->cache == nullptr || id == nullptr || id_len == 0 || id_len > 32) return 0;
  int len = wolfSSL_i2d_SSL_SESSION(sess, nullptr);
  if (len <= 0 || len > 16384) return 0;
  std::uint8_t stack[4096];
  std::vector<std::uint8_t> heap;
  std::uint8_t* buf = stack;
  if (len > int(sizeof stack)) {
    heap.resize(std::size_t(len));
    buf = heap.data();
  }
  unsigned char* p = buf;
  if (wolfSSL_i2d_SSL_SESSION(sess, &p) != len) return 0;
  impl->cache->put({id, id_len}, {buf, std::size_t(len)}, now_s());
  return 0;  // we keep serialized bytes, not wolfSSL's object: it drops its reference
}

WOLFSSL_SESSION* on_session_get(WOLFSSL* ssl, const unsigned char* id, int id_len, int* copy) {
  *copy = 0;  // the returned object is ours to give away: wolfSSL frees it
  auto* impl = ServerContext::Impl::of(ssl);
  if (impl == nullptr || impl->cache == nullptr || id_len <= 0 || id_len > 32) return nullptr;
  thread_local std::vector<std::uint8_t> bytes;  // reused: no allocation per lookup once warm
  if (!impl->cache->get({id, std::size_t(id_len)}, bytes, now_s())) return nullptr;
  const unsigned char* p = bytes.data();
  return wolfSSL_d2i_SSL_SESSION(nullptr, &p, long(bytes.size()));
}

// Deliberately a no-op. wolfSSL removes a session when a connection ends without close_notify
// (or on some errors); a client that merely vanished (radio loss, killed tab) must still resume
// on its next connection, so cache entries leave only by age or eviction (keys.hpp).
void on_session_remove(WOLFSSL_CTX*, WOLFSSL_SESSION*) {}

bool build_server_ctx(const ServerOptions& o, const CertFiles& files, ServerContext::Impl* impl, CtxPtr& out,
                      std::string& error) {
  CtxPtr ctx(wolfSSL_CTX_new(wolfSSLv23_server_method()));
  if (!ctx) {
    error = "out of memory creating a TLS context";
    return false;
  }
  WOLFSSL_CTX* c = ctx.get();
  if (!apply_versions(c, o.min_version, o.max_version, error)) return false;
  const std::string& ciphers = o.ciphers.empty() ? std::string(kDefaultCiphers) : o.ciphers;
  if (wolfSSL_CTX_set_cipher_list(c, ciphers.c_str()) != WOLFSSL_SUCCESS) {
    error = "bad cipher list: " + ciphers;
    return false;
  }
  set_groups(c);
  for (const std::string* f : {&files.cert, &files.key}) {
    if (!file_readable(*f)) {
      error = *f + ": cannot read file";
      return false;
    }
  }
  int rc = wolfSSL_CTX_use_certificate_chain_file(c, files.cert.c_str());
  if (rc != WOLFSSL_SUCCESS) {
    error = files.cert + ": not a usable PEM certificate chain (" + wolf_reason(rc) + ")";
    return false;
  }
  rc = wolfSSL_CTX_use_PrivateKey_file(c, files.key.c_str(), WOLFSSL_FILETYPE_PEM);
  if (rc != WOLFSSL_SUCCESS) {
    error = files.key + ": not a usable PEM private key (" + wolf_reason(rc) + ")";
    return false;
  }
  if (wolfSSL_CTX_check_private_key(c) != WOLFSSL_SUCCESS || !key_matches_cert(files.cert, files.key)) {
    error = files.key + ": private key does not match certificate " + files.cert;
    return false;
  }
  wolfSSL_CTX_set_ex_data(c, g_ex_index, impl);
  wolfSSL_CTX_set_verify(c, WOLFSSL_VERIFY_NONE, nullptr);
  if (!impl->alpn_wire.empty()) wolfSSL_CTX_set_alpn_select_cb(c, on_alpn, impl);
  wolfSSL_CTX_set_servername_callback(c, on_servername);
  wolfSSL_CTX_set_servername_arg(c, impl);
  wolfSSL_CTX_set_timeout(c, o.session_lifetime_s);

  if (o.tickets != nullptr) {
    wolfSSL_CTX_set_TicketEncCb(c, on_ticket);
    wolfSSL_CTX_set_TicketHint(c, int(o.session_lifetime_s));
    wolfSSL_CTX_set_num_tickets(c, 1);
  } else {
    wolfSSL_CTX_NoTicketTLSv12(c);
    if (o.max_version >= kTls13) wolfSSL_CTX_no_ticket_TLSv13(c);
  }
  if (o.cache != nullptr) {
    // wolfSSL's own cache is process-wide and tiny (33 entries): bypass it completely.
    wolfSSL_CTX_set_session_cache_mode(c, WOLFSSL_SESS_CACHE_NO_INTERNAL);
    wolfSSL_CTX_sess_set_new_cb(c, on_session_new);
    wolfSSL_CTX_sess_set_get_cb(c, on_session_get);
    wolfSSL_CTX_sess_set_remove_cb(c, on_session_remove);
  } else {
    wolfSSL_CTX_set_session_cache_mode(c, WOLFSSL_SESS_CACHE_OFF);
  }
  out = std::move(ctx);
  return true;
}

}  // namespace

ServerContext::ServerContext(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
ServerContext::~ServerContext() = default;

std::shared_ptr<ServerContext> ServerContext::create(const ServerOptions& options, std::string& error) {
  init_once();
  if (options.certs.empty()) {
    error = "no certificate configured";
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  impl->tickets = options.tickets;
  impl->cache = options.cache;
  for (const auto& p : options.alpn) {
    if (p.empty() || p.size() > 255) {
      error = "bad ALPN protocol name '" + p + "'";
      return nullptr;
    }
    impl->alpn_wire.push_back(std::uint8_t(p.size()));
    impl->alpn_wire.insert(impl->alpn_wire.end(), p.begin(), p.end());
  }
  for (const auto& files : options.certs) {
    std::vector<std::string> names;
    CtxPtr ctx;
    if (!build_server_ctx(options, files, impl.get(), ctx, error)) return nullptr;
    if (!cert_names(files.cert, names, error)) return nullptr;
    impl->ctxs.push_back(std::move(ctx));
    impl->names.push_back(std::move(names));
  }
  return std::shared_ptr<ServerContext>(new ServerContext(std::move(impl)));
}

void* ServerContext::native() const noexcept { return impl_->ctxs.front().get(); }

const std::vector<std::vector<std::string>>& ServerContext::names() const noexcept { return impl_->names; }

// ---------------------------------------------------------------------------------------------
// ContextSlot

void ContextSlot::set(std::shared_ptr<ServerContext> ctx) {
  std::lock_guard lock(mu_);
  ctx_ = std::move(ctx);
  generation_.fetch_add(1, std::memory_order_release);
}

std::shared_ptr<ServerContext> ContextSlot::get() const {
  std::lock_guard lock(mu_);
  return ctx_;
}

// ---------------------------------------------------------------------------------------------
// ClientContext

struct ClientContext::Impl {
  CtxPtr ctx;
  bool tickets = true;
  std::string alpn_csv;  // wolfSSL_UseALPN's format: "a,b"
};

ClientContext::ClientContext(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
ClientContext::~ClientContext() = default;

std::shared_ptr<ClientContext> ClientContext::create(const ClientOptions& o, std::string& error) {
  init_once();
  auto impl = std::make_unique<Impl>();
  impl->tickets = o.tickets;
  impl->ctx.reset(wolfSSL_CTX_new(wolfSSLv23_client_method()));
  WOLFSSL_CTX* c = impl->ctx.get();
  if (c == nullptr) {
    error = "out of memory creating a TLS context";
    return nullptr;
  }
  if (!apply_versions(c, o.min_version, o.max_version, error)) return nullptr;
  if (!o.ciphers.empty() && wolfSSL_CTX_set_cipher_list(c, o.ciphers.c_str()) != WOLFSSL_SUCCESS) {
    error = "bad cipher list: " + o.ciphers;
    return nullptr;
  }
  set_groups(c);
  if (o.tickets) wolfSSL_CTX_UseSessionTicket(c);
  if (o.verify) {
    if (o.ca_file.empty() || wolfSSL_CTX_load_verify_locations(c, o.ca_file.c_str(), nullptr) != WOLFSSL_SUCCESS) {
      error = (o.ca_file.empty() ? std::string("(no CA file)") : o.ca_file) + ": cannot load CA certificates";
      return nullptr;
    }
    wolfSSL_CTX_set_verify(c, WOLFSSL_VERIFY_PEER, nullptr);
  } else {
    wolfSSL_CTX_set_verify(c, WOLFSSL_VERIFY_NONE, nullptr);
  }
  wolfSSL_CTX_set_ex_data(c, g_ex_index, impl.get());
  // ALPN is per connection on the client (wolfSSL_UseALPN); sessions read it back through detail.
  for (const auto& p : o.alpn) {
    if (p.empty() || p.size() > 255 || p.find(',') != std::string::npos) {
      error = "bad ALPN protocol name '" + p + "'";
      return nullptr;
    }
    impl->alpn_csv += (impl->alpn_csv.empty() ? "" : ",") + p;
  }
  return std::shared_ptr<ClientContext>(new ClientContext(std::move(impl)));
}

void* ClientContext::native() const noexcept { return impl_->ctx.get(); }

namespace detail {

bool client_tickets_enabled(void* wolf_ctx) noexcept {
  auto* impl = static_cast<ClientContext::Impl*>(wolfSSL_CTX_get_ex_data(static_cast<WOLFSSL_CTX*>(wolf_ctx), g_ex_index));
  return impl == nullptr || impl->tickets;
}

const char* client_alpn(void* wolf_ctx) noexcept {
  auto* impl = static_cast<ClientContext::Impl*>(wolfSSL_CTX_get_ex_data(static_cast<WOLFSSL_CTX*>(wolf_ctx), g_ex_index));
  return impl == nullptr ? "" : impl->alpn_csv.c_str();
}

}  // namespace detail

}  // namespace ringgate::tls
