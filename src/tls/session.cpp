// Session: one wolfSSL connection over memory. wolfSSL's I/O callbacks read from the span lent
// by feed() and write through Output; WANT_READ is the only "blocking" state, and it happens
// exactly when the fed span is used up. The record-framing tracker in feed() lets the worker know
// when the bytes taken off the socket end on a record boundary (the kTLS switch point).
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>

#include <linux/tls.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "ringgate/tls/session.hpp"
#include "tls/wolf_internal.hpp"

namespace ringgate::tls {

namespace {

// Largest TLSCiphertext body (RFC 5246 §6.2.3: 2^14 + 2048); anything larger is not TLS.
constexpr std::uint32_t kMaxRecordBody = 16384 + 2048;

WOLFSSL* as_ssl(void* p) noexcept { return static_cast<WOLFSSL*>(p); }

Failure map_error(int err) noexcept {
  switch (err) {
    case VERSION_ERROR:
      return Failure::version;
    case MATCH_SUITE_ERROR:
    case UNSUPPORTED_SUITE:
      return Failure::no_cipher;
    case FATAL_ERROR:
      return Failure::alert;
    case VERIFY_CERT_ERROR:
    case DOMAIN_NAME_MISMATCH:
    case ASN_NO_SIGNER_E:
    case ASN_AFTER_DATE_E:
    case ASN_BEFORE_DATE_E:
    case ASN_SIG_CONFIRM_E:
    case ASN_SELF_SIGNED_E:
    case ASN_NAME_INVALID_E:
    case ASN_CRIT_EXT_E:
    case ASN_PATHLEN_INV_E:
    case ASN_PATHLEN_SIZE_E:
      return Failure::certificate;
    case MEMORY_E:
    case MEMORY_ERROR:
      return Failure::resources;
    case VERIFY_MAC_ERROR:
    case PARSE_ERROR:
    case INCOMPLETE_DATA:
    case UNKNOWN_RECORD_TYPE:
    case DECRYPT_ERROR:
    case BUFFER_ERROR:
    case LENGTH_ERROR:
    case OUT_OF_ORDER_E:
    case SANITY_MSG_E:
    case BAD_KEY_SHARE_DATA:
    case EXT_MISSING:
    case ALERT_COUNT_E:
    case BUFFER_E:
    case BAD_FUNC_ARG:
      return Failure::protocol;
    default:
      return Failure::other;
  }
}

void put_be64(std::uint8_t* out, std::uint64_t v) noexcept {
  for (int i = 7; i >= 0; --i) {
    out[i] = std::uint8_t(v);
    v >>= 8;
  }
}

}  // namespace

std::string_view failure_name(Failure f) noexcept {
  switch (f) {
    case Failure::none: return "none";
    case Failure::protocol: return "protocol";
    case Failure::version: return "version";
    case Failure::no_cipher: return "no_cipher";
    case Failure::alert: return "alert";
    case Failure::certificate: return "certificate";
    case Failure::not_tls: return "not_tls";
    case Failure::resources: return "resources";
    case Failure::other: return "other";
  }
  return "other";
}

// wolfSSL's custom I/O callbacks (befriended by Session).
struct SessionIo {
  static int recv(WOLFSSL*, char* buf, int sz, void* ctx) noexcept {
    auto* s = static_cast<Session*>(ctx);
    if (s->in_len_ == 0) return WOLFSSL_CBIO_ERR_WANT_READ;
    std::size_t n = std::min<std::size_t>(std::size_t(sz), s->in_len_);
    std::memcpy(buf, s->in_, n);
    s->in_ += n;
    s->in_len_ -= n;
    return int(n);
  }
  static int send(WOLFSSL*, char* buf, int sz, void* ctx) noexcept {
    auto* s = static_cast<Session*>(ctx);
    if (!s->out_.write(s->out_.ctx, reinterpret_cast<const std::uint8_t*>(buf), std::size_t(sz))) {
      s->failure_ = Failure::resources;  // the queue could not take it; the session is dead
      return WOLFSSL_CBIO_ERR_GENERAL;
    }
    return sz;
  }
};

Session::~Session() {
  if (ssl_ != nullptr) wolfSSL_free(as_ssl(ssl_));
}

namespace {

WOLFSSL* new_ssl(void* ctx, Session* self) noexcept {
  WOLFSSL* ssl = wolfSSL_new(static_cast<WOLFSSL_CTX*>(ctx));
  if (ssl == nullptr) return nullptr;
  wolfSSL_SSLSetIORecv(ssl, SessionIo::recv);
  wolfSSL_SSLSetIOSend(ssl, SessionIo::send);
  wolfSSL_SetIOReadCtx(ssl, self);
  wolfSSL_SetIOWriteCtx(ssl, self);
  return ssl;
}

}  // namespace

bool Session::init_server(std::shared_ptr<ServerContext> ctx, Output out) noexcept {
  if (ssl_ != nullptr || !ctx) return false;
  out_ = out;
  ssl_ = new_ssl(ctx->native(), this);
  if (ssl_ == nullptr) {
    failure_ = Failure::resources;
    return false;
  }
  ctx_ = std::move(ctx);
  return true;
}

bool Session::init_client(std::shared_ptr<ClientContext> ctx, Output out, const char* sni,
                          std::span<const std::uint8_t> resume) noexcept {
  if (ssl_ != nullptr || !ctx) return false;
  out_ = out;
  WOLFSSL* ssl = new_ssl(ctx->native(), this);
  if (ssl == nullptr) {
    failure_ = Failure::resources;
    return false;
  }
  ssl_ = ssl;
  ctx_ = ctx;
  bool ok = true;
  if (sni != nullptr && *sni != '\0') {
    ok = wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, sni, static_cast<unsigned short>(std::strlen(sni))) == WOLFSSL_SUCCESS;
    if (ok && (wolfSSL_CTX_get_verify_mode(static_cast<WOLFSSL_CTX*>(ctx->native())) & WOLFSSL_VERIFY_PEER))
      ok = wolfSSL_check_domain_name(ssl, sni) == WOLFSSL_SUCCESS;
  }
  const char* alpn = detail::client_alpn(ctx->native());
  if (ok && *alpn != '\0') {
    char list[512];
    std::size_t n = std::strlen(alpn);
    ok = n < sizeof list;
    if (ok) {
      std::memcpy(list, alpn, n + 1);
      ok = wolfSSL_UseALPN(ssl, list, unsigned(n), WOLFSSL_ALPN_CONTINUE_ON_MISMATCH) == WOLFSSL_SUCCESS;
    }
  }
  if (ok && !resume.empty()) {
    // A stale or unparsable saved session only costs a full handshake.
    const unsigned char* p = resume.data();
    if (WOLFSSL_SESSION* sess = wolfSSL_d2i_SSL_SESSION(nullptr, &p, long(resume.size()))) {
      wolfSSL_set_session(ssl, sess);
      wolfSSL_SESSION_free(sess);
    }
  }
  if (!ok) failure_ = Failure::resources;
  return ok;
}

