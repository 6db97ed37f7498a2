#!/bin/sh
# What a built .deb must hold: machine code for its architecture only, the launcher, the unit,
# the conffile, the dashboard, and bytecode for every module (/usr is read-only at run time).
# Usage: check_deb.sh dist/micboardd_<version>_<arch>.deb <arch>
set -eu
deb=$1
arch=$2
case $arch in
    amd64) machine="x86-64" ;;
    arm64) machine="ARM aarch64" ;;
    *) echo "unsupported architecture $arch" >&2; exit 1 ;;
esac
fail() { echo "check-deb: $deb: $*" >&2; exit 1; }

[ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || fail "Architecture is not $arch"
dpkg-deb -f "$deb" Depends | grep -q 'python3-systemd' || fail "does not depend on python3-systemd"

tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
dpkg-deb -x "$deb" "$tree"
dpkg-deb -e "$deb" "$tree/DEBIAN"

for path in usr/bin/micboardd lib/systemd/system/micboardd.service etc/micboardd/micboardd.toml \
    usr/lib/micboardd/site-packages/micboardd/dashboard/index.html \
    usr/lib/micboardd/site-packages/micboardd/cli/main.py; do
    [ -f "$tree/$path" ] || fail "missing /$path"
done
grep -qx '/etc/micboardd/micboardd.toml' "$tree/DEBIAN/conffiles" || fail "micboardd.toml is not a conffile"
head -n 1 "$tree/usr/bin/micboardd" | grep -Eq '^#!/usr/bin/python3\.[0-9]+ -sP$' || fail "launcher shebang"

# Every shared object must be code for $arch; none for another machine.
elf=0
for so in $(find "$tree" -type f \( -name '*.so' -o -name '*.so.*' \)); do
    desc=$(file -b "$so")
    case $desc in
        ELF*"$machine"*) elf=$((elf + 1)) ;;
        *) fail "$(echo "$so" | sed "s#^$tree##"): $desc" ;;
    esac
done
[ "$elf" -gt 0 ] || fail "no compiled extension at all (msgspec, uvloop... missing?)"

# Bytecode next to every module, compiled at build time.
missing=$(python3 - "$tree/usr/lib/micboardd/site-packages" <<'PY'
import pathlib, sys
root = pathlib.Path(sys.argv[1])
bad = [str(p) for p in root.rglob("*.py")
       if not list((p.parent / "__pycache__").glob(p.stem + ".cpython-*.pyc"))]
print(len(bad), *bad[:5])
PY
)
[ "${missing%% *}" = 0 ] || fail "modules without bytecode: $missing"

echo "check-deb: $deb OK ($elf $machine shared objects, $(dpkg-deb -f "$deb" Installed-Size) KiB installed)"
