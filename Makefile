# `make help` lists the targets. Everything runs inside .venv, which `make install` creates.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# CPU=1: PyTorch's CPU-only wheels (no CUDA libraries: about 4 GB less); the stamp records the flavour.
CPU ?=
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
STAMP := $(VENV)/.installed$(if $(filter 1,$(CPU)),-cpu)
# PyTorch's CPU index beside PyPI: its torch 2.x.y+cpu sorts above PyPI's 2.x.y, so pip takes it.
PIP_INDEX := $(if $(filter 1,$(CPU)),--extra-index-url $(TORCH_CPU_INDEX))
# Extra overrides for run.py/pytest, e.g. make demo ARGS="trainer.max_epochs=2 seed=1".
ARGS ?=

.PHONY: help install test test-full demo bench bench-demo lint format clean

help: ## List the targets (ARGS="..." passes overrides to demo, bench and test; CPU=1 installs CPU-only PyTorch)
	@if [ -t 1 ]; then on=$$'\033[36m'; off=$$'\033[0m'; fi; \
	grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
	awk -v on="$$on" -v off="$$off" 'BEGIN {FS = ":.*?## "} {printf "  %s%-10s%s %s\n", on, $$1, off, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev,tensorboard,slurm,optuna,app]' $(PIP_INDEX)
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install lama editable with the dev tools (CPU=1: CPU-only PyTorch)

test: install ## Run the test suite without the slow tests (what CI runs)
	$(BIN)/python -m pytest -m "not slow" $(ARGS)

test-full: install ## Run every test, the slow ones too
	$(BIN)/python -m pytest $(ARGS)

demo: install ## Train a small LAMA on the built-in synthetic dataset, then sample and evaluate
	$(BIN)/python run.py experiment=demo $(ARGS)

bench: install ## Benchmark training, sampling and data loading (prints one JSON line)
	$(BIN)/python run.py task=bench $(ARGS)

bench-demo: install ## Time make demo from nothing and check that its masks beat the filled boxes by 0.05 (one JSON line)
	$(BIN)/python benchmarks/demo_check.py $(ARGS)

lint: install ## ruff check (the gate CI and reviewers use)
	$(BIN)/ruff check .

format: install ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## Remove the virtual environment, caches and outputs
	rm -rf $(VENV) .pytest_cache .ruff_cache outputs multirun .cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