void Session::feed(std::span<const std::uint8_t> ciphertext) noexcept {
  in_ = ciphertext.data();
  in_len_ = ciphertext.size();
  // Follow the record framing: 5-byte header (type, version, length), then the body.
  const std::uint8_t* p = ciphertext.data();
  std::size_t left = ciphertext.size();
  while (left > 0 && failure_ == Failure::none) {
    if (body_left_ > 0) {
      std::size_t n = std::min<std::size_t>(left, body_left_);
      body_left_ -= std::uint32_t(n);
      p += n;
      left -= n;
      continue;
    }
    if (hdr_seen_ == 0) {
      // hdr_[0] is still 0 only before the first header: a stream opens with a handshake record
      // (or, towards a client, an alert). Anything else (an HTTP request, an SSH banner) is not
      // TLS at all.
      if (hdr_[0] == 0 && *p != kRecordHandshake && *p != kRecordAlert) {
        failure_ = Failure::not_tls;
        break;
      }
    }
    hdr_[hdr_seen_++] = *p++;
    --left;
    if (hdr_seen_ == 5) {
      hdr_seen_ = 0;
      std::uint32_t len = (std::uint32_t(hdr_[3]) << 8) | hdr_[4];
      if (hdr_[0] < 20 || hdr_[0] > 24 || hdr_[1] != 3 || len > kMaxRecordBody) {
        failure_ = Failure::protocol;
        break;
      }
      body_left_ = len;
    }
  }
}

bool Session::at_record_boundary() const noexcept { return in_len_ == 0 && hdr_seen_ == 0 && body_left_ == 0; }

Status Session::handshake() noexcept {
  if (failure_ != Failure::none || ssl_ == nullptr) return Status::failed;
  WOLFSSL* ssl = as_ssl(ssl_);
  int ret = wolfSSL_negotiate(ssl);
  if (ret == WOLFSSL_SUCCESS) return Status::done;
  int err = wolfSSL_get_error(ssl, ret);
  if (err == WOLFSSL_ERROR_WANT_READ) return Status::again;
  if (failure_ == Failure::none) failure_ = map_error(err);
  // A TLS 1.3 peer that refuses our certificate sends its alert in the clear after we switched to
  // encrypted records; wolfSSL reports a decryption/parse error. The last record fed was a 2-byte
  // alert: count it as what it is.
  if (failure_ == Failure::protocol && hdr_[0] == 21 && hdr_[3] == 0 && hdr_[4] == 2) failure_ = Failure::alert;
  return Status::failed;
}

