# micboardd — the two commands of the quick start are `make run` and `make test`.
# Both create the virtual environment (and, as root on Debian, install the system packages
# it needs) when it is missing.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
ARGS   ?=
PYTEST_ARGS ?=
MINUTES ?= 10
# libsystemd-dev + pkg-config + gcc: systemd-python has no wheel and builds against libsystemd.
SYS_PACKAGES  := libsystemd-dev pkg-config gcc python3-venv python3-dev
# Only the tests need these: a real Redis, a real browser, network namespaces.
TEST_PACKAGES := redis-server chromium iproute2 systemd zbar-tools

.PHONY: help venv sysdeps testdeps run demo test lint bench bench-ab bench-vendors bench-liveness soak clean wheel-test

help:
	@echo "make run    - run the daemon on http://localhost:8058 (ARGS='--receiver 10.0.0.5' ...)"
	@echo "make demo   - run it against simulated receivers (loopback only)"
	@echo "make test   - run the test suite"
	@echo "make lint   - ruff and mypy --strict"
	@echo "make bench  - benchmarks (prints a table, writes bench/results.json)"
	@echo "make bench-ab REF=<commit> - ingest CPU of REF's daemon and this tree's, side by side"
	@echo "make bench-vendors - daemon ingest CPU, 24 EW-DX channels against 24 Shure (ratios)"
	@echo "make bench-liveness - how fast and honestly a receiver going and coming is shown"
	@echo "make soak MINUTES=60 - the daemon for an hour against a simulated venue with"
	@echo "             phones coming and going (a row a minute, writes bench/soak.json)"

# Install missing Debian packages when we can (root); otherwise say exactly what to run.
define apt_install
	@if command -v dpkg >/dev/null 2>&1; then \
	  missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ]; then \
	      echo "installing Debian packages:$$missing"; \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	    else \
	      echo "missing Debian packages; run: sudo apt-get install$$missing"; exit 1; \
	    fi; \
	  fi; \
	fi
endef

sysdeps:
	$(call apt_install,$(SYS_PACKAGES))

testdeps:
	$(call apt_install,$(TEST_PACKAGES))

$(VENV)/.installed: pyproject.toml setup.py
	@$(MAKE) --no-print-directory sysdeps
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $@

venv: $(VENV)/.installed

run: venv
	$(PY) -m micboardd run $(ARGS)

demo: venv
	$(PY) -m micboardd demo $(ARGS)

test: venv testdeps
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check micboardd tests
	$(VENV)/bin/ruff format --check micboardd tests
	$(VENV)/bin/mypy

bench: venv
	$(PY) -m micboardd.bench $(ARGS)

# Daemon ingest CPU, 24 EW-DX channels (SSC v1) against 24 Shure, alternating (issue 19).
bench-ab: venv
	$(PY) -m micboardd.bench.ab $(or $(REF),HEAD) . $(ARGS)

bench-vendors: venv
	$(PY) -m micboardd.bench.vendors $(ARGS)

# About 4 minutes; as root the announcement part runs in a private network namespace.
bench-liveness: venv
	$(PY) -m micboardd.bench.liveness $(ARGS)
