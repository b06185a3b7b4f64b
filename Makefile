# The two commands of the README: `make build` (compile policy_specs/ into generated/) and
# `make test` (the whole test suite). Each creates .venv and installs the project when missing.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp

.PHONY: build test check lint bench clean-venv

build: $(STAMP)
	$(VENV)/bin/dqmc build

test: $(STAMP)
	$(VENV)/bin/python -m pytest

check: $(STAMP)
	$(VENV)/bin/dqmc check policy_specs/

# The code's own checks (also pre-commit hooks, run by .ci/run): lint, types, import layers.
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# The benchmarks of bench/ (peers measured side by side in one run); see bench/RESULTS.md.
bench: $(BENCH_STAMP)
	$(VENV)/bin/python bench/run.py

$(BENCH_STAMP): $(STAMP)
	$(VENV)/bin/python -m pip install --quiet -e '.[test,spark,bench]'
	touch $(BENCH_STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test,spark]'
	touch $(STAMP)

clean-venv:
	rm -rf $(VENV)