bool Session::handshake_done() const noexcept { return ssl_ != nullptr && wolfSSL_is_init_finished(as_ssl(ssl_)); }

Status Session::read(std::span<std::uint8_t> out, std::size_t& produced) noexcept {
  produced = 0;
  if (failure_ != Failure::none || ssl_ == nullptr) return Status::failed;
  WOLFSSL* ssl = as_ssl(ssl_);
  int n = wolfSSL_read(ssl, out.data(), int(std::min<std::size_t>(out.size(), INT_MAX)));
  if (n > 0) {
    produced = std::size_t(n);
    return Status::done;
  }
  int err = wolfSSL_get_error(ssl, n);
  if (err == WOLFSSL_ERROR_WANT_READ) return Status::again;
  if (err == WOLFSSL_ERROR_ZERO_RETURN || (wolfSSL_get_shutdown(ssl) & WOLFSSL_RECEIVED_SHUTDOWN)) return Status::closed;
  if (failure_ == Failure::none) failure_ = map_error(err);
  return Status::failed;
}

bool Session::write(std::span<const std::uint8_t> plain) noexcept {
  if (failure_ != Failure::none || ssl_ == nullptr) return false;
  WOLFSSL* ssl = as_ssl(ssl_);
  const std::uint8_t* p = plain.data();
  std::size_t left = plain.size();
  while (left > 0) {
    int chunk = int(std::min<std::size_t>(left, 1u << 30));
    int n = wolfSSL_write(ssl, p, chunk);
    if (n <= 0) {
      if (failure_ == Failure::none) failure_ = map_error(wolfSSL_get_error(ssl, n));
      return false;
    }
    p += n;
    left -= std::size_t(n);
  }
  return true;
}

bool Session::close_notify() noexcept {
  if (close_sent_) return true;
  close_sent_ = true;
  if (failure_ != Failure::none || ssl_ == nullptr) return false;
  // One call queues our alert; "not done" (the peer's close_notify has not come) is expected.
  wolfSSL_shutdown(as_ssl(ssl_));
  return failure_ == Failure::none;
}

bool Session::resumed() const noexcept { return ssl_ != nullptr && wolfSSL_session_reused(as_ssl(ssl_)) == 1; }

std::uint16_t Session::version() const noexcept {
  if (!handshake_done()) return 0;
  int v = wolfSSL_version(as_ssl(ssl_));
  return v == TLS1_3_VERSION ? kTls13 : v == TLS1_2_VERSION ? kTls12 : std::uint16_t(v);
}

std::string_view Session::cipher_name() const noexcept {
  if (ssl_ == nullptr) return {};
  const char* n = wolfSSL_get_cipher_name(as_ssl(ssl_));
  return n ? std::string_view(n) : std::string_view();
}

std::string_view Session::alpn() const noexcept {
  if (ssl_ == nullptr) return {};
  char* name = nullptr;
  unsigned short size = 0;
  if (wolfSSL_ALPN_GetProtocol(as_ssl(ssl_), &name, &size) != WOLFSSL_SUCCESS || name == nullptr) return {};
  return {name, size};
}

std::string_view Session::sni() const noexcept {
  if (ssl_ == nullptr) return {};
  void* data = nullptr;
  unsigned short n = wolfSSL_SNI_GetRequest(as_ssl(ssl_), WOLFSSL_SNI_HOST_NAME, &data);
  if (n == 0 || data == nullptr) return {};
  return {static_cast<const char*>(data), n};
}

namespace {
// One direction's traffic secret as wolfSSL holds it after the handshake.
struct Direction {
  const unsigned char* key;
  const unsigned char* iv;
  std::uint64_t seq;
};

// The kernel takes salt = the implicit 4-byte nonce part and iv = the 8 bytes after it
// (TLS 1.3: the rest of the 12-byte IV; TLS 1.2: the explicit nonce, any unique start value,
// so the record sequence number). ChaCha20 takes the whole 12-byte IV and no salt.
template <class Info>
void fill_gcm(Info& info, const KtlsParams& out, bool tls13, const Direction& d) noexcept {
  info.info.version = out.version;
  info.info.cipher_type = out.cipher;
  std::memcpy(info.key, d.key, sizeof info.key);
  std::memcpy(info.salt, d.iv, sizeof info.salt);
  if (tls13)
    std::memcpy(info.iv, d.iv + sizeof info.salt, sizeof info.iv);
  else
    put_be64(info.iv, d.seq);
  put_be64(info.rec_seq, d.seq);
}

void fill_chacha(tls12_crypto_info_chacha20_poly1305& info, const KtlsParams& out, bool, const Direction& d) noexcept {
  info.info.version = out.version;
  info.info.cipher_type = out.cipher;
  std::memcpy(info.key, d.key, sizeof info.key);
  std::memcpy(info.iv, d.iv, sizeof info.iv);
  put_be64(info.rec_seq, d.seq);
}

// Sets out.cipher, fills one crypto_info per direction with `fill` and copies both into `out`.
template <class Info, class Fill>
void emit(KtlsParams& out, std::uint16_t cipher, bool tls13, const Direction& tx, const Direction& rx,
          Fill fill) noexcept {
  out.cipher = cipher;
  Info t{}, r{};
  fill(t, out, tls13, tx);
  fill(r, out, tls13, rx);
  static_assert(sizeof t <= sizeof out.tx);
  std::memcpy(out.tx, &t, sizeof t);
  std::memcpy(out.rx, &r, sizeof r);
  out.len = sizeof t;
}
}  // namespace

