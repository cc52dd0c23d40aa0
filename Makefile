# Set-up and everyday commands. Every target creates .venv and installs into it first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test check integration format clean test-real-llm

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

## test-real-llm: the conversations and attack messages against a real llama.cpp server
## (builds llama-cpp-python into ~/.cache/support-swarm/llama-venv the first time: minutes)
test-real-llm: $(VENV)/.dev
	scripts/real_llm_server.sh build
	$(BIN)/python scripts/real_llm_check.py \
		--llama-python "$$(scripts/real_llm_server.sh python)" \
		--model-file "$$(scripts/real_llm_server.sh model)" \
		--json-out .support-swarm-real-llm.json

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
