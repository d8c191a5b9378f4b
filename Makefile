# Two entry points for a new user: `make demo` (the main job) and `make test` (the test suite).
# Each creates .venv when it is missing; nothing else needs installing by hand.
#
# Installs are reproducible: .venv is synced from the committed uv.lock (exact versions and the
# sha256 of every file, for every platform and Python >= 3.11), never resolved afresh. uv, because
# one well-kept tool does all of it: a universal lock from pyproject.toml's ranges, hash-checked
# installs, and an exact sync (a package the lock does not list is removed from .venv); it ignores
# pip's configuration, so every install comes from PyPI. uv itself is bootstrapped here with the
# machine's pip, pinned by version and hashes in requirements-uv.txt (written by `make lock`).
PYTHON ?= python3
UV_VERSION := 0.13.9
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
UV := $(TOOLS)/bin/uv
STAMP := $(VENV)/.installed
NEWEST := .venv-newest

# uv uses this machine's python3 (never downloads one) and syncs into .venv.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# pip's own configuration (extra indexes, find-links) must not reach the uv bootstrap.
PIP := $(TOOLS)/bin/python -m pip --isolated --disable-pip-version-check

.PHONY: demo test test-quick gate baseline bench install lock check-newest clean

$(UV): requirements-uv.txt
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(PIP) install --quiet --require-hashes --no-deps -r requirements-uv.txt
	touch $(UV)

# --locked: fail, rather than re-resolve, when pyproject.toml changed without `make lock`.
# --compile-bytecode, and compileall for perfkit's own modules: every interpreter perfkit and its
# tests start (workers, CLI subprocesses) would otherwise compile pandas, pyarrow and the rest
# afresh where Python may not write its bytecode cache (PYTHONDONTWRITEBYTECODE, a read-only
# checkout): about 3 s a start instead of under 1 s (docs/testing.md).
$(STAMP): $(UV) uv.lock pyproject.toml
	$(UV) sync --locked --extra test --extra bench --compile-bytecode --python $(PYTHON) --quiet
	$(BIN)/python -m compileall -q perfkit
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/perfkit compare experiments/default.toml

# the whole suite; `make test-quick` is the quick subset (tests not marked slow), see docs/testing.md.
# One pytest worker per core (pytest-xdist): most tests wait on workers, timeouts and subprocesses,
# so two cores halve the wall. Tests are handed out one at a time, longest first (the order is
# tests/conftest.py's; --no-loadscope-reorder keeps it), so no worker ends alone in a long file;
# tests sharing an expensive module fixture (a Dask cluster) carry one xdist_group and stay on one
# worker. Every test must pass beside another test anyway (docs/testing.md).
XDIST := -n auto --dist loadgroup --no-loadscope-reorder
test: $(STAMP)
	$(BIN)/python -m pytest -q $(XDIST)

test-quick: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" $(XDIST)

# perfkit gates itself: answers on two ARC tasks, then the instruction count of the run under
# valgrind against the committed baseline at ±2 % (exact on one build, so tight and never a false
# alarm). When the baseline was counted on another build (Python, dependencies, CPU), the revision
# that committed it is measured here instead (--rebuild-incompatible): see README, "The gate".
CI_BENCHMARK := --solver arc --tasks arc1-training:017c7c7b,025d127b
gate: $(STAMP)
	$(BIN)/perfkit gate --baseline ci-arc --metric instructions --instruction-threshold 2% \
	    --rebuild-incompatible --store reports/runs/gate

# Re-record the committed baseline (after an intended change of the instruction count).
baseline: $(STAMP)
	$(BIN)/perfkit baseline save ci-arc $(CI_BENCHMARK) --repeats 2 --instructions --store reports/runs/baseline

bench: $(STAMP)
	$(BIN)/python -m pytest tests/benchmarks --benchmark-enable --benchmark-only

# Refresh the lock: the newest versions pyproject.toml's ranges allow (uv.lock, exported as pylock.toml), and the pinned uv's hashes.
lock:
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(PIP) install --quiet 'uv==$(UV_VERSION)'
	echo 'uv==$(UV_VERSION)' | $(UV) pip compile - --generate-hashes --universal --quiet \
	    --custom-compile-command 'make lock' --output-file requirements-uv.txt
	$(UV) lock --upgrade --python $(PYTHON)
	# the same pins in the standard format (PEP 751), for installers other than uv
	$(UV) export --format pylock.toml --extra test --extra bench --no-emit-project --quiet -o pylock.toml

# CI-style check that perfkit still works with the newest versions its ranges allow (ignoring the
# lock): a throwaway environment, resolved afresh, running the command-line and quick tests.
check-newest: $(UV)
	rm -rf $(NEWEST)
	$(UV) venv --quiet --python $(PYTHON) $(NEWEST)
	$(UV) pip install --quiet --python $(NEWEST)/bin/python --resolution highest -e '.[test]'
	$(NEWEST)/bin/python -m pytest -q -m "not slow" -p no:cacheprovider

clean:
	rm -rf $(VENV) $(NEWEST) $(TOOLS) reports/runs
