#!/usr/bin/env bash
# ktls-vm.sh — run a static Linux x86_64 test binary inside a throwaway QEMU VM that boots
# Debian's own kernel (CONFIG_TLS=m), so kernel TLS (kTLS) can be tested on a host whose
# kernel lacks CONFIG_TLS. Uses Debian packages only (qemu-system-x86, busybox-static,
# kmod, cpio, xz-utils, and a linux-image-*-cloud-amd64 .deb fetched with apt-get download).
#
# Usage:  ktls-vm.sh [options] /path/to/test-binary [args...]
#         A static binary is simplest; a dynamically linked one also works: the libraries
#         ldd resolves on the host (and the ELF interpreter) are copied into the guest.
# Options:
#   --kernel SERIES   6.1 (default) or 6.12: which Debian kernel series to boot
#   --timeout SECS    wall-clock limit for the whole VM run (default 600)
#   --mem MB          guest memory (default 512)
#   --smp N           guest CPUs (default 2)
#   --keep-log FILE   also save the raw serial console log to FILE
#   --add PATH        copy a file or directory into the guest as /files/<basename> (repeatable)
# Env:
#   KTLS_VM_CACHE     cache dir for kernel + base initramfs (default /var/tmp/ktls-vm)
#   KTLS_VM_APPEND    extra kernel command-line words (e.g. "loglevel=7" to see boot messages)
#   KTLS_VM_ACCEL     tcg (default) or kvm. NOTE: on the build machines /dev/kvm is "kvm-pvm"
#                     (PVM nested virtualisation) and cannot boot a stock Debian kernel, so
#                     the default is software emulation (TCG).
#
# Inside the VM: loopback is up, tls.ko and the AEAD crypto modules (aesni-intel, gcm,
# ghash-clmulni-intel, chacha20poly1305, chacha-x86_64, poly1305-x86_64) are loaded,
# /sbin/modprobe (busybox) can load any other module on demand. The binary runs as root
# (PID 1's child) with cwd=/ and its stdout+stderr are printed here.
# Exit status: the test's exit status; 124 on timeout; 125 on setup/boot failure.
set -euo pipefail
# Origin: copied verbatim from the research workspace (shared/tools/ktls-vm.sh, see
# shared/research/platform.md §3) so CI checkouts have it; tests/ktls/run_vm.sh uses this copy.

SERIES=6.1
TIMEOUT=600
MEM=512
SMP=2
KEEPLOG=
ADD=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --kernel) SERIES=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --mem) MEM=$2; shift 2 ;;
    --smp) SMP=$2; shift 2 ;;
    --keep-log) KEEPLOG=$2; shift 2 ;;
    --add) ADD+=("$(readlink -f "$2")"); shift 2 ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    --) shift; break ;;
    -*) echo "ktls-vm: unknown option $1" >&2; exit 125 ;;
    *) break ;;
  esac
