# Set-up and everyday commands. Every target creates .venv and installs into it first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test check integration format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(VENV)/.runtime $@

## demo: run the standard conversations through the graph (embedded model, no API key)
demo: $(VENV)/.runtime
	$(BIN)/support-swarm demo

## test: run the whole test suite, offline
test: $(VENV)/.dev
	$(BIN)/pytest -q

## check: lint, format check and type check
check: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## format: apply ruff's fixes and formatting
format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .support-swarm .pytest_cache .mypy_cache .ruff_cache
