# `make study` and `make test` are the only commands a fresh machine needs: both install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
STORE := sqlite:///$(CURDIR)/mlruns/mlflow.db
export MLFLOW_DISABLE_TELEMETRY := true
# Two pytest workers (pytest-xdist), one per core; a module whose fixture is built once stays on one worker
# (xdist_group). `make test XDIST=` runs the suite in one process.
XDIST ?= -n 2 --dist loadgroup

.DEFAULT_GOAL := help
.PHONY: help install browser postgres study test test-fast bench bench-gpu ui clean services services-down

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@echo "install: .venv with torch 2.13 (CPU), mlflow 3.17, optuna 5 and the harness; usually 1 to 4 minutes"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@echo "install: done; next: make study, make test, make ui"
	touch $(STAMP)

BENCH_STAMP := $(VENV)/.benchmark-stamp
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,benchmark]'
	touch $(BENCH_STAMP)

install: $(STAMP) ## Make .venv and install the harness with its pinned stack

study: $(STAMP) ## Run the house-prices study on the embedded store (mlruns/)
	$(BIN)/harness study experiments/house_prices.yaml

browser: ## Install Debian's chromium for the browser test when it is missing (apt, about 20 s)
	@command -v chromium >/dev/null || { echo "browser: installing chromium with apt-get"; \
		(apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "browser: chromium could not be installed; the browser test will skip and say why"; }

postgres: ## Install Debian's PostgreSQL server for the services tests when it is missing (apt, about 30 s)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
		{ echo "postgres: installing postgresql with apt-get"; \
		(apt-get update -qq && apt-get install -y -qq postgresql >/dev/null) \
		|| echo "postgres: PostgreSQL could not be installed; the services tests will skip and say why"; }

test: $(STAMP) browser postgres ## Run the whole test suite, browser and services tests included (8 to 9 min here)
	@echo "test: the whole suite, with real MLflow stores, Optuna storage, PostgreSQL, an MLflow server and a headless browser"
	$(BIN)/pytest -q $(XDIST)

test-fast: $(STAMP) ## The edit loop: every test not marked slow (about 3 min here)
	$(BIN)/pytest -q -m "not slow" $(XDIST)

bench: $(BENCH_STAMP) ## Speed figures side by side (benchmarks/bench.py), written to benchmarks/results/
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/bench.py

bench-gpu: $(BENCH_STAMP) ## The GPU figures (benchmarks/gpu.py); says so and stops where there is no CUDA
	$(BIN)/python benchmarks/gpu.py

ui: $(STAMP) ## Open the MLflow UI on the embedded store at http://127.0.0.1:5000
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow ui --backend-store-uri $(STORE) --host 127.0.0.1 --port 5000 --workers 1

services: $(STAMP) ## Start PostgreSQL + an MLflow server on it (mlruns/services/), write mlruns/services.env
	$(BIN)/python scripts/services.py up

services-down: ## Stop what `make services` started (by their pid files)
	$(PYTHON) scripts/services.py down

clean: ## Remove the embedded store's contents (runs, models, studies)
	find mlruns -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
