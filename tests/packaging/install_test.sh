#!/bin/sh
# Install test of the .deb, as root on Debian (CI: `make install-test`, and
# `make install-test ARCH=arm64` for the other architecture, through qemu-user-static).
#   1. a minbase bookworm tree of the package's architecture (bookworm_tree.sh: made once in
#      CACHE_DIR, copied fresh each run; arm64 on x86-64 through qemu-user-static)
#   2. `apt-get install /root/micboardd_*.deb` in a chroot: dependencies come from Debian only,
#      the conffile is in place, the unit is enabled, nothing is started (no systemd running)
#   3. the installed /usr/bin/micboardd runs in the chroot on a free loopback port, without
#      discovery: /api/health answers, the dashboard is served, SIGTERM exits 0; every micboardd
#      module imports from the bundled libraries
#   4. the tree boots with systemd-nspawn (private network): the real unit starts on port 80
#      as a dynamic user, logs to journald, its libraries run under its hardening, an online
#      backup works, it survives kill -9 and a hung event loop (watchdog), stops cleanly, and
#      comes back from a restored backup
#      (native architecture only: qemu-user cannot apply the unit's seccomp hardening, see
#      docs/packaging.md)
#   5. `apt-get purge` removes the program, the conffile and the state (native only, too)
# Usage: install_test.sh DEB CACHE_DIR [MIRROR]
set -eu
deb=$(readlink -f "$1")
base=$2
mirror=${3:-http://deb.debian.org/debian}
run="$base-run"
name=$(basename "$deb")
here=$(cd "$(dirname "$0")" && pwd)
daemon_pid=""
nspawn_pid=""
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
arch=$(dpkg-deb -f "$deb" Architecture)
foreign=""
[ "$arch" = "$(dpkg --print-architecture)" ] || foreign=1
# Seconds for the daemon to answer: Python under qemu-user starts several times slower.
start_s=30
[ -z "$foreign" ] || start_s=120

log() { echo "install-test: $*"; }
fail() { echo "install-test: FAILED: $*" >&2; exit 1; }
now() { date +%s; }

cleanup() {
    [ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null || true
    [ -n "$nspawn_pid" ] && kill -KILL "$nspawn_pid" 2>/dev/null || true
    mountpoint -q "$run/proc" 2>/dev/null && umount -l "$run/proc" || true
}
trap cleanup EXIT

# Same port-finding trick as the tests: bind port 0, read it back, release it.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# GET a URL from the host (the chroot shares the host's network); prints the body.
http_get() {
    python3 - "$1" <<'PY'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=3) as response:
    sys.stdout.write(response.read().decode())
PY
}

# --- 1. the cached tree --------------------------------------------------------------------
t0=$(now)
sh "$here/bookworm_tree.sh" "$arch" "$base" "$mirror" || fail "no bookworm $arch tree"
rm -rf "$run"
cp -a "$base" "$run"
log "fresh tree ready ($(($(now) - t0)) s)"

# --- 2. apt-get install ---------------------------------------------------------------------
t0=$(now)
cp "$deb" "$run/root/$name"
chroot "$run" apt-get update -qq
chroot "$run" apt-get install -y -q --no-install-recommends "/root/$name" > "$run/root/apt.log" 2>&1 \
    || { tail -n 30 "$run/root/apt.log" >&2; fail "apt-get install $name"; }
grep -q 'sudo micboardd passwd' "$run/root/apt.log" || fail "postinst printed no password hint"
[ -f "$run/etc/micboardd/micboardd.toml" ] || fail "no /etc/micboardd/micboardd.toml"
[ -L "$run/etc/systemd/system/multi-user.target.wants/micboardd.service" ] || fail "unit not enabled"
chroot "$run" /usr/bin/micboardd --version
[ "$(chroot "$run" dpkg --print-architecture)" = "$arch" ] || fail "the tree is not $arch"
[ -z "$foreign" ] || chroot "$run" /usr/bin/python3.11 -c 'import platform; print("python in the tree runs as", platform.machine())'
log "apt-get install $arch OK ($(($(now) - t0)) s)"

# --- 3. the installed daemon, by hand, in the chroot ----------------------------------------
t0=$(now)
mount -t proc proc "$run/proc"
chroot "$run" /usr/bin/python3.11 -sP -c '
import importlib, pkgutil, sys
sys.path.insert(0, "/usr/lib/micboardd/site-packages")
import micboardd
names = [m.name for m in pkgutil.walk_packages(micboardd.__path__, "micboardd.")
         if not m.name.endswith("__main__")]
for n in names:
    importlib.import_module(n)
print(f"imported {len(names)} micboardd modules from the package")
'
port=$(free_port)
chroot "$run" /usr/bin/micboardd run --host 127.0.0.1 --port "$port" --no-discovery \
    --state-dir /tmp/x > "$run/root/daemon.log" 2>&1 &
daemon_pid=$!
deadline=$(($(now) + start_s))
until body=$(http_get "http://127.0.0.1:$port/api/health" 2>/dev/null); do
    kill -0 "$daemon_pid" 2>/dev/null || { cat "$run/root/daemon.log" >&2; fail "daemon exited"; }
    [ "$(now)" -lt "$deadline" ] || { cat "$run/root/daemon.log" >&2; fail "no /api/health in $start_s s"; }
    sleep 0.2
done
echo "$body" | grep -q '"status":"ok"' || fail "/api/health: $body"
echo "$body" | grep -q '"dashboard_ok":true' || fail "/api/health: no dashboard: $body"
http_get "http://127.0.0.1:$port/" | grep -qi '<html' || fail "dashboard not served from the package"
[ -f "$run/tmp/x/micboardd.db" ] || fail "no database in --state-dir"
kill -TERM "$daemon_pid"
status=0
wait "$daemon_pid" || status=$?
daemon_pid=""
[ "$status" = 0 ] || { cat "$run/root/daemon.log" >&2; fail "exit status $status after SIGTERM"; }
umount "$run/proc"
log "$arch daemon in chroot: health, dashboard, SIGTERM -> 0 OK ($(($(now) - t0)) s)"

# --- 4. boot the tree with systemd-nspawn ---------------------------------------------------
if [ -n "$foreign" ]; then
    log "systemd boot skipped for $arch: qemu-user cannot apply the unit's seccomp filters"
else
t0=$(now)
# systemd to boot; sqlite3 (the package recommends it) for the backup/restore of the docs.
chroot "$run" apt-get install -y -q --no-install-recommends systemd sqlite3 \
    > "$run/root/apt-systemd.log" 2>&1 \
    || { tail -n 30 "$run/root/apt-systemd.log" >&2; fail "apt-get install systemd sqlite3"; }
cp "$here/selftest.sh" "$run/root/selftest.sh"
mkdir -p "$run/usr/local/lib"
cp "$here/hardening_probe.py" "$run/usr/local/lib/hardening_probe.py"
cat > "$run/etc/systemd/system/micboardd-selftest.service" <<'UNIT'
[Unit]
Description=micboardd install self-test
After=micboardd.service

[Service]
Type=oneshot
ExecStart=/bin/sh /root/selftest.sh
StandardOutput=append:/root/selftest.log
StandardError=inherit
ExecStopPost=/bin/systemctl --no-block --job-mode=replace-irreversibly start poweroff.target
UNIT
ln -sf /etc/systemd/system/micboardd-selftest.service \
    "$run/etc/systemd/system/multi-user.target.wants/micboardd-selftest.service"
rm -f "$run/root/selftest.log" "$run/root/selftest.rc"
systemd-nspawn -q -D "$run" --register=no --keep-unit --boot --private-network \
    --console=pipe < /dev/null > "$run/root/boot.log" 2>&1 &
nspawn_pid=$!
deadline=$(($(now) + 240))
while kill -0 "$nspawn_pid" 2>/dev/null; do
    [ "$(now)" -lt "$deadline" ] || { tail -n 40 "$run/root/boot.log" >&2; fail "container still up after 240 s"; }
    sleep 1
done
nspawn_pid=""
cat "$run/root/selftest.log" 2>/dev/null || { tail -n 40 "$run/root/boot.log" >&2; fail "self-test did not run"; }
[ "$(cat "$run/root/selftest.rc" 2>/dev/null)" = 0 ] || fail "self-test in the booted tree"
log "systemd boot: unit active, restarts, watchdog, clean stop OK ($(($(now) - t0)) s)"
fi

# --- 5. purge ---------------------------------------------------------------------------------
# The maintainer scripts are shell, the same on every architecture: proven natively.
if [ -n "$foreign" ]; then
    log "PASSED ($arch through qemu)"
    exit 0
fi
t0=$(now)
chroot "$run" apt-get purge -y -q micboardd > "$run/root/purge.log" 2>&1 \
    || { tail -n 30 "$run/root/purge.log" >&2; fail "apt-get purge"; }
for gone in /usr/bin/micboardd /etc/micboardd /var/lib/micboardd /var/lib/private/micboardd \
    /usr/lib/micboardd; do
    if [ -e "$run$gone" ] || [ -L "$run$gone" ]; then fail "$gone left after purge"; fi
done
log "purge removed program, conffile and state OK ($(($(now) - t0)) s)"
log "PASSED"
