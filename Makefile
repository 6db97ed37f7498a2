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

.PHONY: help venv sysdeps testdeps run demo test lint bench soak clean

help:
	@echo "make run    - run the daemon on http://localhost:8058 (ARGS='--receiver 10.0.0.5' ...)"
	@echo "make demo   - run it against simulated receivers (loopback only)"
	@echo "make test   - run the test suite"
	@echo "make lint   - ruff and mypy --strict"
	@echo "make bench  - benchmarks (prints a table, writes bench/results.json)"
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

$(VENV)/.installed: pyproject.toml
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

# Exit status 1 on any traceback or unexpected ERROR line in the daemon's log (docs/operations.md).
soak: venv testdeps
	$(PY) -m micboardd.bench.soak --minutes $(MINUTES) $(ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache

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
BOOKWORM := build/bookworm

.PHONY: debdeps pkgdeps deb check-deb verify-unit install-test

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
# packaged file changed (`make -B deb` forces it, e.g. after changing PYVER).
dist/micboardd_$(VERSION)_%.deb: $(DEB_SOURCES)
	rm -rf build/deb/$* && mkdir -p build/deb/$*/src dist
	tar -c --exclude=__pycache__ debian micboardd web systemd docs README.md CHANGELOG.md \
	    | tar -x -C build/deb/$*/src
	cd build/deb/$*/src && PYVER=$(PYVER) DEB_BUILD_OPTIONS="nocheck $(DEB_BUILD_OPTIONS)" \
	    dpkg-buildpackage -b -a$* -d -us -uc -Pnocheck
	mv build/deb/$*/micboardd_$(VERSION)_$*.deb $@
	@ls -l $@

# What is inside: the right machine code, the launcher, unit, conffile, bytecode.
check-deb: deb
	sh tests/packaging/check_deb.sh dist/micboardd_$(VERSION)_$(ARCH).deb $(ARCH)

verify-unit: pkgdeps
	sh tests/packaging/verify_unit.sh systemd/micboardd.service

# The package for this machine (amd64 in CI): the tree's programs must run here.
install-test: pkgdeps
	@$(MAKE) --no-print-directory deb ARCH=$(NATIVE_ARCH)
	sh tests/packaging/install_test.sh dist/micboardd_$(VERSION)_$(NATIVE_ARCH).deb $(BOOKWORM) $(MIRROR)
