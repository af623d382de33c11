// Ring set-up and submission. Each setup flag is chosen on purpose; see the comments in init().
#include "ringgate/net/ring.hpp"

#include <liburing.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstring>

namespace ringgate::net {
namespace {
// Not in liburing 2.3's headers; supported by this kernel (platform.md, probe: last_op = 62).
constexpr std::uint8_t kOpFixedFdInstall = 54;

Result<void> from_ret(int ret) noexcept {
  if (ret >= 0) return {};
  return errc_from_errno(-ret);
}
}  // namespace

bool Completion::more() const noexcept { return flags & IORING_CQE_F_MORE; }
bool Completion::has_buffer() const noexcept { return flags & IORING_CQE_F_BUFFER; }
std::uint16_t Completion::buffer_id() const noexcept {
  return std::uint16_t(flags >> IORING_CQE_BUFFER_SHIFT);
}

std::string RingFeatures::describe() const {
  std::string s;
  s += single_issuer ? "single-issuer" : "multi-issuer";
  s += defer_taskrun ? ", defer-taskrun" : ", coop-taskrun";
  if (direct_descriptors) {
    s += ", direct descriptors (" + std::to_string(fixed_files) + " slots)";
  } else {
    s += ", ordinary descriptors";
  }
  return s;
}

Ring::Ring() noexcept : ring_(new (std::nothrow) io_uring{}) {}

Ring::~Ring() {
  if (initialised_) io_uring_queue_exit(ring_);
  delete ring_;
}

int Ring::ring_fd() const noexcept { return ring_->ring_fd; }

Result<void> Ring::init(const RingConfig& cfg, std::string& why) noexcept {
  if (ring_ == nullptr) return Errc::no_memory;
  io_uring_params p{};
  // CQSIZE: a CQ several times the SQ, because one multishot SQE (accept, recv) posts many CQEs.
  // SUBMIT_ALL: keep submitting the rest of a batch when one SQE fails; its error arrives as a CQE.
  // SINGLE_ISSUER: only this worker thread submits, which lets the kernel skip submission locking.
  // DEFER_TASKRUN: completion work runs only when we enter the kernel to wait, in one batch per loop
  //   turn, instead of interrupting the worker at arbitrary points (needs SINGLE_ISSUER).
  p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
            IORING_SETUP_DEFER_TASKRUN;
  p.cq_entries = cfg.cq_entries;
  int ret = io_uring_queue_init_params(cfg.sq_entries, ring_, &p);
  if (ret == -EINVAL) {
    // Kernels before 6.1: COOP_TASKRUN + TASKRUN_FLAG is the next best way to avoid IPIs.
    p = io_uring_params{};
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
              IORING_SETUP_TASKRUN_FLAG;
    p.cq_entries = cfg.cq_entries;
    ret = io_uring_queue_init_params(cfg.sq_entries, ring_, &p);
  }
  if (ret < 0) {
    why = std::string("io_uring_queue_init failed: ") + std::strerror(-ret) +
          (ret == -EPERM ? " (is kernel.io_uring_disabled set?)" : "") +
          (ret == -ENOMEM ? " (raise RLIMIT_MEMLOCK or use a kernel >= 5.12)" : "");
    return errc_from_errno(-ret);
  }
  initialised_ = true;
  features_.single_issuer = p.flags & IORING_SETUP_SINGLE_ISSUER;
  features_.defer_taskrun = p.flags & IORING_SETUP_DEFER_TASKRUN;
  // A registered ring fd saves an fdget/fdput on every io_uring_enter.
  (void)io_uring_register_ring_fd(ring_);

  io_uring_probe* probe = io_uring_get_probe_ring(ring_);
  if (probe == nullptr) {
    why = "io_uring probe failed: kernel too old (Ringgate needs Linux >= 6.0)";
    return Errc::not_supported;
  }
  const std::uint8_t needed[] = {IORING_OP_ACCEPT, IORING_OP_RECV, IORING_OP_SEND, IORING_OP_SENDMSG,
                                 IORING_OP_ASYNC_CANCEL, IORING_OP_CLOSE, IORING_OP_SHUTDOWN,
                                 IORING_OP_MSG_RING};
  for (std::uint8_t op : needed) {
    if (!io_uring_opcode_supported(probe, op)) {
      io_uring_free_probe(probe);
      why = "io_uring opcode " + std::to_string(op) +
            " not supported: Ringgate needs Linux >= 6.0 (multishot accept and recv, buffer rings)";
      return Errc::not_supported;
    }
  }
  features_.fd_install = probe->last_op >= kOpFixedFdInstall &&
                         (probe->ops[kOpFixedFdInstall].flags & IO_URING_OP_SUPPORTED);
  io_uring_free_probe(probe);

  if (cfg.direct_descriptors) {
    unsigned n = cfg.fixed_files;
    if (n == 0) {
      rlimit rl{};
      getrlimit(RLIMIT_NOFILE, &rl);
      // The kernel caps each ring's table at RLIMIT_NOFILE (EMFILE above it).
      n = unsigned(rl.rlim_cur > 1u << 20 ? 1u << 20 : rl.rlim_cur);
    }
    ret = io_uring_register_files_sparse(ring_, n);
    if (ret == 0) {
      features_.direct_descriptors = true;
      features_.fixed_files = n;
    } else {
      why = std::string("sparse fixed-file table of ") + std::to_string(n) +
            " slots refused (" + std::strerror(-ret) + "); using ordinary descriptors";
    }
  }
  return {};
}

io_uring_sqe* Ring::get_sqe() noexcept {
  io_uring_sqe* sqe = io_uring_get_sqe(ring_);
  if (sqe == nullptr) {
    io_uring_submit(ring_);
    sqe = io_uring_get_sqe(ring_);
  }
  return sqe;
}

#define RG_SQE_OR_AGAIN(sqe)            \
  io_uring_sqe* sqe = get_sqe();        \
  if (sqe == nullptr) return Errc::again

Result<void> Ring::accept_multishot(int listen_fd, std::uint64_t ud) noexcept {
  RG_SQE_OR_AGAIN(sqe);
  if (direct()) {
    io_uring_prep_multishot_accept_direct(sqe, listen_fd, nullptr, nullptr, 0);
  } else {
    io_uring_prep_multishot_accept(sqe, listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  }
  io_uring_sqe_set_data64(sqe, ud);
  return {};
}

Result<void> Ring::recv_multishot(int fd, std::uint16_t buf_group, std::uint64_t ud) noexcept {
  RG_SQE_OR_AGAIN(sqe);
  io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT | (direct() ? IOSQE_FIXED_FILE : 0);
  sqe->buf_group = buf_group;
  io_uring_sqe_set_data64(sqe, ud);
  return {};
}

Result<void> Ring::send(int fd, const void* buf, std::size_t len, std::uint64_t ud) noexcept {
  RG_SQE_OR_AGAIN(sqe);
  io_uring_prep_send(sqe, fd, buf, len, MSG_NOSIGNAL);
  if (direct()) sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, ud);
  return {};
}

Result<void> Ring::sendmsg(int fd, const msghdr* msg, std::uint64_t ud) noexcept {
  RG_SQE_OR_AGAIN(sqe);
  io_uring_prep_sendmsg(sqe, fd, msg, MSG_NOSIGNAL);
  if (direct()) sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, ud);
  return {};
}

