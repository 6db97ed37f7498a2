#!/bin/sh
# A minbase Debian bookworm tree of ARCH at BASE, made once and kept: the install tests each
# work on a copy, so one CI run debootstraps each architecture at most once. A foreign
# architecture (arm64 on x86-64) is made with `debootstrap --foreign` and finished inside the
# tree, where every program is run through qemu by binfmt_misc (qemu_binfmt.sh).
# Usage: bookworm_tree.sh ARCH BASE [MIRROR]
set -eu
arch=$1
base=$2
mirror=${3:-http://deb.debian.org/debian}
here=$(cd "$(dirname "$0")" && pwd)
fail() { echo "bookworm-tree: FAILED: $*" >&2; exit 1; }

foreign=""
[ "$arch" = "$(dpkg --print-architecture)" ] || foreign=1
[ -z "$foreign" ] || sh "$here/qemu_binfmt.sh" "$arch" || fail "cannot run $arch programs here"
[ -f "$base/.micboardd-base" ] && exit 0

echo "bookworm-tree: debootstrap bookworm $arch into $base (kept for later runs)"
rm -rf "$base" "$base.tmp"
mkdir -p "$(dirname "$base")"
bootlog="$(dirname "$base")/debootstrap-$arch.log"
if [ -z "$foreign" ]; then
    debootstrap --variant=minbase bookworm "$base.tmp" "$mirror" > "$bootlog" 2>&1 \
        || { tail -n 20 "$bootlog" >&2; fail "debootstrap"; }
else
    debootstrap --variant=minbase --foreign --arch "$arch" bookworm "$base.tmp" "$mirror" \
        > "$bootlog" 2>&1 || { tail -n 20 "$bootlog" >&2; fail "debootstrap --foreign"; }
    chroot "$base.tmp" /debootstrap/debootstrap --second-stage >> "$bootlog" 2>&1 \
        || { tail -n 20 "$bootlog" >&2; fail "debootstrap --second-stage (through qemu)"; }
fi
touch "$base.tmp/.micboardd-base"
mv "$base.tmp" "$base"
