// RESP2 over hiredis 0.14.1's reader and formatter.
//
// hiredis trusts its peer more than we may: an array header "*-5" or "*2147483648" reaches its
// createArray with a negative count (it then writes children through a NULL element table), and
// "*1000000000" callocs gigabytes before a single element arrived. So each reader gets hiredis's
// default object functions with createArray wrapped: counts outside [0, kMaxArray] return NULL,
// which hiredis reports as an error and we as -1. Deeper than 7 levels is hiredis's own error.
#include "ringgate/pubsub/resp.hpp"

#include <hiredis/hiredis.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

namespace ringgate::pubsub {

namespace {

// hiredis's default object functions are static in hiredis.c, reachable only through a reader it
// created: copied from the first one (under the static initialisation below), then never written.
redisReplyObjectFunctions g_defaults{};

void* create_array(const redisReadTask* task, int elements) {
  if (elements < 0 || elements > RespReader::kMaxArray) return nullptr;  // hiredis: "Out of memory"
  return g_defaults.createArray(task, elements);
}

redisReplyObjectFunctions* guarded_functions(const redisReader* r) noexcept {
  static redisReplyObjectFunctions fns = [r] {
    g_defaults = *r->fn;
    redisReplyObjectFunctions f = g_defaults;
    f.createArray = create_array;
    return f;
  }();
  return &fns;
}

redisReader* create_reader() noexcept {
  redisReader* r = redisReaderCreate();
  if (r == nullptr) return nullptr;
  r->fn = guarded_functions(r);
  // hiredis frees an empty buffer above maxbuf (16 KiB by default): keep up to 1 MiB between
  // replies so steady traffic does not reallocate it.
  r->maxbuf = 1u << 20;
  return r;
}

bool append(std::string& out, const char* data, std::size_t len) noexcept {
  try {
    out.append(data, len);
    return true;
  } catch (...) {  // std::bad_alloc / length_error: reported as a value
    return false;
  }
}

std::string_view str(const redisReply* r) noexcept { return {r->str, r->len}; }

bool is_string(const redisReply* r) noexcept { return r != nullptr && r->type == REDIS_REPLY_STRING; }

// ["message"|"smessage", channel, payload], ["(s)(un)subscribe", channel|nil, n], ["pong", x].
void classify_array(const redisReply* r, RespEvent& ev) noexcept {
  if (r->elements < 2 || r->elements > 3 || r->element == nullptr || !is_string(r->element[0])) return;
  const std::string_view kind = str(r->element[0]);
  const redisReply* a = r->element[1];
  if (r->elements == 2) {
    if (kind == "pong" && is_string(a)) {
      ev.kind = RespKind::pong;
      ev.text = str(a);
    }
    return;
  }
  const redisReply* b = r->element[2];
  if (kind == "message" || kind == "smessage") {
    if (!is_string(a) || !is_string(b)) return;
    ev.kind = RespKind::message;
    ev.sharded = kind == "smessage";
    ev.channel = str(a);
    ev.text = str(b);
    return;
  }
  const bool ssub = kind == "ssubscribe", sunsub = kind == "sunsubscribe";
  const bool sub = ssub || kind == "subscribe";
  const bool unsub = sunsub || kind == "unsubscribe";
  if (!(sub || unsub) || a == nullptr || b == nullptr || b->type != REDIS_REPLY_INTEGER) return;
  if (a->type != REDIS_REPLY_STRING && a->type != REDIS_REPLY_NIL) return;
  ev.kind = sub ? RespKind::subscribed : RespKind::unsubscribed;
  ev.sharded = ssub || sunsub;
  if (a->type == REDIS_REPLY_STRING) ev.channel = str(a);
  ev.integer = b->integer;
}

void classify(const redisReply* r, RespEvent& ev) noexcept {
  switch (r->type) {
    case REDIS_REPLY_ARRAY:
      classify_array(r, ev);
      return;
    case REDIS_REPLY_INTEGER:
      ev.kind = RespKind::integer;
      ev.integer = r->integer;
      return;
    case REDIS_REPLY_STATUS:
      ev.kind = str(r) == "PONG" ? RespKind::pong : RespKind::status;
      ev.text = str(r);
      return;
    case REDIS_REPLY_ERROR:
      ev.kind = RespKind::error;
      ev.text = str(r);
      return;
    default:
      return;  // bulk string, nil: other
  }
}

}  // namespace

bool resp_append(std::string& out, std::initializer_list<std::string_view> args) noexcept {
  constexpr std::size_t kInline = 16;
  const char* argv_inline[kInline];
  std::size_t lens_inline[kInline];
  std::unique_ptr<const char*[]> argv_heap;
  std::unique_ptr<std::size_t[]> lens_heap;
  const char** argv = argv_inline;
  std::size_t* lens = lens_inline;
  if (args.size() > kInline) {
    argv_heap.reset(new (std::nothrow) const char*[args.size()]);
    lens_heap.reset(new (std::nothrow) std::size_t[args.size()]);
    if (!argv_heap || !lens_heap) return false;
    argv = argv_heap.get();
    lens = lens_heap.get();
  }
  std::size_t i = 0;
  for (std::string_view a : args) {
    argv[i] = a.data() != nullptr ? a.data() : "";
    lens[i] = a.size();
    ++i;
  }
  char* cmd = nullptr;
  const int n = redisFormatCommandArgv(&cmd, static_cast<int>(args.size()), argv, lens);
  if (n < 0 || cmd == nullptr) return false;
  const bool ok = append(out, cmd, static_cast<std::size_t>(n));
  std::free(cmd);
  return ok;
}

bool resp_append_publish(std::string& out, bool sharded, std::string_view channel, std::string_view head,
                         std::string_view data) noexcept {
  // *3\r\n$7\r\nPUBLISH\r\n$<n>\r\n<channel>\r\n$<n>\r\n<head><data>\r\n
  char pre[64];
  const char* verb = sharded ? "*3\r\n$8\r\nSPUBLISH\r\n$" : "*3\r\n$7\r\nPUBLISH\r\n$";
  int n = std::snprintf(pre, sizeof pre, "%s%zu\r\n", verb, channel.size());
  if (n < 0 || static_cast<std::size_t>(n) >= sizeof pre) return false;
  char mid[32];
  int m = std::snprintf(mid, sizeof mid, "\r\n$%zu\r\n", head.size() + data.size());
  if (m < 0 || static_cast<std::size_t>(m) >= sizeof mid) return false;
  const std::size_t before = out.size();
  const bool ok = append(out, pre, static_cast<std::size_t>(n)) && append(out, channel.data(), channel.size()) &&
                  append(out, mid, static_cast<std::size_t>(m)) && append(out, head.data(), head.size()) &&
                  append(out, data.data(), data.size()) && append(out, "\r\n", 2);
  if (!ok) out.resize(before);  // never leave half a command behind
  return ok;
}

RespReader::RespReader() noexcept : reader_(create_reader()) {}

RespReader::~RespReader() {
  release();
  if (reader_ != nullptr) redisReaderFree(static_cast<redisReader*>(reader_));
}

bool RespReader::ok() const noexcept { return reader_ != nullptr; }

void RespReader::release() noexcept {
  if (reply_ != nullptr) freeReplyObject(reply_);
  reply_ = nullptr;
}

bool RespReader::feed(const char* data, std::size_t len) noexcept {
  auto* r = static_cast<redisReader*>(reader_);
  if (r == nullptr || failed_) return false;
  if (len == 0) return true;
  if (r->len - r->pos + len > kMaxBuffered || redisReaderFeed(r, data, len) != REDIS_OK) {
    failed_ = true;
    return false;
  }
  return true;
}

int RespReader::next(RespEvent& ev) noexcept {
  release();
  ev = RespEvent{};
  auto* r = static_cast<redisReader*>(reader_);
  if (r == nullptr || failed_) return -1;
  void* reply = nullptr;
  if (redisReaderGetReply(r, &reply) != REDIS_OK) {
    failed_ = true;
    return -1;
  }
  if (reply == nullptr) return 0;
  reply_ = reply;
  classify(static_cast<const redisReply*>(reply), ev);
  return 1;
}

void RespReader::reset() noexcept {
  release();
  failed_ = false;
  if (reader_ != nullptr) redisReaderFree(static_cast<redisReader*>(reader_));
  reader_ = create_reader();
}

}  // namespace ringgate::pubsub
