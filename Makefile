# Two commands matter: `make run` (deploy the dev stack on a local control
# plane) and `make test` (every suite, real engine included). Both set up what
# they need on a fresh machine.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test venv lint unit debian toolchain cluster-up cluster-down e2e

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt policies/requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $@

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@# One mypy run per tree: pytest's conftest.py files and the two __main__.py
	@# (program, policy pack) would otherwise be duplicate module names.
	$(VENV)/bin/mypy __main__.py components kgot_rollout benchmarks
	$(VENV)/bin/mypy policies
	for suite in tests/*/; do $(VENV)/bin/mypy "$$suite" || exit 1; done

unit: venv
	$(VENV)/bin/pytest -m "unit or policies or rollout"

debian:
	./toolchain/debian-packages.sh

toolchain:
	./toolchain/build.sh

cluster-up: toolchain
	./toolchain/cluster.sh up

cluster-down:
	./toolchain/cluster.sh down

# KGOT_KUBECONFIG names another cluster: then no local control plane is started.
run: venv toolchain
	@[ -n "$$KGOT_KUBECONFIG" ] || ./toolchain/cluster.sh up
	./toolchain/deploy-dev.sh

e2e: venv toolchain
	$(VENV)/bin/pytest -m e2e

test: venv debian toolchain lint
	$(VENV)/bin/pytest
