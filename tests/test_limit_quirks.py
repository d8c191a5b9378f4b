"""Quirks of a real solver at its time limit (arc-dsl, docs/benchmarks.md "Session 9"), each
reproduced with a plugin solver of tests/plugins/limit_solvers.py: a program that raises after
most of its limit, one that never finishes in time, one whose memory rises before its worker is
killed at the timeout."""

from __future__ import annotations

import pytest
from builders import SAMPLES, make_run, make_task, parallel, unit_rows

import perfkit
from perfkit.analysis.answers import BOUNDARY_FLIP
from perfkit.analysis.comparison import analyse
from perfkit.analysis.metrics.memory import item_memory
from perfkit.analysis.text import percent
from perfkit.model import RunConfig, TimeoutPolicy

#: The units' limit: ``gives_up`` searches 60 % of it (a boundary unit), 180 % under load.
TIMEOUT_S = 0.2


def config(solver: str, strategy: str, backend: str, workers: int, repeat: int = 0, timeout_s: float = TIMEOUT_S,
           **options) -> RunConfig:
    return RunConfig(solver=f"plugins.limit_solvers:{solver}", tasks="hand-made", strategy=strategy, backend=backend,
                     workers=workers, timeout=TimeoutPolicy(timeout_s), solver_options=options, repeat=repeat)


@pytest.fixture(scope="module")
def late(tmp_path_factory):
    """Two sequential runs on a quiet machine, then candidate-parallel on threads under load."""
    store = tmp_path_factory.mktemp("runs")
    load = store / "load"
    options = {"search_s": 0.6 * TIMEOUT_S, "hopeless_s": 3 * TIMEOUT_S, "load": str(load)}
    tasks = [make_task("t1", n_demo=1, n_test=0)]
    refs = [perfkit.run(config("GivesUpLate", "sequential", "inline", 1, r, **options), store, tasks=tasks)
            for r in (0, 1)]
    load.touch()
    loaded = perfkit.run(config("GivesUpLate", "candidate-parallel", "thread", 2, **options), store, tasks=tasks)
    return refs, loaded, analyse(refs + [loaded])


@pytest.mark.slow
def test_an_error_near_the_limit_that_times_out_under_load_is_a_boundary_flip(late):
    refs, loaded, c = late
    assert set(refs[0].units.loc[refs[0].units.candidate == "gives_up", "status"]) == {"error"}
    assert set(loaded.units.loc[loaded.units.candidate == "gives_up", "status"]) == {"timeout"}
    kinds = dict(zip(c.answers[0].table["candidate"], c.answers[0].table["kind"]))
    assert kinds == {"gives_up": BOUNDARY_FLIP}
    assert not c.differences and c.headline().startswith("Answers agree beyond the reference's own variability")


@pytest.mark.slow
def test_the_timeout_cost_counts_units_once_whatever_the_reference_runs(late):
    _refs, _loaded, c = late
    cost = next(f for f in c.findings if f.rule == "timeout-cost")
    assert cost.sentence.startswith("1 unit timed out (33.3 % of 3 units; 2 timeouts in 2 sequential runs)")
    assert "1 times out in every sequential run" in cost.sentence
    assert cost.evidence == tuple(e for e in cost.evidence if e.startswith("hopeless: 1 unit, 2 timeouts"))


def test_a_share_that_is_not_zero_never_reads_as_zero():
    assert percent(5 / 20_800, 1) == "0.02 %"
    assert percent(0.0, 1) == "0.0 %" and percent(0.4321) == "43 %"


@pytest.mark.slow  # over half a second (session 14: the quick subset's time)
def test_a_second_alarm_while_the_unit_loop_records_a_stopped_unit_does_not_end_the_run(tmp_path, monkeypatch):
    # freeing the unit's temporaries outlasts the grace after its HardTimeout (a 1 ms grace here;
    # 50 ms on a machine loaded enough): the alarm that follows lands in the unit loop itself
    monkeypatch.setattr("perfkit.backends.inline.KILL_GRACE_S", 0.001)
    run = perfkit.run(config("SlowToLetGo", "sequential", "inline", 1, objects=1_000_000), tmp_path,
                      tasks=[make_task("t1", n_demo=2, n_test=0)])
    assert list(run.units["status"]) == ["timeout", "timeout"]
    assert set(run.units["error_type"]) == {"HardTimeout"}


