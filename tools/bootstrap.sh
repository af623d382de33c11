#!/usr/bin/env bash
# Installs what building Ringgate needs on Debian 12, and only what is missing (idempotent,
# non-interactive; run as root or with sudo). `apt-get update` runs only when something is missing.
#   tools/bootstrap.sh          build dependencies (compiler, CMake, Ninja, liburing, wolfSSL, simdjson, hiredis,
#                               mimalloc, GoogleTest, Google Benchmark)
#   tools/bootstrap.sh --test   also what the tests need: clang + libFuzzer runtime, openssl (test
#                               certificates, s_client), QEMU + busybox for the kTLS VM test, and the
#                               integration clients (tools/install-test-deps.sh)
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
with_tests=0
[[ "${1:-}" == "--test" ]] && with_tests=1

packages=(g++ cmake ninja-build pkg-config liburing-dev libwolfssl-dev libsimdjson-dev libhiredis-dev libmimalloc-dev
          libgtest-dev libgmock-dev libbenchmark-dev)
if ((with_tests)); then
  packages+=(clang libclang-rt-14-dev gnuplot-nox openssl qemu-system-x86 busybox-static kmod cpio xz-utils)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  echo "bootstrap: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -q </dev/null
  "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
else
  echo "bootstrap: build dependencies present"
fi
if ((with_tests)); then
  "${repo_root}/tools/install-test-deps.sh"
fi
