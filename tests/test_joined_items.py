"""What perfkit's own joining of work items (perfkit/model/plan.py ``taper_joins``) must not
change in what a run reports: each unit records its planned item (``chunk``), and the figures
that were measured per item handed out — a work item's peak memory — stay attached to the units
that item ran."""

from __future__ import annotations

import pytest
from builders import make_task, synthetic_config

from perfkit.analysis.comparison import analyse
from perfkit.analysis.metrics.memory import item_memory
from perfkit.runner import run

#: c004 allocates this much on every sample of every task (perfkit/solvers/synthetic.py ``alloc``).
ALLOC_MB = 120


@pytest.mark.slow
def test_a_joined_items_peak_memory_is_the_items_it_ran_not_each_planned_pieces(tmp_path):
    """Two tasks, candidate-parallel on two processes with automatic chunks: the first task's
    planned items (three candidates of one sample each) go out joined, four to a job, so each
    job holds c004. The worker's peak is measured per job: it belongs to the job's units. Copied
    onto each planned piece it made pieces that never ran c004 (c000–c002) 120 MB items, and
    the memory finding could no longer name c004 (no candidate is common to the heavy pieces)."""
    faults = "; ".join(f"alloc={ALLOC_MB}:c004@{split}[{i}]" for split, i in (("demo", 0), ("demo", 1), ("demo", 2),
                                                                               ("test", 0)))
    tasks = [make_task("t1", 3, 1, seed=5), make_task("t2", 3, 1, seed=6)]
    opts = dict(timeout_s=5.0, candidates=12, cpu_ms=0.2, faults=faults)
    ref = run(synthetic_config(**opts), tmp_path, tasks=tasks)
    par = run(synthetic_config("candidate-parallel", "process", 2, **opts), tmp_path, tasks=tasks)
    planned = par.units.groupby(["task_id", "chunk"]).ngroups
    assert par.summary.items_handed_out_this_session < planned  # items were joined
    items = item_memory(par)
    # one record per item a worker ran, holding the units it ran (no worker was lost)
    assert len(items) == par.summary.items_handed_out_this_session
    assert items["units"].sum() == len(par.units)
    light = min(items["peak_rss_bytes"])
    heavy = items[items["peak_rss_bytes"] >= light + ALLOC_MB // 2 * 2**20]
    assert len(heavy) and all("c004" in c for c in heavy["candidates"])  # only items that ran c004
    finding = [f for f in analyse([ref, par]).findings if f.rule == "memory"]
    assert len(finding) == 1 and "c004" in finding[0].sentence, [f.sentence for f in finding]


def test_a_requeued_rest_of_a_joined_item_names_its_own_planned_items():
    """A worker lost inside a joined item: the rest keeps the joined item's ``chunk`` (its
    identity in the queue), but its units are of later planned items — what the rest records
    (each unit's ``chunk_of``, the process backend's memory record) are those."""
    from perfkit.model import WorkItem

    units = tuple(("demo", 0, f"c{i:03d}") for i in range(6))
    joined = WorkItem(7, "t", units, uids=range(6), chunks=(7, 7, 8, 8, 9, 9))
    rerun, rest = joined.pieces_after_loss(ran=3, in_flight=3)
    assert [rerun.chunk_of(p) for p in range(len(rerun.units))] == [7, 7, 8]
    assert rest.units == units[4:] and rest.chunk == 7
    assert [rest.chunk_of(p) for p in range(len(rest.units))] == [9, 9] and rest.planned_chunks() == (9,)
