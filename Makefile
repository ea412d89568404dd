# `make study` and `make test` are the only commands a fresh machine needs: both install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
STORE := sqlite:///$(CURDIR)/mlruns/mlflow.db
export MLFLOW_DISABLE_TELEMETRY := true

.DEFAULT_GOAL := help
.PHONY: help install browser study test ui clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@echo "install: .venv with torch 2.13 (CPU), mlflow 3.17, optuna 5 and the harness; usually 1 to 4 minutes"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@echo "install: done; next: make study, make test, make ui"
	touch $(STAMP)

install: $(STAMP) ## Make .venv and install the harness with its pinned stack

study: $(STAMP) ## Run the house-prices study on the embedded store (mlruns/)
	$(BIN)/harness study experiments/house_prices.yaml

browser: ## Install Debian's chromium for the browser test when it is missing (apt, about 20 s)
	@command -v chromium >/dev/null || { echo "browser: installing chromium with apt-get"; \
		(apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "browser: chromium could not be installed; the browser test will skip and say why"; }

test: $(STAMP) browser ## Run the whole test suite, the browser test included (about 15 to 35 minutes here)
	@echo "test: the whole suite, with real MLflow stores, Optuna storage and a headless browser"
	$(BIN)/pytest -q

ui: $(STAMP) ## Open the MLflow UI on the embedded store at http://127.0.0.1:5000
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow ui --backend-store-uri $(STORE) --host 127.0.0.1 --port 5000 --workers 1

clean: ## Remove the embedded store's contents (runs, models, studies)
	find mlruns -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
