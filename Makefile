# The two commands: `make run` (demo on SQLite) and `make test` (lint, types, tests on both engines).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run serve migrate seed-demo test test-fast check lint typecheck js pytest fuzz bench bench-feed bench-sync bench-live bench-photos bench-push bench-app bench-mobile bench-fleet bench-import bench-capacity cluster clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@ $(VENV)/.installed $(VENV)/.installed-bench

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $@

## run: install, migrate, seed the demo and serve it on http://$(HOST):$(PORT)
run: export DEMO = 1
run: export HOST := $(HOST)
run: export PORT := $(PORT)
run: $(VENV)/.installed
	$(BIN)/python -m server migrate
	$(BIN)/python -m server seed-demo
	$(BIN)/python -m server run

migrate: $(VENV)/.installed
	$(BIN)/python -m server migrate

## test: lint, format check, types, then the suite on SQLite and PostgreSQL
test: check pytest

check: lint typecheck js

# ESLint and TypeScript (types from JSDoc) over the app's modules; npm ci installs the tools
# pinned in cdn/package-lock.json the first time (and when the lock changes).
js: cdn/node_modules/.package-lock.json
	cd cdn && npm run --silent check

cdn/node_modules/.package-lock.json: cdn/package-lock.json
	cd cdn && npm ci --no-audit --no-fund --loglevel=error

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

# The suite runs in two worker processes (pytest-xdist; TEST_WORKERS=auto: one per core,
# TEST_WORKERS=1 for one): each has databases of its own and its own slice of the browser
# apps' ports, and in a worker a database thread a test leaves behind cannot hold the run
# open at exit. The app shell is built first, once, rather than by each worker.
TEST_WORKERS ?= 2
pytest: $(VENV)/.installed-dev
	$(BIN)/python -m cdn.build
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --durations=15

## test-fast: the edit loop: lint, types and the tests that need no database of their own,
## server process or browser (the pure rules, contracts and docs), in seconds
test-fast: lint typecheck
	$(BIN)/python -m pytest -q -m "not services"

## fuzz: schemathesis at length on every operation, as a staff member, a dispatcher and the
## office CRM (an API key), on both engines (`make test` runs a short pass of the same); FUZZ_EXAMPLES to go further
FUZZ_EXAMPLES ?= 150
fuzz: $(VENV)/.installed-dev
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_ROLES=staff,dispatcher,crm \
		$(BIN)/python -m pytest tests/http/test_openapi_fuzz.py

## bench: the load benchmarks on PostgreSQL (the feed, photos and push install wrk from Debian when
## missing), the app in Debian's Chromium on SQLite (shell size, offline reloads, and starts
## on emulated 3G), a fleet's working day on one instance and on the cluster, and the CRM's
## bulk import and webhooks
bench: bench-feed bench-sync bench-live bench-photos bench-push bench-app bench-mobile bench-fleet bench-import bench-capacity

bench-feed: $(VENV)/.installed-bench
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m benchmarks.feed

bench-sync: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks.sync

bench-live: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks.live

# Photo processing per core, then the feed's p99 idle and while photos are processed.
bench-photos: $(VENV)/.installed-bench
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m benchmarks.photos --part both

# Pushes/s to 1,000 subscriptions through the loopback push service, and the feed's p99 meanwhile.
bench-push: $(VENV)/.installed-bench
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m benchmarks.push

# A fleet's working day (Locust) on one instance and on the cluster, side by side (needs nginx
# and Redis): the largest fleet whose every endpoint keeps its p99 under 200 ms.
bench-fleet: $(VENV)/.installed-bench
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || (apt-get update -qq && apt-get install -y -qq nginx)
	$(BIN)/python -m benchmarks.fleet

# 100,000 jobs through the CRM's NDJSON import against multi-row SQL inserts of the same rows,
# then webhook deliveries/s to a loopback receiver and the feed's p99 meanwhile.
bench-import: $(VENV)/.installed-bench
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m benchmarks.imports
	$(BIN)/python -m benchmarks.webhooks

# What one request of each kind a phone or the office sends costs: server CPU, PostgreSQL
# commits, Redis commands and bytes, against one worker (docs/capacity.md projects from it).
bench-capacity: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks.capacity

# Playwright comes with the dev dependencies; the browser is Debian's chromium.
bench-app: $(VENV)/.installed-dev
	$(BIN)/python -m benchmarks.app

# Cold, warm and offline starts on DevTools' slow and fast 3G, in Debian's chromium.
bench-mobile: $(VENV)/.installed-dev
	$(BIN)/python -m benchmarks.mobile

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache cdn/node_modules cdn/dist

## cluster: nginx on http://127.0.0.1:8080 in front of two instances (WORKERS=2) on PostgreSQL,
## Redis for the shared cache and login throttle; in the foreground until Ctrl-C (or SIGTERM)
CLUSTER_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/tinedy_cluster
CLUSTER_REDIS_URL ?= redis://127.0.0.1:6379/5
cluster: $(VENV)/.installed
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || (apt-get update -qq && apt-get install -y -qq nginx)
	$(BIN)/python -m server.cluster --database-url $(CLUSTER_DATABASE_URL) --redis-url $(CLUSTER_REDIS_URL)
