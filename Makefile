# `make run` and `make test` set up everything they need in .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# Two workers: most of the suite waits on processes it starts, so two share the cores.
PYTEST_WORKERS ?= 2

.PHONY: run test lint typecheck check bench inspect clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml setup.cfg
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/cpm-stack --demo

test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy services clients nameserver tools tests

check: lint typecheck test

bench: $(STAMP)
	$(BIN)/cpm-bench

inspect: $(STAMP)
	$(BIN)/cpm-inspect --watch

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
