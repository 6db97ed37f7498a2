#!/bin/sh
# A signed apt repository of micboardd (`make apt-repo`; docs/packaging.md "apt repository").
#   REPO/pool/main/m/micboardd/micboardd_<version>_<arch>.deb   every package ever added
#   REPO/dists/SUITE/main/binary-{amd64,arm64}/Packages(.gz)    indexes (apt-ftparchive)
#   REPO/dists/SUITE/{Release,Release.gpg,InRelease}              signed
#   REPO/micboardd-archive-keyring.gpg (.asc)                      the public key for venues
# The signing key: APT_SIGNING_KEY (a key id or fingerprint in $GNUPGHOME), or else a test
# key generated once into APT_GNUPGHOME (default build/apt-gnupg) and reused by later runs,
# so boxes that trust it keep trusting the updates. Adding packages keeps the older ones.
# Usage: make-apt-repo.sh REPO DEB...
set -eu
[ $# -ge 2 ] || { echo "usage: $0 REPO DEB..." >&2; exit 2; }
repo=$1
shift
suite=${APT_SUITE:-bookworm}
archs="amd64 arm64"
pool=pool/main/m/micboardd
say() { echo "apt-repo: $*"; }

for deb in "$@"; do
    [ -f "$deb" ] || { echo "apt-repo: no such package: $deb" >&2; exit 1; }
done
mkdir -p "$repo/$pool"
cp "$@" "$repo/$pool/"

# The key: given, or the test key of this build machine.
if [ -n "${APT_SIGNING_KEY:-}" ]; then
    key=$APT_SIGNING_KEY
else
    GNUPGHOME=$(mkdir -p "${APT_GNUPGHOME:-build/apt-gnupg}" && cd "${APT_GNUPGHOME:-build/apt-gnupg}" && pwd)
    export GNUPGHOME
    chmod 700 "$GNUPGHOME"
    if ! gpg --batch --list-secret-keys apt@micboardd.invalid > /dev/null 2>&1; then
        say "generating a test signing key in $GNUPGHOME (set APT_SIGNING_KEY for a real one)"
        gpg --batch --quiet --passphrase '' --quick-generate-key \
            "micboardd test repository <apt@micboardd.invalid>" ed25519 sign never
    fi
    key=apt@micboardd.invalid
fi
fingerprint=$(gpg --batch --with-colons --list-secret-keys "$key" | awk -F: '/^fpr/ {print $10; exit}')
[ -n "$fingerprint" ] || { echo "apt-repo: no secret key $key in ${GNUPGHOME:-~/.gnupg}" >&2; exit 1; }

cd "$repo"
for arch in $archs; do
    dir=dists/$suite/main/binary-$arch
    mkdir -p "$dir"
    apt-ftparchive --arch "$arch" packages "$pool" > "$dir/Packages"
    gzip -9nkf "$dir/Packages"
    grep -q "^Architecture: $arch" "$dir/Packages" || say "warning: no $arch package in the repository"
done
apt-ftparchive \
    -o APT::FTPArchive::Release::Origin=micboardd \
    -o APT::FTPArchive::Release::Label=micboardd \
    -o APT::FTPArchive::Release::Suite="$suite" \
    -o APT::FTPArchive::Release::Codename="$suite" \
    -o APT::FTPArchive::Release::Architectures="$archs" \
    -o APT::FTPArchive::Release::Components=main \
    -o APT::FTPArchive::Release::Description="micboardd for Debian 12 and Raspberry Pi OS bookworm" \
    release "dists/$suite" > "dists/$suite/Release.new"
mv "dists/$suite/Release.new" "dists/$suite/Release"
rm -f "dists/$suite/InRelease" "dists/$suite/Release.gpg"
gpg --batch --yes --local-user "$fingerprint" --digest-algo SHA512 --clearsign \
    -o "dists/$suite/InRelease" "dists/$suite/Release"
gpg --batch --yes --local-user "$fingerprint" --digest-algo SHA512 --armor --detach-sign \
    -o "dists/$suite/Release.gpg" "dists/$suite/Release"
gpg --batch --yes --export "$fingerprint" > micboardd-archive-keyring.gpg
gpg --batch --yes --armor --export "$fingerprint" > micboardd-archive-keyring.asc
# The test key's gpg-agent is ours to stop (never the agent of a given key's keyring).
[ -n "${APT_SIGNING_KEY:-}" ] || gpgconf --kill gpg-agent
say "$(pwd): $(ls "$pool" | wc -l) packages, suite $suite, signed by $fingerprint"
