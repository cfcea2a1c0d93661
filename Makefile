# Everything this project uses is installed by these rules; nothing by hand.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Syncano's client runs on Python 3.7 only (tests/compat/test_clients.py): the first python3.7 that runs,
# on PATH or installed by pyenv.
PYTHON37 ?= $(shell for p in python3.7 $(HOME)/.pyenv/versions/3.7.*/bin/python3.7; do \
	"$$p" -c 'import sys' 2>/dev/null && { echo "$$p"; break; }; done)
SYNCANO_VENV := .venv-syncano
BUF := node_modules/.bin/buf
REDOCLY := node_modules/.bin/redocly
SITE = $(shell $(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
PROTOS := $(wildcard proto/userservice/v1/*.proto)
# The googleapis files our protos import, and the two Envoy needs to render error details.
GOOGLE_PROTOS := google/api/annotations.proto google/api/http.proto google/api/field_behavior.proto \
	google/api/client.proto google/api/launch_stage.proto google/api/resource.proto google/api/httpbody.proto \
	google/rpc/status.proto google/rpc/error_details.proto

.PHONY: install syncano-client test-tools run test lint generate bench bench-decompose bench-instructions bench-metrics clean

install: $(VENV)/.installed $(BUF) syncano-client

# Syncano's client for tests/compat/test_clients.py. Without a Python 3.7 the service still installs and
# runs; only that test fails (it says why).
syncano-client:
	@if [ -n "$(PYTHON37)" ]; then $(MAKE) --no-print-directory $(SYNCANO_VENV)/.installed; else \
		echo "WARNING: no Python 3.7 found (set PYTHON37=...): .venv-syncano, Syncano's client, is not made." >&2; fi

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,compat-clients,bench]'
	touch $@

$(SYNCANO_VENV)/.installed: build/syncano-requirements.txt
	test -x $(SYNCANO_VENV)/bin/python || $(PYTHON37) -m venv $(SYNCANO_VENV)
	$(SYNCANO_VENV)/bin/python -m pip install -q --no-deps -r build/syncano-requirements.txt
	touch $@

$(BUF): package.json
	npm install --no-audit --no-fund --silent
	touch $@

run: install
	mkdir -p data
	$(VENV)/bin/userservice serve --database sqlite:///data/users.db --grpc-port 50051 --http-port 8080

# The whole suite on SQLite; then again on PostgreSQL, in a fresh database, when USERSERVICE_TEST_POSTGRES
# (a URL of a server where the tests may create databases) is set. .ci/run always sets it.
# What the suite needs besides .venv and node_modules: Debian's chromium for the /docs page test.
test-tools:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

test: install test-tools lint
	$(VENV)/bin/pytest -q -p no:cacheprovider
	@if [ -n "$${USERSERVICE_TEST_POSTGRES:-}" ]; then \
		echo "== the same suite on PostgreSQL ($$USERSERVICE_TEST_POSTGRES)"; \
		USERSERVICE_TEST_DATABASE_BACKEND=postgresql $(VENV)/bin/pytest -q -p no:cacheprovider; \
	else \
		echo "WARNING: USERSERVICE_TEST_POSTGRES is not set: the PostgreSQL pass (replicas included) did NOT run." >&2; \
	fi

lint: install
	build/protodeps.sh $(SITE) build/protodeps $(GOOGLE_PROTOS)
	$(BUF) lint
	$(REDOCLY) lint --config redocly.yaml generated/openapi.json
	$(VENV)/bin/ruff check service tests bench build/openapi.py
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict build/openapi.py

generate: install
	build/generate.sh $(PY) $(SITE) generated $(GOOGLE_PROTOS)

# The PostgreSQL section (bench/postgres.py) needs pgbench (on Debian 12 in postgresql-15, which
# postgresql-contrib pulls in; /usr/bin/pgbench alone is postgresql-client's wrapper) and a server:
# $$USERSERVICE_TEST_POSTGRES, else postgresql://postgres@127.0.0.1:5432/postgres.
bench: install
	command -v h2load >/dev/null && command -v wrk >/dev/null && pgbench --version >/dev/null 2>&1 || \
		(apt-get update -qq && apt-get install -y -qq nghttp2-client wrk postgresql-client postgresql-contrib)
	$(PY) -m bench.run

# What --metrics-port costs per call (docs/api.md, Metrics).
bench-metrics: install
	command -v h2load >/dev/null || (apt-get update -qq && apt-get install -y -qq nghttp2-client)
	$(PY) -m bench.metrics_overhead

# Where UpdateUser's time goes (docs/benchmarks.md): one part removed at a time, and callgrind's count.
bench-decompose: install
	command -v h2load >/dev/null || (apt-get update -qq && apt-get install -y -qq nghttp2-client)
	$(PY) -m bench.decompose

bench-instructions: install
	command -v valgrind >/dev/null || (apt-get update -qq && apt-get install -y -qq valgrind)
	$(PY) -m bench.instructions

clean:
	rm -rf $(VENV) $(SYNCANO_VENV) node_modules build/protodeps data
