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

bench: $(STAMP)
	$(PY) benchmarks/bench_engine.py
	$(PY) benchmarks/bench_glm.py

clean:
	rm -rf $(VENV) tour-output .pytest_cache .mypy_cache
