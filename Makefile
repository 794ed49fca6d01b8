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

# The policy pack (policy/, README: Policy pack) over the offline plan of a stack: no CLI, no cloud.
.PHONY: policy
policy: $(STAMP)
	$(PY) tools/policy_check.py --stack $(STACK)

# What-if sizing (README: Sizing model): candidate fleets for a target, cheapest first. ARGS="--connections N ...";
# `--plot FILE.png` draws cost against connections, so matplotlib is installed for this target only.
size: $(STAMP)
	$(if $(findstring --plot,$(ARGS)),$(PY) -m pip install --quiet --disable-pip-version-check matplotlib,)
	$(PY) tools/size.py $(ARGS)

# The seed scenario: the planner's fleet against the seed's 5 x ecs.c7.16xlarge and the previous 3 + 3 plan.
bench-sizing: $(STAMP)
	$(PY) tools/bench_sizing.py

# schema/stack-config.schema.json from the settings and the README's configuration reference (README: Editor support).
.PHONY: config-schema
config-schema: $(STAMP)
	$(PY) tools/config_schema.py

# The offline plan of STACK at BASE and in the working tree, as a Markdown diff (README: Reviewing a change).
BASE ?= origin/main
.PHONY: diff
diff: $(STAMP)
	@$(PY) tools/plan_diff.py --stack $(STACK) --base $(BASE)
