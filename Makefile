# `make study` and `make test` are the only commands a fresh machine needs: both install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
STORE := sqlite:///$(CURDIR)/mlruns/mlflow.db
export MLFLOW_DISABLE_TELEMETRY := true

.DEFAULT_GOAL := help
.PHONY: help install study test ui clean services services-down

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Make .venv and install the harness with its pinned stack

study: $(STAMP) ## Run the house-prices study on the embedded store (mlruns/)
	$(BIN)/harness study experiments/house_prices.yaml

test: $(STAMP) ## Run the whole test suite (real MLflow stores and Optuna storage in temp folders)
	$(BIN)/pytest -q

ui: $(STAMP) ## Open the MLflow UI on the embedded store at http://127.0.0.1:5000
	$(BIN)/mlflow ui --backend-store-uri $(STORE) --host 127.0.0.1 --port 5000 --workers 1

services: $(STAMP) ## Start PostgreSQL + an MLflow server on it (mlruns/services/), write mlruns/services.env
	$(BIN)/python scripts/services.py up

services-down: ## Stop what `make services` started (by their pid files)
	$(PYTHON) scripts/services.py down

clean: ## Remove the embedded store's contents (runs, models, studies)
	find mlruns -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
