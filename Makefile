# Fynlo developer commands. Only python3 (3.11+) and make are needed on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
PYTEST_WORKERS ?= 2

.PHONY: run install test lint test-postgresql test-sqlite bench lock clean

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: $(BIN)/uv requirements.lock pyproject.toml
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

# The front end's own Socket.IO client (socket.io-client v4), for tests/realtime.
tests/js/node_modules/.installed: tests/js/package.json tests/js/package-lock.json
	npm ci --prefix tests/js --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed tests/js/node_modules/.installed

## run: install, migrate, load demo data and serve on http://127.0.0.1:8000 (SQLite)
run: install
	$(BIN)/fynlo migrate
	$(BIN)/fynlo demo
	$(BIN)/fynlo serve --host 127.0.0.1 --port 8000

## test: lint, type-check, then the whole suite on PostgreSQL and on SQLite
test: install lint test-postgresql test-sqlite

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

test-postgresql: install
	FYNLO_TEST_DB=postgresql $(BIN)/pytest -n $(PYTEST_WORKERS) -p no:cacheprovider

test-sqlite: install
	FYNLO_TEST_DB=sqlite $(BIN)/pytest -n $(PYTEST_WORKERS) -p no:cacheprovider

## bench: the benchmarks in bench/ (PostgreSQL), each printing its figures and target
bench: install
	$(BIN)/python -m bench.login
	$(BIN)/python -m bench.orders
	$(BIN)/python -m bench.payments
	$(BIN)/python -m bench.realtime
	$(BIN)/python -m bench.kitchen

## lock: re-resolve requirements.lock from pyproject.toml
lock: $(BIN)/uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
