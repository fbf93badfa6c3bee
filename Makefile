# The two commands a new user needs: `make run` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/forecast demo
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/forecast serve

test: $(STAMP)
	$(BIN)/ruff check src training serving tests bench
	$(BIN)/ruff format --check src training serving tests bench
	$(BIN)/mypy
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check --fix src training serving tests bench
	$(BIN)/ruff format src training serving tests bench

clean:
	rm -rf $(VENV) .state
