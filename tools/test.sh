#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what is missing, then
#   1. Release build: unit tests, micro-benchmark smoke runs, integration tests (python3-websockets,
#      Node ws, headless Chromium, raw sockets) and the RFC 6455 conformance suite on the real binary;
#   2. ASan+UBSan build: unit tests and the Python integration tests;
#   3. clang libFuzzer build: every fuzz target for RINGGATE_FUZZ_SECONDS (default 20) each.
# Ends with one line "total: N passed, M failed"; exits non-zero on any failure.
# RINGGATE_TEST_STAGES="release asan fuzz" selects stages.
set -uo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${RINGGATE_TEST_BUILD_ROOT:-${repo_root}/build}"
stages="${RINGGATE_TEST_STAGES:-release asan fuzz}"
jobs="$(nproc)"
"${repo_root}/tools/bootstrap.sh" --test || exit 1

passed=0
failed=0
status=0
# Runs ctest in a build dir and adds its counts to the totals.
run_ctest() {
  local dir="$1"; shift
  local log="${dir}/ctest.log"
  (cd "${dir}" && ctest --output-on-failure -j"${jobs}" "$@") 2>&1 | tee "${log}"
  local rc=${PIPESTATUS[0]}
  local line total fails
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "${log}" | tail -1)
  if [[ -n "${line}" ]]; then
    fails=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"${line}")
    total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"${line}")
    passed=$((passed + total - fails))
    failed=$((failed + fails))
  elif ((rc != 0)); then
    failed=$((failed + 1))
  fi
  ((rc == 0)) || status=1
}

build() {
  local dir="$1"; shift
  echo "== configure + build ${dir}"
  cmake -G Ninja -S "${repo_root}" -B "${dir}" "$@" >/dev/null || { status=1; failed=$((failed + 1)); return 1; }
  cmake --build "${dir}" -- -j"${jobs}" || { status=1; failed=$((failed + 1)); return 1; }
}

for stage in ${stages}; do
  case "${stage}" in
    release)
      build "${out}/release" -DCMAKE_BUILD_TYPE=Release && run_ctest "${out}/release"
      ;;
    asan)
      # Sanitized unit tests and the Python integration tests (the binary under ASan+UBSan).
      build "${out}/asan" -DCMAKE_BUILD_TYPE=Debug -DRINGGATE_SANITIZE=ON -DRINGGATE_BENCH=OFF &&
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
          run_ctest "${out}/asan" -L unit
      ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_ctest "${out}/asan" -R 'integration_py_'
      ;;
    fuzz)
      CC=clang CXX=clang++ build "${out}/fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRINGGATE_FUZZ=ON \
        -DRINGGATE_FUZZ_SECONDS="${RINGGATE_FUZZ_SECONDS:-20}" && run_ctest "${out}/fuzz" -L fuzz
      ;;
    *) echo "unknown stage: ${stage}" >&2; status=1 ;;
  esac
done
echo "total: ${passed} passed, ${failed} failed"
exit "${status}"
