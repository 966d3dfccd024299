# Two entry points for a fresh machine (see README.md): `make demo` and `make test`.
# Each creates the virtualenv it needs in .venv and installs into it; `make venv` creates it alone.
# Run as root, `make test` installs Debian packages first (`tools`, below).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Debian packages the test suite drives for real: Prometheus and promtool, Alertmanager and
# amtool, the container toolchain for the image test, docker-compose to validate the compose
# file, Chromium to load the web pages in a real headless browser (tests/browser).
APT_PACKAGES := prometheus prometheus-alertmanager podman buildah runc uidmap slirp4netns \
	fuse-overlayfs mmdebstrap docker-compose chromium

.PHONY: venv demo test lint typecheck unit all-tiers tools bench clean

# Extra arguments for `make demo`, e.g. DEMO_ARGS="--web.listen-address 127.0.0.1:0".
DEMO_ARGS ?=

$(VENV)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.test: $(VENV)/.runtime pyproject.toml
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# The virtualenv with the poller in it, alone (`make demo` makes it first too).
venv: $(VENV)/.runtime

demo: $(VENV)/.runtime
	$(VENV)/bin/genesyscloud-poller demo $(DEMO_ARGS)

tools:
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages: $(APT_PACKAGES)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      $(APT_PACKAGES) >/dev/null; \
	  else \
	    echo "missing Debian packages; install with: sudo apt-get install $(APT_PACKAGES)"; \
	    exit 1; \
	  fi; \
	fi

lint: $(VENV)/.test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.test
	$(VENV)/bin/mypy

# The fast tier: unit and integration tests (pyproject's addopts deselect e2e, container, soak).
unit: $(VENV)/.test
	$(PY) -m pytest

# Every tier in one run: `-m ""` replaces the default marker filter. pytest's exit code 5
# (nothing collected) is a failure like any other non-zero code.
all-tiers: $(VENV)/.test
	$(PY) -m pytest -m ""

test: tools lint typecheck all-tiers

# The benchmarks, and the end-to-end alert test (tests/bench/test_e2e_alerts.py: 11 to 13 minutes,
# most of it the 7 minutes of history the rules need before a silence can page, too long for
# `make test` until that history can be backfilled).
bench: $(VENV)/.test
	$(PY) -m pytest -q -m "" tests/bench/test_e2e_alerts.py
	$(PY) -m tests.bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache dist build
