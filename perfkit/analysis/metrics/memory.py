"""Peak resident memory: per work item a worker ran, with the units it held, and a run's
memory figures.
"""

from __future__ import annotations

import pandas as pd

from perfkit.model import sample_label
from perfkit.store import Run


def memory_figures(run: Run) -> dict[str, float]:
    """A run's peak resident memory figures (bytes; NaN when not measured; see ``RunFigures``):
    ``peak_rss_bytes``, any worker's or work item's largest, and ``item_rss_median_bytes`` and
    ``item_rss_max_bytes`` over its work items (:func:`item_memory`)."""
    workers = [w.get("peak_rss_bytes") for w in run.summary.workers if w.get("peak_rss_bytes") is not None]
    items = item_memory(run)["peak_rss_bytes"]
    peaks = workers + ([float(items.max())] if len(items) else [])
    return {"peak_rss_bytes": float(max(peaks)) if peaks else float("nan"),
            "item_rss_median_bytes": float(items.median()) if len(items) else float("nan"),
            "item_rss_max_bytes": float(items.max()) if len(items) else float("nan")}


def item_memory(run: Run) -> pd.DataFrame:
    """Peak resident memory per work item a worker ran (bytes), from the summary's ``items``,
    with the item's ``units`` (how many), ``candidates`` and ``samples`` (sets; a sample is
    ``(task_id, split, index)``: demo[0] of one task is not demo[0] of another): the units of
    the item that this worker ran, from the units table. An item the runner joined holds the
    units of each planned item it lists (``chunks``): the peak was measured over all of them.
    ``running``: for an item whose worker was killed in it, ``candidate on task/sample`` of the
    unit it was running (its peak was read just before the kill); None otherwise."""
    cols = ["task_id", "chunk", "worker", "peak_rss_bytes", "units", "candidates", "samples", "running"]
    records = [r for r in run.summary.items if r.get("peak_rss_bytes") is not None]
    if not records:
        return pd.DataFrame(columns=cols)
    # by worker too: the rest of an item whose worker was lost runs on another worker, and its
    # peak belongs to the units it ran there, not to the unit that took the first worker down
    members = _item_members(run.units).set_index(["task_id", "chunk", "worker"])
    members = dict(zip(members.index, members[["units", "candidates", "samples"]].itertuples(index=False)))
    held = []
    for r in records:
        pieces = [members.get((r["task_id"], c, r["worker"])) for c in r.get("chunks") or [r["chunk"]]]
        pieces = [p for p in pieces if p is not None]
        held.append((sum(p.units for p in pieces), frozenset().union(*(p.candidates for p in pieces)),
                     frozenset().union(*(p.samples for p in pieces))))
    items = pd.DataFrame(records)
    items["units"], items["candidates"], items["samples"] = ([h[i] for h in held] for i in range(3))
    items["running"] = [f"{r['running'][2]} on {sample_label(r['running'][0], r['running'][1], r['task_id'])}"
                        if r.get("running") else None for r in records]
    return items[cols]


def _item_members(u: pd.DataFrame) -> pd.DataFrame:
    """Per work item and worker (task_id, chunk, worker): its ``units`` count and its
    ``candidates`` and ``samples`` (``(task_id, split, index)``) as frozensets. The sets are
    built from the distinct (item, candidate) and (item, sample) pairs, which are far fewer than
    the units: a per-group lambda took seconds per report."""
    u = u.assign(worker=u["worker"].astype(str))
    keys = ["task_id", "chunk", "worker"]
    members = u.groupby(keys, sort=False).size().rename("units").to_frame()
    members["candidates"] = u.drop_duplicates(keys + ["candidate"]).groupby(keys, sort=False)["candidate"] \
        .agg(frozenset)
    samples: dict[tuple, set] = {}
    for task, chunk, worker, split, index in u.drop_duplicates(keys + ["split", "index"])[keys + ["split", "index"]] \
            .itertuples(index=False):
        samples.setdefault((task, chunk, worker), set()).add((task, split, index))
    members["samples"] = [frozenset(samples[k]) for k in members.index]
    return members.reset_index()
