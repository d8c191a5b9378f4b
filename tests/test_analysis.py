"""Figures on hand-made runs with known answers: ideal bound, efficiency, speedup, overhead,
contention, queue wait, tasks solved; and the answer check on removed and changed units."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd
import pytest

from perfkit.analysis import analyse, candidate_counts, check_answers, run_figures
from perfkit.analysis.metrics import bootstrap_speedup, dispatch_overhead, ideal_bound, tasks_solved
from perfkit.store import UNIT_COLUMNS, Run, _typed

Row = dict[str, Any]


def unit_rows(samples=(("demo", 0), ("demo", 1), ("test", 0)), candidates=("c000", "c001"), task_id="t1",
              cpu: float = 0.1, **fields: Any) -> list[Row]:
    """Units run back to back on one worker (sequential timing): every unit ``cpu`` s of CPU and
    wall; c000 matches everywhere, others never."""
    rows, t = [], 0.0
    for split, index in samples:
        for cand in candidates:
            rows.append(dict(task_id=task_id, split=split, index=index, candidate=cand, status="ok",
                             output_hash=f"h-{split}{index}-{cand}", match=cand == "c000",
                             queued=0.0, started=t, ended=t + cpu, wall_s=cpu, cpu_s=cpu, worker="main",
                             chunk=1, attempt=1, leaked_s=None, leaked=False, **fields))
            t += cpu
    return rows


def make_run(rows: list[Row], strategy: str = "sequential", backend: str = "inline", workers: int = 1,
             wall_s: Optional[float] = None, cpu_s: Optional[float] = None, cores: int = 2, repeat: int = 0,
             run_id: Optional[str] = None, edit: Optional[Callable[[pd.DataFrame], pd.DataFrame]] = None,
             summary: Optional[dict] = None, timeout_s: float = 1.0) -> Run:
    """A stored-run object built in memory (no folder): meta, summary and the units table."""
    df = pd.DataFrame(rows)
    for col in UNIT_COLUMNS:
        if col not in df:
            df[col] = None
    df = _typed(df[UNIT_COLUMNS].copy())
    if edit is not None:
        df = edit(df)
    wall = wall_s if wall_s is not None else float(df["ended"].max() - df["queued"].min())
    cpu = cpu_s if cpu_s is not None else float(df["cpu_s"].sum())
    rid = run_id or f"{strategy}-{backend}-w{workers}-r{repeat}"
    meta = {"run_id": rid, "environment": {"usable_cores": cores, "python": "3.11"},
            "config": {"strategy": strategy, "backend": backend, "workers": workers, "repeat": repeat,
                       "chunk_size": None, "timeout": {"unit_timeout_s": timeout_s}, "label": "test"}}
    s = {"state": "complete", "wall_s": wall, "cpu_s": cpu, "workers": []}
    s.update(summary or {})
    return Run(path=Path(rid), meta=meta, summary=s, units=df)


def parallel(rows: list[Row], workers: int, chunk_of: Callable[[Row], Any]) -> list[Row]:
    """Re-time rows as perfect list scheduling over ``workers`` lanes, one chunk per item."""
    lanes = [0.0] * workers
    items: dict[Any, list[Row]] = {}
    for r in rows:
        items.setdefault(chunk_of(r), []).append(dict(r))
    out = []
    for n, (key, members) in enumerate(items.items(), start=1):
        lane = int(np.argmin(lanes))
        for r in members:
            r.update(started=lanes[lane], ended=lanes[lane] + r["wall_s"], worker=f"w{lane}", chunk=n)
            lanes[lane] += r["wall_s"]
            out.append(r)
    return out


def test_ideal_bound_per_strategy_known_answers():
    # work per sample: demo[0] 1 s, demo[1] 1 s, test[0] 4 s (two candidates each)
    rows = unit_rows(cpu=0.5)
    for r in rows:
        if r["split"] == "test":
            r["cpu_s"] = r["wall_s"] = 2.0
    df = make_run(rows).units
    assert ideal_bound(df, "sequential", 1) == pytest.approx((6.0, 6.0, 6.0))
    sp = df.copy()
    sp["chunk"] = sp.groupby(["split", "index"], sort=False).ngroup()
    assert ideal_bound(sp, "sample-parallel", 2) == pytest.approx((6.0, 4.0, 4.0))
    assert ideal_bound(sp, "sample-parallel", 8) == pytest.approx((6.0, 4.0, 4.0))
    cp = df.copy()
    cp["chunk"] = np.arange(len(cp))  # one unit per chunk: largest item 2 s, even share 3 s
    assert ideal_bound(cp, "candidate-parallel", 2) == pytest.approx((6.0, 2.0, 3.0))
    # hybrid: a barrier after each sample: Σ max(sample work / 2, largest chunk) = 0.5 + 0.5 + 2
    assert ideal_bound(cp, "hybrid", 2) == pytest.approx((6.0, 3.0, 3.0))


def test_ideal_uses_the_reference_cpu_as_work():
    ref = make_run(unit_rows(cpu=0.1))
    slow = make_run(unit_rows(cpu=0.3))
    assert ideal_bound(slow.units, "sequential", 1, ref.units)[2] == pytest.approx(0.6)
    assert ideal_bound(slow.units, "sequential", 1)[2] == pytest.approx(1.8)


def test_run_figures_known_answers():
    ref = make_run(unit_rows(cpu=0.1))  # 6 units × 0.1 s
    rows = parallel(unit_rows(cpu=0.2), 2, lambda r: r["candidate"])  # 2 chunks of 3 units, contended
    for r in rows:
        r["cpu_s"] = 0.1
    run = make_run(rows, "candidate-parallel", "process", 2, wall_s=0.8, cpu_s=0.7)
    f = run_figures(run, ref)
    assert f.slots == 2
    assert f.work_s == pytest.approx(0.6)
    assert f.ideal_wall_s == pytest.approx(0.3)  # max(0.6 / 2, largest chunk 0.3)
    assert f.efficiency == pytest.approx(0.3 / 0.8)
    assert f.parallelism == pytest.approx(0.7 / 0.8)
    assert f.contention == pytest.approx(2.0)  # unit wall 1.2 s over unit CPU 0.6 s
    assert f.dispatch_overhead == pytest.approx(1 - 1.2 / 1.6)
    assert f.queue_wait_max_s == pytest.approx(0.4)  # the last unit of each lane
    assert f.tasks_solved == 1


def test_dispatch_overhead_clipped():
    assert dispatch_overhead(2.0, 2, 3.0) == pytest.approx(0.25)
    assert dispatch_overhead(1.0, 1, 5.0) == 0.0
    assert np.isnan(dispatch_overhead(0.0, 2, 1.0))


def test_speedup_and_bootstrap_interval():
    assert bootstrap_speedup([2.0], [1.0]) == (2.0, 2.0, 2.0)
    s, lo, hi = bootstrap_speedup([4.0, 4.1, 3.9], [1.0, 2.0, 4.0])
    assert s == pytest.approx(2.0)
    assert lo <= s <= hi and lo >= 4.1 / 4.0 * 0.9 and hi <= 4.1 / 1.0
    assert bootstrap_speedup([4.0, 4.1, 3.9], [1.0, 2.0, 4.0]) == (s, lo, hi)  # seeded


def test_group_figures_median_spread_and_speedup():
    runs = [make_run(unit_rows(), wall_s=w, repeat=i) for i, w in enumerate([2.0, 2.2, 1.8])]
    runs += [make_run(parallel(unit_rows(), 2, lambda r: r["index"]), "sample-parallel", "process", 2,
                      wall_s=w, repeat=i) for i, w in enumerate([1.0, 1.1, 0.9])]
    c = analyse(runs)
    g = c.groups.set_index("group")
    assert list(g.index) == ["sequential/inline×1", "sample-parallel/process×2"]
    sp = g.loc["sample-parallel/process×2"]
    assert sp["repeats"] == 3
    assert (sp["wall_s_median"], sp["wall_s_min"], sp["wall_s_max"]) == pytest.approx((1.0, 0.9, 1.1))
    assert sp["speedup"] == pytest.approx(2.0)
    assert sp["speedup_low"] <= 2.0 <= sp["speedup_high"]
    assert g.loc["sequential/inline×1", "speedup"] == pytest.approx(1.0)


def test_tasks_solved_needs_every_demo_and_known_test():
    rows = unit_rows(task_id="a") + unit_rows(task_id="b")
    for r in rows:
        if r["task_id"] == "b" and r["split"] == "demo" and r["index"] == 1:
            r["match"] = False  # c000 fails one demo of task b
        if r["split"] == "test":
            r["match"] = None  # unknown test output: not required
    assert tasks_solved(make_run(rows).units) == 1


def test_answer_check_removed_and_changed_units():
    ref = make_run(unit_rows())

    def edit(df):
        df = df.drop(df.index[0]).copy()  # demo[0] c000 missing
        df.loc[df["candidate"].eq("c001") & df["split"].eq("demo") & df["index"].eq(1), "output_hash"] = "other"
        t = df["split"].eq("test") & df["candidate"].eq("c001")
        df.loc[t, ["status", "output_hash"]] = ["timeout", None]
        return df

    run = make_run(unit_rows(), edit=edit)
    extra = make_run(unit_rows() + unit_rows(samples=(("demo", 9),), candidates=("c000",)))
    check = check_answers(ref.units, run.units, "r", "g")
    assert not check.clean and check.n_differences == 3
    assert [tuple(x) for x in check.missing[["split", "index", "candidate"]].itertuples(index=False)] == [("demo", 0, "c000")]
    assert list(check.output_changed["candidate"]) == ["c001"]
    assert list(check.status_changed["status_run"]) == ["timeout"]
    assert "1 missing" in check.sentence() and "output changed" in check.sentence()
    assert len(check_answers(ref.units, extra.units).extra) == 1
    assert check_answers(ref.units, ref.units).clean
    counts = candidate_counts({"sequential": ref.units, "parallel": run.units})
    assert counts.loc["total"].tolist() == [6, 4]
    assert counts.loc["demo[0]"].tolist() == [2, 1]


def test_comparison_headline_first_and_differences():
    ref = make_run(unit_rows())
    bad = make_run(unit_rows(), "sample-parallel", "process", 2, edit=lambda d: d.iloc[1:])
    c = analyse([ref, bad])
    assert c.differences and c.headline().startswith("ANSWERS DIFFER")
    good = analyse([ref, make_run(unit_rows(), "sample-parallel", "process", 2)])
    assert not good.differences and good.headline().startswith("Answers identical")
