PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PLUGINS := $(sort $(dir $(wildcard plugins/*/pyproject.toml)))
PLUGIN_PACKAGES := $(foreach p,$(PLUGINS),$(wildcard $(p)webagents_*))

.PHONY: demo test unit lint typecheck setup services clean bench bench-quick

setup: $(STAMP)

# One pip call, so the plugins' "webagents-net" dependency resolves to this checkout.
# The distribution "webagents" (this project before 0.2, or the unrelated PyPI project of that
# name) would claim the same import package, so it is removed first.
$(STAMP): pyproject.toml $(addsuffix pyproject.toml,$(PLUGINS))
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip uninstall -qq --yes webagents
	$(BIN)/python -m pip install --quiet -e ".[dev]" $(addprefix -e ,$(PLUGINS))
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/customer_service.py

# redis-server and PostgreSQL for the session-store and ledger tests, wrk for a benchmark
# test, Graphviz for the team-graph drawings and Chromium with its driver for the
# playground's browser tests (Debian packages).
services:
	bash scripts/install-services.sh

unit: $(STAMP) services
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check webagents tests examples plugins bench
	$(BIN)/ruff format --check webagents tests examples plugins bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict webagents $(PLUGIN_PACKAGES) tests/test_typing.py

test: unit lint typecheck

# wrk (Debian package) loads the server in the benchmark.
bench: $(STAMP)
	bash scripts/install-wrk.sh
	$(BIN)/python bench/run.py

bench-quick: $(STAMP)
	bash scripts/install-wrk.sh
	$(BIN)/python bench/run.py --quick

clean:
	rm -rf $(VENV) bench/.peer-venv
