# micboardd — the two commands of the quick start are `make run` and `make test`.
# Both create the virtual environment (and, as root on Debian, install the system packages
# it needs) when it is missing.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
ARGS   ?=
PYTEST_ARGS ?=
# libsystemd-dev + pkg-config + gcc: systemd-python has no wheel and builds against libsystemd.
SYS_PACKAGES  := libsystemd-dev pkg-config gcc python3-venv python3-dev
# Only the tests need these: a real Redis, a real browser, network namespaces.
TEST_PACKAGES := redis-server chromium iproute2

.PHONY: help venv sysdeps testdeps run demo test lint bench clean

help:
	@echo "make run    - run the daemon on http://localhost:8058 (ARGS='--receiver 10.0.0.5' ...)"
	@echo "make demo   - run it against simulated receivers (loopback only)"
	@echo "make test   - run the test suite"
	@echo "make lint   - ruff and mypy --strict"
	@echo "make bench  - benchmarks (prints a table, writes bench/results.json)"

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

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
