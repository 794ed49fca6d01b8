# The two commands of the README: `make preview` (offline preview of a stack) and `make test` (the whole suite).
STACK ?= dev
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: preview test lint typecheck schemas bench-tuning mutation clean

# The first run installs Pulumi, the providers' SDKs and the test tools (about a minute): pip shows its progress.
$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing Python packages into $(VENV) (first run only, about a minute)..."
	$(PY) -m pip install --disable-pip-version-check --progress-bar on -r requirements-dev.txt
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

# Mutation testing of the logic modules ([tool.mutmut] in pyproject.toml; README: Tests). Not part of `make test`:
# a full run is about 6,000 mutants, about an hour on 2 cores; SAMPLE=n tests every n-th mutant of each module.
SAMPLE ?= 1
JOBS ?= 2
mutation: $(STAMP) requirements-mutation.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-mutation.txt
	$(PY) tools/mutation_report.py run --sample $(SAMPLE) --jobs $(JOBS)

clean:
	rm -rf build .pytest_cache .ruff_cache