Result<void> Ring::recvmsg(int fd, msghdr* msg, std::uint64_t ud) noexcept {
  RG_SQE_OR_AGAIN(sqe);
  io_uring_prep_recvmsg(sqe, fd, msg, 0);
  if (direct()) sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, ud);
  return {};
}

Result<void> Ring::shutdown_write(int fd, std::uint64_t ud) noexcept {
  RG_SQE_OR_AGAIN(sqe);
  io_uring_prep_shutdown(sqe, fd, SHUT_WR);
  if (direct()) sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, ud);
  return {};
}

Result<void> Ring::cancel(std::uint64_t target_ud, std::uint64_t ud) noexcept {
  RG_SQE_OR_AGAIN(sqe);
  io_uring_prep_cancel64(sqe, target_ud, 0);
  io_uring_sqe_set_data64(sqe, ud);
  return {};
}

Result<void> Ring::close(int fd, std::uint64_t ud) noexcept {
  RG_SQE_OR_AGAIN(sqe);
  if (direct()) {
    io_uring_prep_close_direct(sqe, unsigned(fd));
  } else {
    io_uring_prep_close(sqe, fd);
  }
  io_uring_sqe_set_data64(sqe, ud);
  return {};
}

Result<void> Ring::fd_install(int fixed_index, std::uint64_t ud) noexcept {
  if (!features_.fd_install) return Errc::not_supported;
  RG_SQE_OR_AGAIN(sqe);
  io_uring_prep_rw(kOpFixedFdInstall, sqe, fixed_index, nullptr, 0, 0);
  sqe->flags = IOSQE_FIXED_FILE;  // the source is a fixed file (required by the opcode)
  sqe->rw_flags = 0;              // install_fd_flags: 0 = O_CLOEXEC on the new fd
  io_uring_sqe_set_data64(sqe, ud);
  return {};
}