@pytest.mark.slow
def test_the_memory_of_an_item_whose_worker_was_killed_at_the_timeout_is_its_own(tmp_path):
    # the peak is read just before the kill, and belongs to the item and the unit it was running;
    # a limit of 3 s leaves the hog time to fill its memory on a machine loaded by the whole suite
    # (1 s did not: 78–91 MB of the 160 MB at the kill)
    run = perfkit.run(config("MemoryHog", "candidate-parallel", "process", 2, timeout_s=3.0, candidates=6,
                             hog_mb=160, hog_s=5.0),
                      tmp_path, tasks=[make_task("t1", n_demo=2, n_test=0)])
    units = run.units
    assert set(units.loc[units.candidate == "hog", "status"]) == {"timeout"}
    items = item_memory(run)
    killed = items[items["running"].notna()]
    assert sorted(killed["running"]) == ["hog on t1/demo[0]", "hog on t1/demo[1]"]
    assert (killed["peak_rss_bytes"] >= 160 * 2**20).all()
    assert items.loc[items["running"].isna(), "peak_rss_bytes"].max() < 160 * 2**20  # the rests ran without it
    c = analyse([run])
    memory = next(f for f in c.findings if f.rule == "memory")
    assert "had their worker killed at a unit's timeout while running hog (2×)" in memory.sentence


def test_the_unit_a_killed_item_was_running_is_named_with_its_task():
    # "killed at the timeout of hog on demo[1]": demo[1] of which task, when two ran it
    rows = unit_rows(task_id="t1") + unit_rows(task_id="t2")
    items = [{"task_id": t, "chunk": 1, "worker": "main", "peak_rss_bytes": mb * 2**20, "running": running}
             for t, mb, running in (("t1", 50, None), ("t2", 400, ["demo", 1, "c001"]))]
    memory = item_memory(make_run(rows, summary={"items": items}))
    assert memory["running"].dropna().tolist() == ["c001 on t2/demo[1]"]


@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_dispatch_overhead_after_lost_workers_blames_the_losses_not_a_per_unit_cost():
    # arc-dsl on Dask: 17 workers killed at the timeout, 2158 units run again, and the report
    # called the gap "µs per unit outside the solver: timing, hashing and recording each outcome"
    cands = tuple(f"c{i:03d}" for i in range(128))
    rows = parallel(unit_rows(SAMPLES, cands, cpu=0.001), 2, lambda r: (r["split"], r["index"]))
    for r in rows:
        r["started"] *= 2  # every unit seems to pay 1 ms outside the solver...
        r["ended"] = r["started"] + 0.001
    killed = rows[5]  # ...but a worker was killed in this unit, and the units before it ran again
    killed.update(status="timeout", output_hash=None, match=None, error_type="WorkerKilled")
    for r in rows[:5]:
        r["attempt"] = 2
    wall = max(r["ended"] for r in rows)
    ref = make_run(unit_rows(SAMPLES, cands, cpu=0.001))
    c = analyse([ref, make_run(rows, "candidate-parallel", "dask", 2, wall_s=wall, cpu_s=wall)])
    f = next(f for f in c.findings if f.rule == "dispatch-overhead")
    assert "1 worker was stopped with a unit at its timeout or died" in f.sentence
    assert "5 units ran again" in f.sentence and "per unit, not per item" not in f.sentence


@pytest.mark.slow
def test_units_given_up_on_threads_are_told_by_the_core_they_got_to_their_threads_end():
    # arc-dsl (session 13): 11 units lost on threads read "their CPU was not measured (stopped
    # with their worker)", though no worker stops on threads and each thread's CPU was read at
    # its end: they got 8–47 % of a core from start to end, waiting at the GIL
    from builders import CANDS, clean_parallel, timed_out
    from builders import reference_run as reference

    def edit(df):
        m = df["split"].eq("demo") & df["index"].eq(4) & df["candidate"].isin(["c005", "c006", "c007"])
        timed_out(df, m, 1.0, 0.5)
        df.loc[m, ["leaked", "leaked_s"]] = [True, 1.5]  # each ran on 1.5 s past its 1 s limit
        return df

    assert len(CANDS) > 7
    run = make_run(clean_parallel().units.to_dict("records"), "sample-parallel", "thread", 2, wall_s=3.0, cpu_s=3.0,
                   edit=edit)
    f = next(f for f in analyse([reference(), run]).findings if f.rule == "contention-timeouts")
    assert "not measured" not in f.sentence and "stopped with" not in f.sentence, f.sentence
    # 3 × 0.5 s of CPU over 3 × (1 s + 1.5 s) of their threads' lives
    assert "got 20% of a core from their start to their threads' end (given up at their timeout" in f.sentence, \
        f.sentence
    assert "take turns at the GIL" in f.sentence
    assert any("demo[4]: 3 of" in e and "20% of a core from their start" in e for e in f.evidence), f.evidence