# Exit status 1 on any traceback or unexpected ERROR line in the daemon's log (docs/operations.md).
soak: venv testdeps
	$(PY) -m micboardd.bench.soak --minutes $(MINUTES) $(ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache

# The sdist and a wheel built from it carry the dashboard; the wheel, installed in a fresh
# venv, runs and its dashboard loads in Chromium (tests/packaging/wheel_test.sh).
wheel-test: venv testdeps
	sh tests/packaging/wheel_test.sh build/wheel-test

# --- packaging: the .deb, its unit, and an install test in a fresh Debian tree ---------------
# `make deb` / `make deb ARCH=arm64` (cross-built on x86-64: the package carries wheels, no
# compiler involved) write dist/micboardd_<version>_<arch>.deb. `make install-test` installs
# the amd64 package with apt into a debootstrap bookworm tree, runs it there, then boots the
# tree with systemd-nspawn to check the real unit. See docs/packaging.md.
NATIVE_ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
ARCH     ?= $(NATIVE_ARCH)
PYVER    ?= 3.11
# Building needs only the first line; checking the unit and the install test the second.
DEB_PACKAGES := debhelper dpkg-dev python$(PYVER) python3-pip file
PKG_PACKAGES := $(DEB_PACKAGES) debootstrap systemd systemd-container
MIRROR   ?= http://deb.debian.org/debian
# The debootstrap tree for ARCH (kept between runs; each test works on a copy).
BOOKWORM := build/bookworm$(if $(filter $(NATIVE_ARCH),$(ARCH)),,-$(ARCH))
# Running another architecture's tree: qemu-user-static through binfmt_misc.
QEMU_PACKAGES := qemu-user-static binfmt-support

.PHONY: debdeps pkgdeps deb check-deb verify-unit install-test apt-repo apt-repo-test

debdeps:
	$(call apt_install,$(DEB_PACKAGES))

pkgdeps:
	$(call apt_install,$(PKG_PACKAGES))

# First line of debian/changelog: "micboardd (0.1.0) bookworm; ..." -> 0.1.0
VERSION  := $(shell sed -n '1{s/[()]/ /g;p;}' debian/changelog 2>/dev/null | awk '{print $$2}')
DEB_SOURCES := $(shell find debian micboardd web systemd docs -type f -not -path '*/__pycache__/*' \
                 2>/dev/null) README.md CHANGELOG.md

deb: debdeps
	@$(MAKE) --no-print-directory dist/micboardd_$(VERSION)_$(ARCH).deb

# Built from a copy of the tree: dpkg-buildpackage writes next to its source directory and
# `debian/rules clean` must never touch the work tree (.venv, build/). Rebuilt only when a
# packaged file changed (`make -B deb` forces it, e.g. after changing PYVER; MAKEFLAGS is
# emptied so that -B does not reach debian/rules, which would try to remake dpkg's makefiles).
dist/micboardd_$(VERSION)_%.deb: $(DEB_SOURCES)
	rm -rf build/deb/$* && mkdir -p build/deb/$*/src dist
	tar -c --exclude=__pycache__ debian micboardd web systemd docs README.md CHANGELOG.md \
	    | tar -x -C build/deb/$*/src
	cd build/deb/$*/src && MAKEFLAGS= PYVER=$(PYVER) DEB_BUILD_OPTIONS="nocheck $(DEB_BUILD_OPTIONS)" \
	    dpkg-buildpackage -b -a$* -d -us -uc -Pnocheck
	mv build/deb/$*/micboardd_$(VERSION)_$*.deb $@
	@ls -l $@

# What is inside: the right machine code, the launcher, unit, conffile, bytecode.
check-deb: deb
	sh tests/packaging/check_deb.sh dist/micboardd_$(VERSION)_$(ARCH).deb $(ARCH)

verify-unit: pkgdeps
	sh tests/packaging/verify_unit.sh systemd/micboardd.service

# The package for ARCH (this machine's by default) in a bookworm tree of that architecture;
# `ARCH=arm64` on x86-64 runs the tree's programs through qemu (no systemd boot there).
install-test: pkgdeps
	$(if $(filter $(NATIVE_ARCH),$(ARCH)),,$(call apt_install,$(QEMU_PACKAGES)))
	@$(MAKE) --no-print-directory deb ARCH=$(ARCH)
	sh tests/packaging/install_test.sh dist/micboardd_$(VERSION)_$(ARCH).deb $(BOOKWORM) $(MIRROR)

# --- the apt repository: both architectures, signed; a box adds it and upgrades from it ------
# `make apt-repo` writes dist/apt (publish that directory as it is; docs/packaging.md). It is
# signed with APT_SIGNING_KEY from your GnuPG keyring, or else with a test key made once in
# build/apt-gnupg. Adding a newer build keeps the older packages in the pool.
APT_REPO ?= dist/apt
REPO_PACKAGES := apt-utils gnupg

apt-repo: debdeps
	$(call apt_install,$(REPO_PACKAGES))
	@$(MAKE) --no-print-directory deb ARCH=amd64
	@$(MAKE) --no-print-directory deb ARCH=arm64
	sh debian/make-apt-repo.sh $(APT_REPO) dist/micboardd_$(VERSION)_amd64.deb dist/micboardd_$(VERSION)_arm64.deb

# A fresh bookworm tree adds a repository of this build (its own test key), installs
# micboardd, then upgrades to a newer build, keeping the conffile edit and the database.
apt-repo-test: pkgdeps
	$(call apt_install,$(REPO_PACKAGES))
	@$(MAKE) --no-print-directory deb ARCH=amd64
	@$(MAKE) --no-print-directory deb ARCH=arm64
	sh tests/packaging/apt_repo_test.sh build/apt-repo-test build/bookworm \
	    dist/micboardd_$(VERSION)_amd64.deb dist/micboardd_$(VERSION)_arm64.deb $(MIRROR)

