# The two commands of the README: `make preview` (offline preview of a stack) and `make test` (the whole suite).
STACK ?= dev
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: preview test lint typecheck schemas bench-tuning clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

preview: $(STAMP)
	$(PY) -m preview --stack $(STACK)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/actionlint .github/workflows/*.yml

typecheck: $(STAMP)
	$(VENV)/bin/pyright

# Schemas for cert-manager and Prometheus Operator kinds, generated from their CRDs by PyPI packages (build/schemas).
schemas: $(STAMP)
	$(PY) -m tests.schemas_thirdparty

test: $(STAMP) lint typecheck schemas
	$(VENV)/bin/pytest

bench-tuning: $(STAMP)
	$(PY) tools/bench_tuning.py

clean:
	rm -rf build .pytest_cache .ruff_cache
