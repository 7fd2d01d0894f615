# Two commands set up a fresh machine: `make demo` and `make test`.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# numba's on-disk cache survives between processes: the demo and tests pay JIT once.
export NUMBA_CACHE_DIR ?= $(CURDIR)/.numba_cache
export MPLBACKEND ?= Agg
export NO_MKDOCS_2_WARNING ?= 1  # mkdocs-material's banner about its successor
DEMO_DIR ?= demo
DEMO_DB ?= $(DEMO_DIR)/liqbt.duckdb

.PHONY: setup demo test bench lint docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/liqbt demo --dir $(DEMO_DIR)

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# the documentation site (mkdocs + material + mkdocstrings) → site/, offline, strict
docs: $(STAMP)
	$(BIN)/mkdocs build --strict -f docs/mkdocs.yml

lint: $(STAMP)
	$(BIN)/ruff check liqbt strategies tests benchmarks

clean:
	rm -rf $(DEMO_DIR) .numba_cache .pytest_cache site
