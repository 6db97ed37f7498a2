#!/bin/sh
# The Python package as a newcomer gets it (CI: `make wheel-test`):
#   1. `python -m build`: an sdist, then a wheel built *from that sdist*; both carry the
#      dashboard (web/ in the sdist, micboardd/dashboard/ in the wheel)
#   2. the wheel installed into a fresh venv (dependencies from PyPI)
#   3. `micboardd run` from that venv, started outside the checkout: /api/health says
#      dashboard_ok, and / loads live in headless Chromium (load_dashboard.py)
#   4. the package data removed: the daemon still runs, logs one clear error, /api/health
#      says dashboard_ok false, / answers 503
# Usage: wheel_test.sh WORK_DIR   (run from the repository; needs .venv with Playwright)
set -eu
work=$(mkdir -p "$1" && cd "$1" && pwd)
repo=$(pwd)
daemon_pid=""
export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { echo "wheel-test: $*"; }
fail() { echo "wheel-test: FAILED: $*" >&2; exit 1; }
now() { date +%s; }

cleanup() {
    [ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null || true
}
trap cleanup EXIT

http_get() {  # URL -> body on stdout; exit 1 on a connection error, 2 on an HTTP error status
    python3 - "$1" <<'PY'
import sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as response:
        sys.stdout.write(response.read().decode())
except urllib.error.HTTPError as exc:
    sys.stdout.write(exc.read().decode())
    sys.exit(2)
except OSError:
    sys.exit(1)
PY
}

# Starts the installed daemon on a free port in $work/run; sets daemon_pid and url.
start_daemon() {
    rm -rf "$work/run" && mkdir -p "$work/run"
    : > "$work/run/micboardd.toml"
    (cd "$work/run" && exec "$work/venv/bin/micboardd" run --host 127.0.0.1 --port 0 \
        --no-discovery --state-dir "$work/run/state" --config "$work/run/micboardd.toml" \
        > "$work/run/daemon.log" 2>&1) &
    daemon_pid=$!
    deadline=$(($(now) + 30))
    url=""
    while [ -z "$url" ]; do
        kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/run/daemon.log" >&2; fail "daemon exited"; }
        [ "$(now)" -lt "$deadline" ] || { cat "$work/run/daemon.log" >&2; fail "not listening in 30 s"; }
        url=$(sed -n 's#.*listening on \(http://[0-9.]*:[0-9]*\).*#\1#p' "$work/run/daemon.log")
        [ -n "$url" ] || sleep 0.2
    done
}

stop_daemon() {
    kill -TERM "$daemon_pid"
    status=0
    wait "$daemon_pid" || status=$?
    daemon_pid=""
    [ "$status" = 0 ] || { cat "$work/run/daemon.log" >&2; fail "exit status $status after SIGTERM"; }
}

# --- 1. sdist, and a wheel built from it ----------------------------------------------------
t0=$(now)
rm -rf "$work/dist" "$work/build-venv" "$work/venv"
python3 -m venv "$work/build-venv"
"$work/build-venv/bin/pip" install -q build > "$work/pip-build.log" 2>&1 \
    || { tail -n 20 "$work/pip-build.log" >&2; fail "pip install build"; }
# --sdist --wheel would build both from the tree; without them the wheel comes from the sdist.
"$work/build-venv/bin/python" -m build --outdir "$work/dist" "$repo" > "$work/build.log" 2>&1 \
    || { tail -n 30 "$work/build.log" >&2; fail "python -m build"; }
sdist=$(ls "$work"/dist/micboardd-*.tar.gz)
wheel=$(ls "$work"/dist/micboardd-*.whl)
tar -tzf "$sdist" | grep -q '^micboardd-[^/]*/web/index.html$' || fail "sdist has no web/index.html"
tar -tzf "$sdist" | grep -q '^micboardd-[^/]*/web/js/board.js$' || fail "sdist has no web/js/"
python3 - "$wheel" <<'PY' || fail "wheel has no dashboard"
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
for want in ("micboardd/dashboard/index.html", "micboardd/dashboard/app.js",
             "micboardd/dashboard/js/board.js", "micboardd/dashboard/icons/icon.svg"):
    assert want in names, want
assert not any(n.startswith("web/") for n in names), "web/ at the top of site-packages"
PY
log "sdist and wheel (from the sdist) carry the dashboard ($(($(now) - t0)) s)"

# --- 2. a fresh venv with the wheel -----------------------------------------------------------
t0=$(now)
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$wheel" > "$work/pip-install.log" 2>&1 \
    || { tail -n 30 "$work/pip-install.log" >&2; fail "pip install $(basename "$wheel")"; }
found=$(cd / && "$work/venv/bin/python" -c 'from micboardd.web.root import find_web_root; print(find_web_root())')
case $found in
    "$work"/venv/lib/python3*/site-packages/micboardd/dashboard) ;;
    *) fail "the installed package finds its dashboard at $found" ;;
esac
log "wheel installed in a fresh venv; dashboard found at $found ($(($(now) - t0)) s)"

# --- 3. run it, load the dashboard in Chromium ------------------------------------------------
t0=$(now)
start_daemon
body=$(http_get "$url/api/health") || fail "/api/health: $body"
echo "$body" | grep -q '"dashboard_ok":true' || fail "/api/health: $body"
echo "$body" | grep -q '"status":"ok"' || fail "/api/health: $body"
"$repo/.venv/bin/python" -m tests.packaging.load_dashboard "$url" || fail "dashboard in Chromium"
stop_daemon
log "micboardd run from the wheel: health, dashboard live in Chromium, SIGTERM -> 0 ($(($(now) - t0)) s)"

# --- 4. without its package data --------------------------------------------------------------
t0=$(now)
rm -rf "$found"
start_daemon
body=$(http_get "$url/api/health") || fail "/api/health without dashboard: $body"
echo "$body" | grep -q '"dashboard_ok":false' || fail "/api/health without dashboard: $body"
status=0
page=$(http_get "$url/") || status=$?
[ "$status" = 2 ] && echo "$page" | grep -q 'no dashboard files' || fail "/ without dashboard: $page"
[ "$(grep -c 'no dashboard files: index.html is not in' "$work/run/daemon.log")" = 1 ] \
    || { cat "$work/run/daemon.log" >&2; fail "not one clear error in the log"; }
stop_daemon
log "without package data: one error in the log, dashboard_ok false, / -> 503 ($(($(now) - t0)) s)"
log "PASSED"
