# Tickflow: `make run` starts the platform locally, `make test` runs the tests.
# Everything is installed on first use: a virtualenv in .venv, PostgreSQL 15 and Kafka under .local.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed

.PHONY: help lock install chromium services run stop status lint test test-unit test-pythons test-deploy bench soak replay clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 is required, found {sys.version.split()[0]}"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(VENV)/bin/uv pip install --quiet --python $(PY) -r requirements.lock
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps -e .
	touch $(STAMP)

WEB := services/dashboard/web
WEB_STAMP := $(WEB)/node_modules/.package-lock.json

$(WEB_STAMP): $(WEB)/package.json $(WEB)/package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the dashboard page (apt-get install nodejs npm)" >&2; exit 1; }
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error
	touch $(WEB_STAMP)

install: $(STAMP) $(WEB_STAMP)  ## create .venv from the lock file and the dashboard's node_modules from its lock

chromium:  ## Debian's Chromium, for the dashboard's browser test
	@command -v chromium >/dev/null || { if [ "$$(id -u)" -eq 0 ]; then s=; else s="sudo -n"; fi; \
	  $$s apt-get update -q && $$s env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; }

lock:  ## re-resolve requirements.lock from pyproject.toml
	$(VENV)/bin/uv pip compile pyproject.toml --extra test --extra bench --extra batch --extra airflow --python-version 3.11 --generate-hashes -o requirements.lock

services: install  ## start local PostgreSQL + Kafka, create topics, apply migrations
	scripts/local-services.sh start
	$(PY) -m services.admin topics
	$(PY) -m services.admin migrate

run: services  ## start the whole platform locally and print where to look
	scripts/platform.sh start

stop:  ## stop everything `make run` / `make test` started
	-scripts/platform.sh stop
	scripts/local-services.sh stop

status:  ## what is running
	-scripts/local-services.sh status
	-scripts/platform.sh status

lint: $(STAMP)  ## ruff (lint and import order) and mypy (core and processor strict); configured in pyproject.toml
	$(VENV)/bin/ruff check services dags tests bench
	$(VENV)/bin/mypy services/core services/processor

test: lint services chromium  ## lint, install what is needed, start local services, run all tests
	scripts/ensure-kubectl.sh
	$(PY) -m pytest
	scripts/test-pythons.sh

test-deploy: install  ## only the offline checks of Dockerfiles, compose and Kubernetes manifests
	scripts/ensure-kubectl.sh
	$(PY) -m pytest tests/deploy

test-unit: install lint  ## lint, then only the pure tests (no services needed)
	$(PY) -m pytest tests/core

test-pythons: install  ## the pure tests on Python 3.12 and 3.13 too, where this machine has them
	scripts/test-pythons.sh

bench: services  ## benchmarks with same-run baselines; results in bench-results/
	$(PY) -m bench

soak: services  ## the whole platform for 10 minutes, watching memory; results in bench-results/soak/
	$(PY) -m bench soak --minutes $${SOAK_MINUTES:-10} --out bench-results/soak

DASHBOARD_URL := http://127.0.0.1:$${TICKFLOW_DASHBOARD_PORT:-8003}
replay: $(STAMP)  ## replay real history (GOOG daily 2004-2013, from the backtesting package) into the running platform
	@$(PY) -m services.replay --symbol GOOG --ingest-url "http://127.0.0.1:$${TICKFLOW_INGEST_PORT:-8000}" \
	  "$$($(PY) -m bench.datasets GOOG)" || { echo "Is the platform running (make run)? Its ingest must accept GOOG: \
	make run sets TICKFLOW_SYMBOL_PATTERN for that (README, \"Real market data\")." >&2; exit 1; }
	@echo "GOOG is in: chart $(DASHBOARD_URL)/#GOOG (daily bars), $(DASHBOARD_URL)/#GOOG/1d; SQL:"
	@echo "  psql postgresql://tickflow_analyst:tickflow_analyst@127.0.0.1:$${TICKFLOW_PG_PORT:-15432}/tickflow -c \
	\"SELECT ts::date, close, round(rsi::numeric, 1) AS rsi FROM bars WHERE symbol = 'GOOG' AND timeframe = 'raw' ORDER BY ts DESC LIMIT 10\""

clean: stop  ## stop and delete local data (.local) and the virtualenv
	rm -rf .local $(VENV)
