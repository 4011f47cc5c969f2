# Two commands matter: `make run` (deploy the dev stack on a local control
# plane) and `make test` (every suite, real engine included). Both set up what
# they need on a fresh machine.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test venv lint unit debian toolchain cluster-up cluster-down cluster-status e2e go-test verify-images

venv: $(VENV)/.installed

# contract/ is installed (editable) through policies/requirements.txt; its files
# are listed so a change of its metadata or modules reinstalls it.
$(VENV)/.installed: requirements.txt requirements-dev.txt policies/requirements.txt pyproject.toml \
		contract/pyproject.toml $(wildcard contract/kgot_contract/*.py)
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
	$(VENV)/bin/mypy contract
	for suite in tests/*/; do $(VENV)/bin/mypy "$$suite" || exit 1; done

unit: venv
	$(VENV)/bin/pytest -m "unit or policies or rollout"

debian:
	./toolchain/debian-packages.sh

toolchain:
	./toolchain/build.sh

cluster-up: debian toolchain
	./toolchain/cluster.sh up

cluster-down:
	./toolchain/cluster.sh down

cluster-status:
	./toolchain/cluster.sh status

# The stand-in service and the pause process of the local images (Go, stdlib only).
GO := GOTOOLCHAIN=local CGO_ENABLED=0 go
go-test:
	@unformatted=$$(gofmt -l images); [ -z "$$unformatted" ] || { echo "gofmt: $$unformatted"; exit 1; }
	cd images/standin && $(GO) vet ./... && $(GO) test ./...
	cd images/pause && $(GO) vet ./... && $(GO) test ./...

# The pack's verified-digests file for STACK: every image the stack deploys,
# checked with cosign against the registry and the key the stack trusts
# (security.signing). Pass it on: python -m kgot_policies.stack_config $(STACK)
# --verified-digests build/verified-$(STACK).txt
STACK ?= dev
verify-images: venv
	source toolchain/env.sh && PYTHONPATH=policies $(PY) -m kgot_policies.verify_images \
		$(STACK) -o build/verified-$(STACK).txt

# KGOT_KUBECONFIG names another cluster: then no local control plane is started.
run: venv debian toolchain
	@[ -n "$$KGOT_KUBECONFIG" ] || ./toolchain/cluster.sh up
	./toolchain/deploy-dev.sh

e2e: venv debian toolchain
	$(VENV)/bin/pytest -m e2e

# The slowest setups and tests are printed so CI's log shows where the time goes.
test: venv debian toolchain lint go-test
	$(VENV)/bin/pytest --durations=40
