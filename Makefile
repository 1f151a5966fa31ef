SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

PYTHON ?= python3.11
VENV := .venv
VENV_PY := $(VENV)/bin/python
LOCALKAFKA := -m services.common.localkafka
# Extra arguments: make broker-start BROKER_ARGS="--port 29092", make test PYTEST_ARGS="-k commit -x"
BROKER_ARGS ?=
PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: venv jars broker-start broker-stop broker-status test reliability demo contracts bench clean

venv: $(VENV)/.stamp

# Rebuilt only when pyproject.toml changes; the stamp is written last, so a failed install retries.
$(VENV)/.stamp: pyproject.toml
	[[ -x $(VENV_PY) ]] || $(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

jars: venv
	$(VENV_PY) $(LOCALKAFKA) jars

broker-start: venv jars
	$(VENV_PY) $(LOCALKAFKA) start $(BROKER_ARGS)

broker-stop: venv
	$(VENV_PY) $(LOCALKAFKA) stop $(BROKER_ARGS)

broker-status: venv
	$(VENV_PY) $(LOCALKAFKA) status $(BROKER_ARGS)

# The tests start their own broker on free ports (or use $KAFKA_BOOTSTRAP_SERVERS) and stop it.
test: venv jars
	$(VENV_PY) -m pytest -q tests/ $(PYTEST_ARGS)

# Crash/restart tests with real processes; their figures go into docs/reliability.md.
reliability: venv jars
	$(VENV_PY) -m pytest -q tests/reliability $(PYTEST_ARGS)
	$(VENV_PY) scripts/reliability_report.py --write

demo: venv jars
	$(VENV)/bin/degflex demo $(DEMO_ARGS)

# Planner benchmarks (figures in docs/benchmarks.md): solver scale, then the policy evaluation.
bench: venv jars
	if [[ -f bench/planner_scale.py ]]; then $(VENV_PY) bench/planner_scale.py; fi
	$(VENV_PY) bench/evaluate.py
	$(VENV_PY) bench/settlement_scale.py
	$(VENV_PY) bench/shift_policy.py
	$(VENV_PY) bench/beckn_signing.py
	$(VENV_PY) bench/metering_throughput.py
	$(VENV_PY) bench/site_agent.py
	$(VENV_PY) bench/fulfilment_latency.py

# Regenerate the exported JSON Schemas, JSON-LD checks and topic catalogue after a model change.
contracts: venv
	$(VENV_PY) -m contracts.export

# localkafka is stdlib only, so the dev broker can be stopped even without the venv.
clean:
	if [[ -d .run/kafka ]]; then $(PYTHON) $(LOCALKAFKA) stop $(BROKER_ARGS); fi
	rm -rf $(VENV) .cache .run .pytest_cache build *.egg-info
