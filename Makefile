# Two commands: `make demo` and `make test`. Both create .venv on first use.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all bench validate clean

$(BIN)/python:
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/seedsoil run examples/breast_surgery.toml --out out/demo --force
	$(BIN)/seedsoil tissue examples/tissue_edge.toml --out out/tissue_demo --force

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m "slow or not slow"

validate: $(STAMP)
	$(BIN)/seedsoil validate

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e ".[test,bench]"
	$(BIN)/python benchmarks/bench_body.py
	$(BIN)/python benchmarks/bench_cell.py
	$(BIN)/python benchmarks/bench_trial.py
	$(BIN)/python benchmarks/bench_relapse.py
	$(BIN)/python benchmarks/bench_mechanisms.py
	$(BIN)/python benchmarks/bench_fit.py
	$(BIN)/python benchmarks/bench_tissue.py

clean:
	rm -rf $(VENV) out .pytest_cache
