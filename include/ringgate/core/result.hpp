// Errors as values. The data path never throws: functions that can fail return Result<T>,
// a small tagged union over an Errc code. Kernel errors arrive as -errno at the ring boundary
// and are mapped once, in net, with errc_from_errno().
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>

namespace ringgate {

enum class Errc : std::uint16_t {
  ok = 0,
  again,             // would block / try later (EAGAIN)
  no_buffers,        // provided-buffer ring empty (ENOBUFS)
  canceled,          // operation canceled (ECANCELED)
  closed,            // peer closed or connection reset
  address_in_use,    // EADDRINUSE
  invalid_argument,  // EINVAL or a bad configuration value
  not_supported,     // kernel or build lacks a feature
  no_memory,         // ENOMEM or a pool is exhausted
  too_many_files,    // EMFILE / ENFILE / fixed-file table full
  permission,        // EPERM / EACCES
  io,                // any other errno
};

std::string_view errc_name(Errc e) noexcept;
Errc errc_from_errno(int err) noexcept;  // err is positive errno

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) noexcept(noexcept(T(std::move(value)))) : value_(std::move(value)) {}  // NOLINT
  Result(Errc e) noexcept : err_(e) {}                                                     // NOLINT
  bool ok() const noexcept { return err_ == Errc::ok; }
  explicit operator bool() const noexcept { return ok(); }
  Errc error() const noexcept { return err_; }
  T& value() noexcept { return value_; }
  const T& value() const noexcept { return value_; }
  T* operator->() noexcept { return &value_; }
  T& operator*() noexcept { return value_; }

 private:
  T value_{};
  Errc err_ = Errc::ok;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() noexcept = default;
  Result(Errc e) noexcept : err_(e) {}  // NOLINT
  bool ok() const noexcept { return err_ == Errc::ok; }
  explicit operator bool() const noexcept { return ok(); }
  Errc error() const noexcept { return err_; }

 private:
  Errc err_ = Errc::ok;
};

}  // namespace ringgate
