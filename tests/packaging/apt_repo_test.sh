#!/bin/sh
# The apt repository as a venue uses it (CI: `make apt-repo-test`), as root on Debian:
#   1. a repository of this build (amd64 and arm64) signed with a key made for this test;
#      the signature verifies with the exported keyring and fails with another key
#   2. a fresh bookworm tree adds it as a source (file:// URI, signed-by its keyring) and runs
#      `apt-get install micboardd`; the venue edits the conffile, imports a Micboard config
#      (placeholders, a group), sets the admin password and uploads a photo
#   3. a newer build (the version bumped in a copy of the tree) is published to the same
#      repository; `apt-get install --only-upgrade micboardd` upgrades to it
#   4. the upgraded daemon reports the new version and still has the conffile edit, the
#      password, the placeholders, the group and the photo
# Usage: apt_repo_test.sh WORK_DIR BASE_TREE DEB_AMD64 DEB_ARM64 [MIRROR]
# (BASE_TREE: the native bookworm tree of bookworm_tree.sh, shared with `make install-test`)
set -eu
work=$(mkdir -p "$1" && cd "$1" && pwd)
base=$2
deb_amd64=$(readlink -f "$3")
deb_arm64=$(readlink -f "$4")
mirror=${5:-http://deb.debian.org/debian}
repo_src=$(pwd)
here=$(cd "$(dirname "$0")" && pwd)
run="$work/tree"
repo="$work/repo"
daemon_pid=""
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
export APT_GNUPGHOME="$work/gnupg"   # this test's own key, not the build machine's

log() { echo "apt-repo-test: $*"; }
fail() { echo "apt-repo-test: FAILED: $*" >&2; exit 1; }
now() { date +%s; }

cleanup() {
    [ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null || true
    mountpoint -q "$run/proc" 2>/dev/null && umount -l "$run/proc" || true
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

http_get() {
    python3 - "$1" <<'PY'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=3) as response:
    sys.stdout.write(response.read().decode())
PY
}

# The installed daemon in the tree, as the service would run it (its conffile, its state).
start_daemon() {
    port=$(free_port)
    chroot "$run" /usr/bin/micboardd run --host 127.0.0.1 --port "$port" --no-discovery \
        --state-dir /var/lib/micboardd > "$run/root/daemon.log" 2>&1 &
    daemon_pid=$!
    url="http://127.0.0.1:$port"
    deadline=$(($(now) + 30))
    until health=$(http_get "$url/api/health" 2>/dev/null); do
        kill -0 "$daemon_pid" 2>/dev/null || { cat "$run/root/daemon.log" >&2; fail "daemon exited"; }
        [ "$(now)" -lt "$deadline" ] || { cat "$run/root/daemon.log" >&2; fail "no /api/health in 30 s"; }
        sleep 0.2
    done
}

stop_daemon() {
    kill -TERM "$daemon_pid"
    status=0
    wait "$daemon_pid" || status=$?
    daemon_pid=""
    [ "$status" = 0 ] || { cat "$run/root/daemon.log" >&2; fail "exit status $status after SIGTERM"; }
}

publish() {  # DEB...: add to the repository, then hand the tree its new contents
    sh "$repo_src/debian/make-apt-repo.sh" "$repo" "$@" > "$work/publish.log" 2>&1 \
        || { cat "$work/publish.log" >&2; fail "make-apt-repo.sh"; }
    rm -rf "$run/srv/micboardd-apt"
    mkdir -p "$run/srv"
    cp -a "$repo" "$run/srv/micboardd-apt"
}

# --- 1. the repository ------------------------------------------------------------------------
t0=$(now)
rm -rf "$repo" "$APT_GNUPGHOME" "$run"
sh "$here/bookworm_tree.sh" "$(dpkg --print-architecture)" "$base" "$mirror" || fail "no bookworm tree"
cp -a "$base" "$run"
publish "$deb_amd64" "$deb_arm64"
for arch in amd64 arm64; do
    grep -q "^Architecture: $arch" "$repo/dists/bookworm/main/binary-$arch/Packages" \
        || fail "no $arch package in the index"
    grep -q "main/binary-$arch/Packages.gz" "$repo/dists/bookworm/Release" || fail "Release lacks $arch"
done
gpgv --keyring "$repo/micboardd-archive-keyring.gpg" "$repo/dists/bookworm/InRelease" 2> /dev/null \
    || fail "InRelease does not verify with the exported keyring"
GNUPGHOME="$work/gnupg-other" APT_GNUPGHOME="$work/gnupg-other" sh -c '
    mkdir -p "$GNUPGHOME" && chmod 700 "$GNUPGHOME"
    gpg --batch --quiet --passphrase "" --quick-generate-key "someone else <x@example.invalid>" ed25519 sign never
    gpg --batch --export x@example.invalid
    gpgconf --kill gpg-agent' > "$work/other-keyring.gpg"
log "signed repository with amd64 and arm64 ($(grep -c '^Package:' "$repo/dists/bookworm/main/binary-amd64/Packages") + $(grep -c '^Package:' "$repo/dists/bookworm/main/binary-arm64/Packages") entries) ($(($(now) - t0)) s)"

# --- 2. a box adds it and installs --------------------------------------------------------
t0=$(now)
mkdir -p "$run/etc/apt/keyrings"
cat > "$run/etc/apt/sources.list.d/micboardd.sources" <<'SRC'
Types: deb
URIs: file:///srv/micboardd-apt
Suites: bookworm
Components: main
Signed-By: /etc/apt/keyrings/micboardd.gpg
SRC
# Someone else's key first: apt must refuse the repository.
cp "$work/other-keyring.gpg" "$run/etc/apt/keyrings/micboardd.gpg"
if chroot "$run" apt-get update > "$work/update-wrong-key.log" 2>&1; then
    fail "apt-get update accepted the repository with the wrong key"
fi
grep -q 'NO_PUBKEY\|not signed\|signature' "$work/update-wrong-key.log" \
    || { cat "$work/update-wrong-key.log" >&2; fail "no signature error with the wrong key"; }
cp "$repo/micboardd-archive-keyring.gpg" "$run/etc/apt/keyrings/micboardd.gpg"
chroot "$run" apt-get update > "$work/update.log" 2>&1 || { cat "$work/update.log" >&2; fail "apt-get update"; }
grep -q '^[WE]:' "$work/update.log" && { cat "$work/update.log" >&2; fail "apt-get update warned"; }
old=$(dpkg-deb -f "$deb_amd64" Version)
chroot "$run" apt-get install -y -q --no-install-recommends micboardd > "$work/install.log" 2>&1 \
    || { tail -n 30 "$work/install.log" >&2; fail "apt-get install micboardd"; }
[ "$(chroot "$run" dpkg-query -W -f '${Version}' micboardd)" = "$old" ] || fail "installed version"
log "apt-get install micboardd $old from the repository OK ($(($(now) - t0)) s)"

# The venue's settings and state.
t0=$(now)
mount -t proc proc "$run/proc"
printf '\n# venue: slower meters on the old Wi-Fi\nmeter_rate_ms = 250\n' >> "$run/etc/micboardd/micboardd.toml"
cp "$here/fixtures/offline_slots.json" "$run/root/micboard.json"
chroot "$run" /usr/bin/micboardd import-micboard /root/micboard.json --state-dir /var/lib/micboardd \
    > "$work/import.log" 2>&1 || { cat "$work/import.log" >&2; fail "import-micboard"; }
python3 -c 'from tests.packaging.state_probe import PASSWORD; print(PASSWORD)' \
    | chroot "$run" /usr/bin/micboardd passwd --stdin --state-dir /var/lib/micboardd > /dev/null
start_daemon
python3 -m tests.packaging.state_probe "$url" write
stop_daemon
log "conffile edited, Micboard config imported, password set, photo uploaded ($(($(now) - t0)) s)"

# --- 3. a newer build, published, upgraded to ---------------------------------------------
t0=$(now)
new="$old+repotest1"
src="$work/src-new"
rm -rf "$src" && mkdir -p "$src"
tar -c --exclude=__pycache__ Makefile debian micboardd web systemd docs README.md CHANGELOG.md \
    | tar -x -C "$src"
{
    printf 'micboardd (%s) bookworm; urgency=medium\n\n  * Upgrade test build.\n\n' "$new"
    printf ' -- micboardd developers <micboardd@example.org>  %s\n\n' "$(date -R)"
    cat debian/changelog
} > "$src/debian/changelog"
sed -i "s/^__version__ = .*/__version__ = \"$new\"/" "$src/micboardd/__init__.py"
make -C "$src" --no-print-directory "dist/micboardd_${new}_$(dpkg --print-architecture).deb" \
    > "$work/build-new.log" 2>&1 || { tail -n 30 "$work/build-new.log" >&2; fail "building $new"; }
publish "$src/dist/micboardd_${new}_$(dpkg --print-architecture).deb"
chroot "$run" apt-get update > "$work/update2.log" 2>&1 || { cat "$work/update2.log" >&2; fail "apt-get update"; }
chroot "$run" apt-get install -y -q --only-upgrade micboardd > "$work/upgrade.log" 2>&1 \
    || { tail -n 30 "$work/upgrade.log" >&2; fail "apt-get upgrade to $new"; }
[ "$(chroot "$run" dpkg-query -W -f '${Version}' micboardd)" = "$new" ] || fail "not upgraded to $new"
log "built $new, published, apt-get upgraded $old -> $new ($(($(now) - t0)) s)"

# --- 4. settings and state kept ---------------------------------------------------------------
t0=$(now)
grep -q '^meter_rate_ms = 250$' "$run/etc/micboardd/micboardd.toml" || fail "the conffile edit is gone"
ls "$run"/etc/micboardd/micboardd.toml.dpkg-* 2> /dev/null && fail "dpkg left a conffile copy"
start_daemon
echo "$health" | grep -q "\"version\":\"$new\"" || fail "the daemon still runs the old code: $health"
python3 -m tests.packaging.state_probe "$url" check
stop_daemon
umount "$run/proc"
log "upgraded daemon $new: conffile edit, password, placeholders, group and photo kept ($(($(now) - t0)) s)"
log "PASSED"
