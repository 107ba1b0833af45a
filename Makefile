# `make help` lists the targets. Everything runs inside .venv, which `make install` creates.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: help install test test-full demo bench lint format clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "} {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev,slurm]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install lama in editable mode with the dev tools (no-op when up to date)

test: install ## Run the test suite without the slow tests (what CI runs)
	$(BIN)/python -m pytest -m "not slow" $(ARGS)

test-full: install ## Run every test, the slow ones too
	$(BIN)/python -m pytest $(ARGS)

demo: install ## Train a small LAMA on the built-in synthetic dataset, then sample and evaluate
	$(BIN)/python run.py experiment=demo $(ARGS)

bench: install ## Benchmark training, sampling and data loading (prints one JSON line)
	$(BIN)/python run.py task=bench $(ARGS)

lint: install ## ruff check (the gate CI and reviewers use)
	$(BIN)/ruff check .

format: install ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## Remove the virtual environment, caches and outputs
	rm -rf $(VENV) .pytest_cache .ruff_cache outputs multirun .cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
