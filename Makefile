# Two entry points for a new user: `make demo` (the main job) and `make test` (the test suite).
# Each creates .venv when it is missing; nothing else needs installing by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test gate bench install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/perfkit compare experiments/default.toml

test: $(STAMP)
	$(BIN)/python -m pytest -q

# perfkit gates itself: answers on a small fixed ARC task set, and CPU against the committed
# baseline (same machine: raw CPU; another machine: normalised by the calibration workload)
gate: $(STAMP)
	$(BIN)/perfkit gate --baseline ci-arc --metric cpu --threshold 50% --store reports/runs/gate

bench: $(STAMP)
	$(BIN)/python -m pytest tests/benchmarks --benchmark-enable --benchmark-only

clean:
	rm -rf $(VENV) reports/runs
