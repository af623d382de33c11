// The forked gateway (see server_child.hpp).
#include "server_child.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "ringgate/core/metrics.hpp"
#include "ringgate/gateway/server.hpp"

namespace ringgate::ktls_test {
namespace {

bool write_all(int fd, const void* data, std::size_t len) {
  const auto* p = static_cast<const char*>(data);
  while (len > 0) {
    const ssize_t n = ::write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= std::size_t(n);
  }
  return true;
}

bool read_all(int fd, void* data, std::size_t len) {
  auto* p = static_cast<char*>(data);
  while (len > 0) {
    const ssize_t n = ::read(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= std::size_t(n);
  }
  return true;
}

// Messages on the response pipe: 4-byte length, then the bytes.
bool send_msg(int fd, const std::string& s) {
  const std::uint32_t n = std::uint32_t(s.size());
  return write_all(fd, &n, sizeof n) && write_all(fd, s.data(), s.size());
}

bool recv_msg(int fd, std::string& s) {
  std::uint32_t n = 0;
  if (!read_all(fd, &n, sizeof n)) return false;
  s.resize(n);
  return read_all(fd, s.data(), n);
}

[[noreturn]] void child_main(const gateway::Config& cfg, int cmd, int resp) {
  gateway::Server server;
  std::string why;
  if (!server.start(cfg, why)) {
    send_msg(resp, "error " + why);
    ::_exit(3);
  }
  std::uint16_t port = 0;
  for (const auto& b : server.listeners()) {
    if (b.kind == gateway::ListenerKind::tls) port = b.address.port();
  }
  send_msg(resp, "ok " + std::to_string(port));
  for (;;) {
    char c = 0;
    const ssize_t n = ::read(cmd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n == 1 && c == 'm') {
      PromWriter w;
      server.render_metrics(w);
      if (!send_msg(resp, w.text())) break;
      continue;
    }
    break;  // 'q' or EOF
  }
  server.request_stop();
  server.wait();
  ::_exit(server.running() ? 4 : 0);
}

}  // namespace

ServerChild::~ServerChild() {
  if (pid_ > 0) stop();
}

bool ServerChild::start(const gateway::Config& cfg, std::string& why) {
  int c[2], r[2];
  if (::pipe2(c, O_CLOEXEC) != 0 || ::pipe2(r, O_CLOEXEC) != 0) {
    why = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  std::fflush(stdout);
  std::fflush(stderr);
  pid_ = ::fork();
  if (pid_ < 0) {
    why = std::string("fork: ") + std::strerror(errno);
    return false;
  }
  if (pid_ == 0) {
    ::close(c[1]);
    ::close(r[0]);
    child_main(cfg, c[0], r[1]);
  }
  ::close(c[0]);
  ::close(r[1]);
  cmd_ = c[1];
  resp_ = r[0];
  std::string hello;
  if (!recv_msg(resp_, hello)) {
    why = "the server child died before reporting";
    stop();
    return false;
  }
  if (hello.rfind("ok ", 0) != 0) {
    why = hello;
    stop();
    return false;
  }
  port_ = std::uint16_t(std::atoi(hello.c_str() + 3));
  if (port_ == 0) {
    why = "the server has no TLS listener port";
    stop();
    return false;
  }
  return true;
}

bool ServerChild::metrics(Metrics& out, std::string& why) {
  std::string text;
  if (!write_all(cmd_, "m", 1) || !recv_msg(resp_, text)) {
    why = "the server child does not answer";
    return false;
  }
  out.clear();
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const std::size_t sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    out[line.substr(0, sp)] = std::strtod(line.c_str() + sp + 1, nullptr);
  }
  return true;
}

bool ServerChild::stop() {
  if (pid_ <= 0) return false;
  if (cmd_ >= 0) {
    (void)write_all(cmd_, "q", 1);
    ::close(cmd_);
    cmd_ = -1;
  }
  int status = 0;
  bool exited = false;
  const long long deadline = now_ms() + 60000;
  while (now_ms() < deadline) {
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exited = true;
      break;
    }
    ::usleep(10000);
  }
  if (!exited) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  }
  if (resp_ >= 0) ::close(resp_);
  resp_ = -1;
  pid_ = -1;
  return exited && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

double metric(const Metrics& m, const std::string& key) {
  const auto it = m.find(key);
  return it == m.end() ? 0 : it->second;
}

namespace {
long long kb_field(const std::string& file, const std::string& name) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + ":", 0) == 0) return std::atoll(line.c_str() + name.size() + 1) * 1024;
  }
  return 0;
}
}  // namespace

long long rss_bytes(pid_t pid) { return kb_field("/proc/" + std::to_string(pid) + "/status", "VmRSS"); }
long long slab_bytes() { return kb_field("/proc/meminfo", "Slab"); }

}  // namespace ringgate::ktls_test
