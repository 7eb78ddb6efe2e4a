# Everything runs from a project-local virtualenv so a fresh machine needs only Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
DATA ?= .hashbank
# The browser tests (tests/web) and bench/browser_hash.py drive Debian's Chromium through
# Playwright; Playwright's own browser download cannot work on these machines.
CHROMIUM := /usr/bin/chromium

.PHONY: run test lint bench demo fuzz soak clean chromium

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

# Installs Debian's chromium when it is missing (CI runs as root); fails clearly when it cannot.
chromium:
	@test -x $(CHROMIUM) || { echo "make: $(CHROMIUM) is missing; installing Debian's chromium"; \
		{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } \
		|| { echo "make: could not install chromium with apt-get (run as root, or install" \
			"Debian's chromium package yourself): tests/web needs $(CHROMIUM)" >&2; exit 1; }; }
	@test -x $(CHROMIUM) || { echo "make: $(CHROMIUM) is still missing" >&2; exit 1; }

test: lint chromium
	$(BIN)/python -m pytest -q

bench: $(STAMP) chromium
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/protocol.py
	$(BIN)/python bench/propagation.py
	$(BIN)/python bench/bootstrap.py
	$(BIN)/python bench/match.py
	$(BIN)/python bench/browser_hash.py

demo: $(STAMP)
	$(BIN)/python -m node.cli.demo

# Coverage-guided fuzzing of the entry and charter decoders (atheris/libFuzzer) for FUZZ_SECONDS.
# atheris is installed here, not in the dev extra, so `make test` never pays for it. The corpus
# and any crash inputs stay in $(FUZZ_DIR); a crash fails the target.
FUZZ_SECONDS ?= 60
FUZZ_DIR ?= build/fuzz
fuzz: $(STAMP)
	@$(BIN)/python -c "import atheris" 2>/dev/null || $(BIN)/python -m pip install --quiet atheris \
		|| { echo "make fuzz: atheris could not be installed for $$($(BIN)/python --version)" \
			"(no wheel for this platform, and building one needs clang with libFuzzer)" >&2; exit 1; }
	@mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/crashes
	$(BIN)/python tests/fuzz/atheris_decoders.py -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
		-print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/crashes/ $(FUZZ_DIR)/corpus

# The kill -9 crash tests with many more rounds than `make test` runs (SOAK_ROUNDS).
SOAK_ROUNDS ?= 500
soak: $(STAMP)
	HASHBANK_SOAK_ROUNDS=$(SOAK_ROUNDS) $(BIN)/python -m pytest -q -p no:cacheprovider \
		tests/integration/test_crash_soak.py tests/integration/test_crash.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