done
[[ $# -ge 1 ]] || { echo "usage: $0 [--kernel 6.1|6.12] [--timeout S] static-binary [args...]" >&2; exit 125; }
BIN=$(readlink -f "$1"); shift
[[ -x "$BIN" ]] || { echo "ktls-vm: $BIN is not an executable file" >&2; exit 125; }
DYN=0
if command -v readelf >/dev/null && readelf -l "$BIN" 2>/dev/null | grep -q 'program interpreter'; then DYN=1; fi

CACHE=${KTLS_VM_CACHE:-/var/tmp/ktls-vm}
ACCEL=${KTLS_VM_ACCEL:-tcg}
mkdir -p "$CACHE"
log() { echo "ktls-vm: $*" >&2; }

# ---- 1. host tools (Debian packages) ----
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[[ -x /bin/busybox ]] || need+=(busybox-static)
command -v depmod >/dev/null || need+=(kmod)
command -v cpio >/dev/null || need+=(cpio)
command -v xz >/dev/null || need+=(xz-utils)
if [[ ${#need[@]} -gt 0 ]]; then
  log "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
    DEBIAN_FRONTEND=noninteractive apt-get update >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >/dev/null || { log "apt-get install failed"; exit 125; }
  }
fi
if ! busybox --list 2>/dev/null | grep -qx modprobe; then log "/bin/busybox lacks modprobe (need busybox-static)"; exit 125; fi

# ---- 2. kernel: newest Debian linux-image-<SERIES>*-cloud-amd64 known to apt ----
case "$SERIES" in
  6.1) pat='^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' ;;
  6.12) pat='^linux-image-6\.12\.[0-9]+\+deb12-cloud-amd64$' ;;
  *) log "unsupported --kernel $SERIES (use 6.1 or 6.12)"; exit 125 ;;
esac
exec 9>"$CACHE/.lock"; flock 9   # one builder at a time
KDIR=$(ls -d "$CACHE"/k-"$SERIES"-* 2>/dev/null | sort -V | tail -1 || true)
if [[ -z "$KDIR" || ! -f "$KDIR/ready" ]]; then
  pkg=$(apt-cache search --names-only 'linux-image-.*-cloud-amd64' 2>/dev/null | awk '{print $1}' | grep -E "$pat" | sort -V | tail -1 || true)
  if [[ -z "$pkg" ]]; then
    apt-get update >/dev/null 2>&1 || true
    pkg=$(apt-cache search --names-only 'linux-image-.*-cloud-amd64' | awk '{print $1}' | grep -E "$pat" | sort -V | tail -1 || true)
  fi
  [[ -n "$pkg" ]] || { log "no $pat package visible to apt"; exit 125; }
  log "fetching $pkg (one time)"
  KDIR="$CACHE/k-$SERIES-${pkg#linux-image-}"
  rm -rf "$KDIR"; mkdir -p "$KDIR/deb"
  (cd "$KDIR/deb" && apt-get download "$pkg" >/dev/null 2>&1) || { log "apt-get download $pkg failed"; exit 125; }
  dpkg-deb -x "$KDIR"/deb/*.deb "$KDIR/x"
  KVER=$(ls "$KDIR/x/lib/modules")
  cp "$KDIR/x/boot/vmlinuz-$KVER" "$KDIR/vmlinuz"

  # base initramfs tree: busybox, a module subset (net/tls + crypto), init
  R="$KDIR/root"; M="$R/lib/modules/$KVER"
  mkdir -p "$R"/{bin,sbin,proc,sys,dev,tmp,etc,run} "$M/kernel"
  cp /bin/busybox "$R/bin/busybox"
  for l in $(busybox --list); do [[ -e "$R/bin/$l" ]] || ln -s busybox "$R/bin/$l"; done
  ln -sf ../bin/busybox "$R/sbin/modprobe"; ln -sf ../bin/busybox "$R/sbin/insmod"
  S="$KDIR/x/lib/modules/$KVER"
  for d in net/tls crypto arch/x86/crypto lib; do
    [[ -d "$S/kernel/$d" ]] && mkdir -p "$M/kernel/$(dirname "$d")" && cp -a "$S/kernel/$d" "$M/kernel/$(dirname "$d")/"
  done
  # busybox modprobe wants plain .ko files
  find "$M" -name '*.ko.xz' -exec xz -d {} +
  find "$M" -name '*.ko.zst' -print -quit | grep -q . && { command -v zstd >/dev/null || apt-get install -y zstd >/dev/null; find "$M" -name '*.ko.zst' -exec zstd -q -d --rm {} +; }
  cp "$S"/modules.builtin* "$S"/modules.order "$M"/ 2>/dev/null || true
  depmod -b "$R" "$KVER"
  (cd "$R" && find . | cpio -o -H newc --quiet) > "$KDIR/base.cpio"
  echo "$KVER" > "$KDIR/kver"
  touch "$KDIR/ready"
  rm -rf "$KDIR/deb" "$KDIR/x"
fi
KVER=$(cat "$KDIR/kver")
flock -u 9

# ---- 3. per-run overlay: the binary + a launcher, appended as a second cpio archive ----
WORK=$(mktemp -d /tmp/ktls-vm.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/o"
cp "$BIN" "$WORK/o/test"; chmod +x "$WORK/o/test"
cat > "$WORK/o/init" <<'INIT_EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
echo /sbin/modprobe > /proc/sys/kernel/modprobe
ip link set lo up
t_init=$(cut -d' ' -f1 /proc/uptime)
for m in tls aesni_intel gcm ghash_clmulni_intel chacha20poly1305 chacha_x86_64 poly1305_x86_64; do
  modprobe "$m" 2>/dev/null || echo "ktls-vm(guest): modprobe $m failed"
done
ulimit -n 1048576 2>/dev/null
echo "@@KTLS-VM-BEGIN@@ kernel=$(uname -r) tls_module=$(grep -c '^tls ' /proc/modules) init_at=${t_init}s test_start=$(cut -d' ' -f1 /proc/uptime)s"
cd /
/bin/sh /run-test.sh
rc=$?
echo "@@KTLS-VM-EXIT $rc@@ test_end=$(cut -d' ' -f1 /proc/uptime)s"
reboot -f  # with qemu -no-reboot a guest reset ends qemu at once (faster than poweroff under TCG)
INIT_EOF
chmod +x "$WORK/o/init"
if [[ $DYN == 1 ]]; then   # copy the host's shared libraries the binary needs, at the same paths
  ldd "$BIN" | awk '/=> \// {print $3} /^\t\/[^ ]+ \(/ {print $1}' | while read -r lib; do
    mkdir -p "$WORK/o$(dirname "$lib")"; cp -L "$lib" "$WORK/o$lib"
  done
  # also the path the ELF names literally (e.g. /lib64/ld-linux-x86-64.so.2)
  interp=$(readelf -l "$BIN" | sed -n 's/.*program interpreter: \(.*\)]/\1/p')
  [[ -n "$interp" ]] && mkdir -p "$WORK/o$(dirname "$interp")" && cp -L "$interp" "$WORK/o$interp"
fi
if [[ ${#ADD[@]} -gt 0 ]]; then mkdir -p "$WORK/o/files"; for f in "${ADD[@]}"; do cp -a "$f" "$WORK/o/files/"; done; fi
{
  printf 'exec /test'
  for a in "$@"; do printf " %q" "$a"; done
  printf ' 2>&1\n'
} > "$WORK/o/run-test.sh"
(cd "$WORK/o" && find . | cpio -o -H newc --quiet) > "$WORK/overlay.cpio"
cat "$KDIR/base.cpio" "$WORK/overlay.cpio" > "$WORK/initrd.cpio"

# ---- 4. boot ----
if [[ "$ACCEL" == kvm ]]; then accel=(-accel kvm -cpu host); else accel=(-accel tcg,thread=multi -cpu max); fi
log "booting Debian kernel $KVER ($ACCEL, ${SMP} vCPU, ${MEM} MiB)"
t0=$(date +%s.%N)
set +e
timeout --foreground -k 5 "$TIMEOUT" qemu-system-x86_64 "${accel[@]}" -m "$MEM" -smp "$SMP" \
  -nographic -no-reboot -nodefaults -serial stdio -monitor none \
  -kernel "$KDIR/vmlinuz" -initrd "$WORK/initrd.cpio" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init tsc=reliable ${KTLS_VM_APPEND:-}" \
  </dev/null > "$WORK/console.log" 2>&1
qrc=$?
set -e
t1=$(date +%s.%N)
tr -d '\r' < "$WORK/console.log" > "$WORK/console.txt"
[[ -n "$KEEPLOG" ]] && cp "$WORK/console.txt" "$KEEPLOG"
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
if ! grep -q '@@KTLS-VM-BEGIN@@' "$WORK/console.txt"; then
  log "guest never reached init (qemu rc=$qrc, ${secs}s). Console tail:"
  tail -30 "$WORK/console.txt" >&2
  [[ $qrc -eq 124 ]] && exit 124 || exit 125
fi
awk '/@@KTLS-VM-BEGIN@@/ {on=1; next}
     on && /@@KTLS-VM-EXIT / {sub(/@@KTLS-VM-EXIT .*/, ""); if (length($0)) print; exit}
     on {print}' "$WORK/console.txt"
hdr=$(grep -o '@@KTLS-VM-BEGIN@@.*' "$WORK/console.txt" | head -1)
code=$(sed -n 's/.*@@KTLS-VM-EXIT \([0-9]*\)@@.*/\1/p' "$WORK/console.txt" | tail -1)
tend=$(grep -o 'test_end=[0-9.]*s' "$WORK/console.txt" | tail -1 | sed 's/test_end=//')
if [[ -z "$code" ]]; then
  log "test did not finish (qemu rc=$qrc after ${secs}s; ${hdr#@@KTLS-VM-BEGIN@@ })"
  [[ $qrc -eq 124 ]] && exit 124 || exit 125
fi
log "exit code $code (${hdr#@@KTLS-VM-BEGIN@@ } test_end=${tend}; VM wall time ${secs}s)"
exit "$code"
