#!/bin/sh
# Runs inside the tree booted by install_test.sh (systemd-nspawn, private network: only lo).
# Checks the installed unit under real systemd; writes /root/selftest.rc (0: all passed).
set -u
rc=0
unit=micboardd.service

check() {
    what=$1
    shift
    if "$@"; then echo "ok   $what"; else echo "FAIL $what"; rc=1; fi
}

main_pid() { systemctl show -p MainPID --value "$unit"; }

health() {
    python3.11 -c '
import json, sys, urllib.request
with urllib.request.urlopen("http://127.0.0.1/api/health", timeout=3) as r:
    sys.exit(0 if json.load(r).get("status") == "ok" else 1)
' 2>/dev/null
}

# Active and answering within $1 seconds, with a main PID other than $2.
up_again() {
    limit=$1
    old=${2:-none}
    i=0
    while [ "$i" -lt "$((limit * 2))" ]; do
        pid=$(main_pid)
        if [ "$pid" != 0 ] && [ "$pid" != "$old" ] && [ "$(systemctl is-active "$unit")" = active ] \
            && health; then
            return 0
        fi
        sleep 0.5
        i=$((i + 1))
    done
    return 1
}

dynamic_user() {
    uid=$(stat -c %u "/proc/$(main_pid)")
    # systemd allocates DynamicUser= ids from 61184-65519.
    [ "$uid" -ge 61184 ] && [ "$uid" -le 65519 ]
}

check "enabled by the package" systemctl -q is-enabled "$unit"
check "active and healthy on port 80 after boot" up_again 60
check "runs as a dynamic user, not root" dynamic_user
check "database in StateDirectory (/var/lib/private/micboardd)" test -f /var/lib/private/micboardd/micboardd.db
check "systemd-analyze verify (installed unit)" systemd-analyze verify "$unit"
systemd-analyze security "$unit" --no-pager | tail -n 1

# The same hardening (a copy of the installed unit, run once) around a probe of the libraries
# that MemoryDenyWriteExecute= and the syscall filter could break.
# It also reads a root-only secret handed over with LoadCredential=, the recipe the conffile
# gives for tls_key_file and ssapi_key_file.
probe_unit() {
    umask 077
    echo probe-secret > /etc/micboardd/probe.key
    sed -e 's/^Type=notify/Type=oneshot/' -e '/^WatchdogSec=/d' -e '/^NotifyAccess=/d' \
        -e 's#^ExecStart=.*#ExecStart=/usr/bin/python3.11 -sP /usr/local/lib/hardening_probe.py#' \
        -e 's#^\[Service\]$#[Service]\nLoadCredential=probe.key:/etc/micboardd/probe.key#' \
        "/lib/systemd/system/$unit" > /etc/systemd/system/micboardd-probe.service
    systemctl daemon-reload
    systemctl start micboardd-probe.service
    status=$?
    journalctl -u micboardd-probe.service --no-pager -o cat | tail -n 5
    rm -f /etc/micboardd/probe.key
    return $status
}
check "hardening tolerates ctypes, uvloop, msgspec, zeroconf" probe_unit

check "logs go to journald (SYSLOG_IDENTIFIER=micboardd)" \
    sh -c "journalctl SYSLOG_IDENTIFIER=micboardd -o cat --no-pager | grep -q 'listening on'"

# docs/operations.md: a consistent copy with the daemon running.
db=/var/lib/micboardd/micboardd.db
online_backup() {
    sqlite3 "$db" "INSERT INTO settings(key, value) VALUES('backup-marker', 'before')" &&
        sqlite3 "$db" ".backup '/root/micboardd-backup.db'" &&
        [ "$(sqlite3 /root/micboardd-backup.db 'PRAGMA integrity_check')" = ok ] &&
        sqlite3 "$db" "DELETE FROM settings WHERE key = 'backup-marker'"
}
check "sqlite3 .backup while the daemon runs" online_backup

old=$(main_pid)
kill -KILL "$old"
check "restarted after kill -9" up_again 30 "$old"

# A hung event loop: SIGSTOP stops the WATCHDOG=1 pings; after WatchdogSec systemd aborts the
# process and Restart=on-failure brings it back.
old=$(main_pid)
kill -STOP "$old"
check "watchdog restarts a hung daemon" up_again 75 "$old"
check "journal records the watchdog timeout" sh -c "journalctl -u $unit --no-pager | grep -qi 'watchdog timeout'"

systemctl stop "$unit"
check "stopped cleanly (Result=success)" test "$(systemctl show -p Result --value "$unit")" = success
check "exit status 0 after SIGTERM" test "$(systemctl show -p ExecMainStatus --value "$unit")" = 0
check "inactive, not failed" test "$(systemctl is-active "$unit")" = inactive

# docs/operations.md: restore = stop, copy back, give it to the service's user, start.
restore() {
    cp /root/micboardd-backup.db "$db" &&
        chown --reference=/var/lib/micboardd "$db" &&
        rm -f "$db-wal" "$db-shm" &&
        systemctl start "$unit" && up_again 30 &&
        [ "$(sqlite3 "$db" "SELECT value FROM settings WHERE key = 'backup-marker'")" = before ]
}
check "restore from the backup, service healthy again" restore
systemctl stop "$unit"

echo "--- journal of $unit ---"
journalctl -u "$unit" --no-pager -o short-monotonic | tail -n 40
echo "$rc" > /root/selftest.rc
