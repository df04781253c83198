VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint typecheck pytest docs bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ".[test,bench]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/likely tour --out tour-output

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	$(PY) -m pytest -n 2 -q

.PHONY: fuzz
fuzz: $(STAMP)  # the adversarial suite with many hypothesis examples and the slow checks
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -n 2 -q tests/adversarial

docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict

test: lint typecheck pytest docs

bench: $(STAMP)  # every benchmark at the issues' sizes (about an hour; Dask: 8 GB of Parquet)
	$(PY) benchmarks/bench_engine.py
	$(PY) benchmarks/bench_glm.py
	$(PY) benchmarks/bench_study.py
	$(PY) benchmarks/bench_cox.py --repeat 1 --no-statsmodels-above 200000
	$(PY) benchmarks/bench_aft.py
	$(PY) benchmarks/bench_latent.py
	$(PY) benchmarks/bench_choice.py --repeat 2
	$(PY) benchmarks/bench_dask.py

.PHONY: bench-quick
bench-quick: $(STAMP)  # the same scripts at small sizes (a few minutes)
	$(PY) benchmarks/bench_engine.py --quick
	$(PY) benchmarks/bench_glm.py --quick
	$(PY) benchmarks/bench_study.py --quick
	$(PY) benchmarks/bench_cox.py --quick
	$(PY) benchmarks/bench_aft.py --quick
	$(PY) benchmarks/bench_latent.py --quick
	$(PY) benchmarks/bench_choice.py --quick
	$(PY) benchmarks/bench_dask.py --quick --skip-peers

clean:
	rm -rf $(VENV) tour-output .pytest_cache .mypy_cache
