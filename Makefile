# Two commands for a newcomer: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test e2e lint typecheck unit render-check golden bench clean

# The editable install imports istio_vault_ca.generator / istio_vault_ca.verify from these links (pyproject.toml).
DEVLINKS := build/dev/istio_vault_ca/.linked

$(DEVLINKS):
	@mkdir -p build/dev/istio_vault_ca
	@ln -sfn ../../../generator build/dev/istio_vault_ca/generator
	@ln -sfn ../../../verify build/dev/istio_vault_ca/verify
	@touch $@

$(STAMP): pyproject.toml $(DEVLINKS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[rehearse,test]'
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: $(STAMP)
	$(BIN)/istio-vault-ca render -o out
	$(BIN)/istio-vault-ca rehearse

test: $(STAMP) lint typecheck
	$(BIN)/istio-vault-ca render --check -o out
	$(BIN)/python -m pytest -n 2 -p no:cacheprovider -m "not e2e"

# The real-Kubernetes tier: etcd, kube-apiserver and kube-controller-manager built from Go modules (tests/e2e/kube,
# needs Go 1.26). tests.e2e.cluster builds each through tests/gobuild.py (cached; one after the other, as a cold
# kube-apiserver build alone keeps two cores busy for many minutes) with the version stamp the fixture uses.
e2e: $(STAMP)
	$(BIN)/python -m tests.e2e.cluster
	$(BIN)/python -m pytest tests/e2e tests/fidelity -m e2e -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check generator verify tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit -p no:cacheprovider

render-check: $(STAMP)
	$(BIN)/istio-vault-ca render --check -o out

# Re-render out/ and the golden trees after an intended change to templates or examples.
golden: $(STAMP)
	$(BIN)/istio-vault-ca render -o out
	$(BIN)/python -m tests.golden_refresh

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) dist build .mypy_cache .ruff_cache .pytest_cache