Result<void> Ring::msg_ring(int target_ring_fd, std::int32_t value, std::uint64_t ud) noexcept {
  RG_SQE_OR_AGAIN(sqe);
  io_uring_prep_msg_ring(sqe, target_ring_fd, unsigned(value), ud, 0);
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
  return {};
}

Result<void> Ring::connect(int fd, const sockaddr* addr, socklen_t len, std::uint64_t ud) noexcept {
  RG_SQE_OR_AGAIN(sqe);
  io_uring_prep_connect(sqe, fd, addr, len);
  if (direct()) sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, ud);
  return {};
}

Result<void> Ring::register_file(unsigned slot, int ordinary_fd) noexcept {
  if (!direct() || slot >= features_.fixed_files) return Errc::invalid_argument;
  int ret = io_uring_register_files_update(ring_, slot, &ordinary_fd, 1);
  if (ret == 1) return {};
  return ret < 0 ? errc_from_errno(-ret) : Result<void>{Errc::io};
}

Result<void> Ring::connect_plain(int fd, const sockaddr* addr, socklen_t len, std::uint64_t ud) noexcept {
  RG_SQE_OR_AGAIN(sqe);
  io_uring_prep_connect(sqe, fd, addr, len);
  io_uring_sqe_set_data64(sqe, ud);
  return {};
}

Result<void> Ring::recv_plain(int fd, void* buf, std::size_t len, std::uint64_t ud) noexcept {
  RG_SQE_OR_AGAIN(sqe);
  io_uring_prep_recv(sqe, fd, buf, len, 0);
  io_uring_sqe_set_data64(sqe, ud);
  return {};
}

Result<void> Ring::send_plain(int fd, const void* buf, std::size_t len, std::uint64_t ud) noexcept {
  RG_SQE_OR_AGAIN(sqe);
  io_uring_prep_send(sqe, fd, buf, len, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, ud);
  return {};
}

#undef RG_SQE_OR_AGAIN

Result<void> Ring::submit_and_wait(std::uint64_t timeout_ns) noexcept {
  __kernel_timespec ts{};
  ts.tv_sec = std::int64_t(timeout_ns / 1'000'000'000u);
  ts.tv_nsec = std::int64_t(timeout_ns % 1'000'000'000u);
  io_uring_cqe* cqe = nullptr;
  int ret = io_uring_submit_and_wait_timeout(ring_, &cqe, 1, &ts, nullptr);
  if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
    return from_ret(ret);
  }
  return {};
}

Result<void> Ring::submit() noexcept {
  int ret = io_uring_submit(ring_);
  return ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY ? from_ret(ret) : Result<void>{};
}

std::size_t Ring::reap(Completion* out, std::size_t max) noexcept {
  unsigned head;
  io_uring_cqe* cqe;
  std::size_t n = 0;
  io_uring_for_each_cqe(ring_, head, cqe) {
    if (n == max) break;
    out[n++] = Completion{cqe->user_data, cqe->res, cqe->flags};
  }
  io_uring_cq_advance(ring_, unsigned(n));
  return n;
}

}  // namespace ringgate::net
