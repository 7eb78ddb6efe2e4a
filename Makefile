# Everything runs from a project-local virtualenv so a fresh machine needs only Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
DATA ?= .hashbank

.PHONY: run test lint bench demo fuzz soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install whenever pyproject.toml changes, so a new dependency can't hide behind an old venv.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	@test -f $(DATA)/identity.key || $(BIN)/hashbank init --data $(DATA) --name "Local helpline"
	$(BIN)/hashbank run --data $(DATA)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy protocol node

test: lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/protocol.py
	$(BIN)/python bench/propagation.py
	$(BIN)/python bench/bootstrap.py
	$(BIN)/python bench/match.py

demo: $(STAMP)
	$(BIN)/python -m node.demo

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
