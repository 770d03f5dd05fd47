# Everything a fresh machine needs, from nothing but Python 3.10+ and pip.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
UV_RUN := $(UV) run --frozen --extra local
# pytest-xdist workers of `make test`'s unit and real-Airflow tiers (0: one process).
TEST_WORKERS ?= 2

.PHONY: demo demo-k8s test test-quick test-system lint unit bootstrap system-packages clean

bootstrap:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	@$(UV) sync --frozen --extra local

## The example DAG end to end on a local Ray head (no Kubernetes needed).
demo: bootstrap
	$(UV_RUN) python -m devtools.demo

## The Kubernetes example DAG end to end on the test control plane (or the cluster in KUBECONFIG).
demo-k8s: bootstrap system-packages k8s-prepare
	$(UV_RUN) python -m devtools.demo_k8s

## The whole test suite: lint, types, then every tier (the k8s tier builds its harness first).
test: bootstrap system-packages lint k8s-prepare
	@# Both parts run to the end (each lists its slowest tests: where CI time goes).
	@status=0; \
	$(MAKE) --no-print-directory test-quick || status=1; \
	$(MAKE) --no-print-directory test-system || status=1; \
	exit $$status

## The unit and real-Airflow tiers, split over both cores: pytest-xdist workers, each a session with its own
## Airflow home (tests/support/parallel.py).
test-quick: bootstrap
	$(UV_RUN) pytest -n $(TEST_WORKERS) -rs --durations=10 tests/unit tests/airflow

## The real Ray, Kubernetes and deploy tiers, in one process: two workers each running Ray pods overloaded
## this 2-core machine (load 12; four real-pod tests failed).
test-system: bootstrap system-packages
	@$(MAKE) --no-print-directory k8s-prepare KUEUE_BUILD=
	$(UV_RUN) pytest -rs --durations=40 tests/ray tests/k8s tests/deploy

lint: bootstrap
	$(UV_RUN) ruff check .
	$(UV_RUN) ruff format --check .
	$(UV_RUN) mypy

## Debian packages the test tiers need (iproute2, postgresql, chromium), installed when missing.
system-packages:
	@bash devtools/system_packages.sh

## Only the fast unit tier.
unit: bootstrap
	$(UV_RUN) pytest tests/unit

clean:
	rm -rf .demo dist .pytest_cache .mypy_cache .ruff_cache

-include harness/harness.mk
-include benchmarks/bench.mk
-include devtools/matrix/matrix.mk