bool Session::ktls_params(KtlsParams& out, KtlsFallback& why) const noexcept {
  out = KtlsParams{};
  why = KtlsFallback::none;
  if (ssl_ == nullptr || !handshake_done()) {
    why = KtlsFallback::cipher;
    return false;
  }
  WOLFSSL* ssl = as_ssl(ssl_);
  const std::uint16_t ver = version();
  const int bulk = wolfSSL_GetBulkCipher(ssl);
  const int key_size = wolfSSL_GetKeySize(ssl);
  const int iv_size = wolfSSL_GetIVSize(ssl);
  const bool server = wolfSSL_GetSide(ssl) == WOLFSSL_SERVER_END;
  Direction tx{server ? wolfSSL_GetServerWriteKey(ssl) : wolfSSL_GetClientWriteKey(ssl),
               server ? wolfSSL_GetServerWriteIV(ssl) : wolfSSL_GetClientWriteIV(ssl), 0};
  Direction rx{server ? wolfSSL_GetClientWriteKey(ssl) : wolfSSL_GetServerWriteKey(ssl),
               server ? wolfSSL_GetClientWriteIV(ssl) : wolfSSL_GetServerWriteIV(ssl), 0};
  // Note: these two return !seq (1 when the number is 0), so only negative values are errors.
  word64 tx_seq = 0, rx_seq = 0;
  if ((ver != kTls12 && ver != kTls13) || !tx.key || !tx.iv || !rx.key || !rx.iv ||
      wolfSSL_GetSequenceNumber(ssl, &tx_seq) < 0 || wolfSSL_GetPeerSequenceNumber(ssl, &rx_seq) < 0) {
    why = KtlsFallback::cipher;
    return false;
  }
  tx.seq = tx_seq;
  rx.seq = rx_seq;
  out.version = ver == kTls13 ? TLS_1_3_VERSION : TLS_1_2_VERSION;
  const bool tls13 = ver == kTls13;
  const bool gcm_iv = iv_size == 4 || iv_size == 12;
  if (bulk == wolfssl_aes_gcm && key_size == 16 && gcm_iv) {
    emit<tls12_crypto_info_aes_gcm_128>(out, TLS_CIPHER_AES_GCM_128, tls13, tx, rx,
                                        fill_gcm<tls12_crypto_info_aes_gcm_128>);
    return true;
  }
  if (bulk == wolfssl_aes_gcm && key_size == 32 && gcm_iv) {
    emit<tls12_crypto_info_aes_gcm_256>(out, TLS_CIPHER_AES_GCM_256, tls13, tx, rx,
                                        fill_gcm<tls12_crypto_info_aes_gcm_256>);
    return true;
  }
  if (bulk == wolfssl_chacha && key_size == 32 && iv_size == 12) {
    emit<tls12_crypto_info_chacha20_poly1305>(out, TLS_CIPHER_CHACHA20_POLY1305, tls13, tx, rx, fill_chacha);
    return true;
  }
  out = KtlsParams{};
  why = KtlsFallback::cipher;
  return false;
}

std::vector<std::uint8_t> Session::save() const {
  std::vector<std::uint8_t> bytes;
  if (ssl_ == nullptr || !handshake_done()) return bytes;
  WOLFSSL* ssl = as_ssl(ssl_);
  // TLS 1.3 resumes only through a ticket (PSK): without tickets there is nothing to save.
  if (version() == kTls13 && !detail::client_tickets_enabled(wolfSSL_get_SSL_CTX(ssl))) return bytes;
  WOLFSSL_SESSION* sess = wolfSSL_get1_session(ssl);
  if (sess == nullptr) return bytes;
  int len = wolfSSL_i2d_SSL_SESSION(sess, nullptr);
  if (len > 0) {
    bytes.resize(std::size_t(len));
    unsigned char* p = bytes.data();
    if (wolfSSL_i2d_SSL_SESSION(sess, &p) != len) bytes.clear();
  }
  wolfSSL_SESSION_free(sess);
  return bytes;
}

}  // namespace ringgate::tls
