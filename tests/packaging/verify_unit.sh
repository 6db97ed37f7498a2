#!/bin/sh
# systemd-analyze verify on the unit as shipped. verify insists that ExecStart's program
# exists; on a build machine /usr/bin/micboardd does not, so only that path is pointed at a
# stub in a scratch copy: every other line is checked exactly as written.
set -eu
unit=${1:-systemd/micboardd.service}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
printf '#!/bin/sh\nexit 0\n' > "$scratch/micboardd"
chmod 0755 "$scratch/micboardd"
grep -q '^ExecStart=/usr/bin/micboardd ' "$unit" || { echo "$unit: ExecStart is not /usr/bin/micboardd" >&2; exit 1; }
sed "s#^ExecStart=/usr/bin/micboardd #ExecStart=$scratch/micboardd #" "$unit" > "$scratch/micboardd.service"
# Any message is a finding: verify exits 0 on some warnings, so fail on output too.
out=$(systemd-analyze verify --man=no "$scratch/micboardd.service" 2>&1) || { echo "$out" >&2; exit 1; }
if [ -n "$out" ]; then echo "$out" >&2; exit 1; fi
echo "systemd-analyze verify: $unit OK"
# Guard the hardening: fail if the exposure score (0-10) ever rises above 2.0.
score=$(systemd-analyze security --offline=yes --threshold=20 --no-pager "$scratch/micboardd.service" 2>&1) \
    || { echo "$score" >&2; echo "exposure score above 2.0" >&2; exit 1; }
echo "$score" | tail -n 1
