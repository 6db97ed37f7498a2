#!/bin/sh
# Can this machine run ARCH (arm64) programs inside a chroot? Yes when Debian's
# qemu-user-static is registered with binfmt_misc with the F flag (the kernel opens the
# emulator at registration, so it works in a tree that has no copy of it); binfmt-support
# registers it so on install. Mounts binfmt_misc and enables the entry when they are not yet.
# Usage: qemu_binfmt.sh ARCH
set -eu
case $1 in
    arm64) cpu=aarch64 ;;
    *) echo "qemu-binfmt: no emulator known for $1" >&2; exit 1 ;;
esac
fs=/proc/sys/fs/binfmt_misc
entry=$fs/qemu-$cpu
say() { echo "qemu-binfmt: $*" >&2; }

if [ ! -f "$fs/status" ] && ! mount -t binfmt_misc binfmt_misc "$fs" 2>/dev/null; then
    say "cannot mount binfmt_misc on $fs (a container without it?): $1 programs cannot run here"
    exit 1
fi
if [ ! -f "$entry" ]; then
    command -v update-binfmts >/dev/null || { say "apt-get install qemu-user-static binfmt-support"; exit 1; }
    update-binfmts --enable "qemu-$cpu" >/dev/null 2>&1 || true
fi
[ -f "$entry" ] || { say "qemu-$cpu is not registered with binfmt_misc (qemu-user-static installed?)"; exit 1; }
grep -qx enabled "$entry" || { say "$entry is disabled: update-binfmts --enable qemu-$cpu"; exit 1; }
grep -q '^flags:.*F' "$entry" || { say "$entry lacks the F flag: it would not work inside a chroot"; exit 1; }
echo "qemu-binfmt: $1 programs run through $(sed -n 's/^interpreter //p' "$entry")"
