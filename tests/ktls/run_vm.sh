#!/usr/bin/env bash
# Runs ktls_vm_test with fresh self-signed certificates (ECDSA P-256 and RSA-2048, made here with
# openssl in a temp dir):
#   run_vm.sh BINARY [args]         inside the kTLS VM (tools/ktls-vm.sh, Debian kernel 6.12);
#                                   exit 125 (the VM could not boot) is reported as a failure.
#   run_vm.sh --host BINARY [args]  on this machine, expecting the user-space fallback.
# Env: KTLS_VM_LOG=FILE keeps the VM's serial console log.
#      KTLS_IDLE=N idle connections held per ktls mode for the memory figure (VM default 500:
#      under TCG each wss handshake costs ~50-60 ms, so 2000 took 220 s; host default 200).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
mode=vm
if [[ ${1:-} == --host ]]; then mode=host; shift; fi
[[ $# -ge 1 ]] || { echo "usage: $0 [--host] ktls_vm_test [args]" >&2; exit 2; }
bin=$1; shift

tmp=$(mktemp -d /tmp/ringgate-ktls.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
certs=$tmp/ktls-certs
mkdir -p "$certs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost -keyout "$certs/ec.key" -out "$certs/ec.crt" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost -keyout "$certs/rsa.key" -out "$certs/rsa.crt" 2>/dev/null

if [[ $mode == host ]]; then
  exec "$bin" --certs "$certs" --expect-fallback --idle "${KTLS_IDLE:-200}" "$@"
fi

log_args=()
[[ -n ${KTLS_VM_LOG:-} ]] && log_args=(--keep-log "$KTLS_VM_LOG")
set +e
"$repo/tools/ktls-vm.sh" --kernel 6.12 --timeout 900 --mem 1024 "${log_args[@]}" --add "$certs" \
  "$bin" --certs /files/ktls-certs --idle "${KTLS_IDLE:-500}" "$@"
rc=$?
set -e
case $rc in
  0) ;;
  124) echo "run_vm: the VM timed out (FAIL)" >&2 ;;
  125) echo "run_vm: the VM could not be set up or did not boot (FAIL, not a skip)" >&2 ;;
  *) echo "run_vm: ktls_vm_test failed in the VM (exit $rc)" >&2 ;;
esac
exit $rc
