"""Fault injection: sample and task budgets mean what their names say under every strategy and
on every worker (issue 12, fault 8).

The work is built so that no timing can change the answer: every sample's first candidate sleeps
(GIL-free) three times the budget, and the other units are instant. A sample's
budget runs from its first start, so the units that start after that first one can only be
skipped, whichever strategy cut the work and whichever worker runs it.
"""

from __future__ import annotations

import pytest
from builders import KEY

from perfkit import load_run, runner
from perfkit.model import RunConfig, TimeoutPolicy

STRATEGIES = ["sequential", "sample-parallel", "candidate-parallel", "hybrid"]
SLOW_S, BUDGET_S = 0.15, 0.05


def budget_run(tmp_path, strategy: str, backend: str, workers: int, slow_s: float = SLOW_S, **budgets) -> "object":
    config = RunConfig(solver="synthetic", tasks="synthetic:1x1+1", strategy=strategy, backend=backend,
                       workers=workers, chunk_size=2, timeout=TimeoutPolicy(5.0, **budgets),
                       solver_options={"candidates": 6, "cpu_ms": 0, "sleep_ms": 1,
                                       "faults": f"slow={slow_s * 1000:g}:c000"},
                       plugins=("plugins.budget_strategy",))
    return load_run(runner.run(config, tmp_path / f"{strategy}-{backend}").path).units


def skipped_keys(units) -> set[tuple]:
    return set(units[units.status == "skipped"][KEY].itertuples(index=False, name=None))


@pytest.mark.slow
@pytest.mark.parametrize("budget", ["sample_budget_s", "task_budget_s"])
def test_the_same_units_are_skipped_under_every_strategy(tmp_path, budget):
    """One worker, so that parallelism cannot legitimately start more units in time: the skipped
    units are a function of the work alone. Per sample: c000 runs, the rest is skipped; per
    task: the first sample's c000 runs, everything else is skipped."""
    skipped = {s: skipped_keys(budget_run(tmp_path, s, "thread", 1, **{budget: BUDGET_S})) for s in STRATEGIES}
    reference = skipped["sequential"]
    first_only = {("syn-000", "demo", 0, "c000")} if budget == "task_budget_s" else set()
    starts = {"c000"} if budget == "sample_budget_s" else set()
    units = budget_run(tmp_path, "sequential", "inline", 1, slow_s=0, **{budget: 1000.0})  # every unit
    expected = {k for k in map(tuple, units[KEY].itertuples(index=False, name=None))
                if k[3] not in starts and k not in first_only}
    assert reference == expected
    for strategy, keys in skipped.items():
        assert keys == reference, f"{strategy} skipped {sorted(keys ^ reference)} differently from sequential"


@pytest.mark.slow  # over half a second (session 14: the quick subset's time)
def test_a_sample_started_on_one_worker_is_over_budget_on_every_other(tmp_path):
    """Two worker processes; the plan (tests/plugins/budget_strategy.py) makes a worker start a
    sample's third unit after its own 0.3 s unit of another sample, while the first sample began
    on the other worker at the start: that unit must be skipped, as under sequential."""
    budget_s = 0.1  # a wider margin: a worker may start its first item late on a loaded machine
    units = budget_run(tmp_path, "cross-worker", "process", 2, slow_s=3 * budget_s, sample_budget_s=budget_s)
    ran = units[units.started.notna()]
    first = ran.groupby(["split", "index"]).started.min()
    for row in ran.itertuples():
        assert row.started <= first[(row.split, row.index)] + budget_s + 0.05, \
            f"{row.split}[{row.index}] {row.candidate} started {row.started - first[(row.split, row.index)]:.3f} s " \
            f"after its sample's first unit, past the {budget_s} s budget"
    assert (units[units.candidate == "c000"].status == "ok").all()
