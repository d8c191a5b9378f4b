"""Per-run and per-group figures, computed once here and only rendered elsewhere.

Every function is pure: stored runs (``perfkit.store.Run``: ``meta``, ``summary``, ``units``)
in, plain dataclasses or DataFrames out. All times are seconds; fractions are 0..1.

Definitions (DESIGN.md, "Derived"):

- ``parallelism = cpu_s / wall_s`` (run CPU of parent + workers over run wall).
- ``slots = min(workers, usable cores)``: how many units can truly run at once (1 for sequential).
- ``dispatch_overhead = 1 - Σ unit wall / ((wall_s - generate_s) × slots)``: the fraction of the
  run's worker capacity spent outside units (start-up, serialisation, queueing, idle workers,
  barriers); the solver's candidate generation is its own figure, ``generate_s``.
- ``contention = Σ unit wall / Σ unit CPU`` over units that ran: 1.0 means a unit had its core
  to itself; 2.0 means it got half a core (oversubscription, GIL, memory bandwidth).
- ``queue wait = started - queued`` per unit (median, p95, max).
- ``ideal_wall_s``: the physical lower bound. The *work* of a unit is its CPU in the sequential
  reference run (its own CPU when no reference is given). Tasks run one after another and a
  strategy's barriers split a task into stages, so the bound is the sum over stages of
  ``max(stage work / slots, critical path of the stage)``, where the critical path is the
  largest work item that cannot be split: sequential → the whole task (one item);
  sample-parallel → the largest sample (one item per sample); candidate-parallel → the largest
  chunk of the task; hybrid → per sample (a barrier after each) the largest chunk of that sample.
  With one stage per task this is ``max(work / slots, critical path)`` of DESIGN.md. The
  solver's candidate generation (``candidates(task)``, summary ``generate_s``, taken from the
  reference run) runs in the parent before each task's units, so it is added whole: it is
  serial in every strategy.
- ``efficiency = ideal_wall_s / wall_s`` (1.0 = at the physical limit).
- ``speedup = median sequential wall / median wall``, with a seeded bootstrap 95 % interval.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Optional, Sequence

import numpy as np
import pandas as pd

KEY = ["task_id", "split", "index", "candidate"]
SAMPLE = ["task_id", "split", "index"]
#: Statuses whose unit actually ran (so its wall and CPU mean something).
RAN = ("ok", "error", "timeout")
#: Figures summarised over repeats (median, min, max) by :func:`group_figures`.
REPEATED = ("wall_s", "cpu_s", "parallelism", "unit_cpu_s", "queue_wait_median_s", "queue_wait_max_s",
            "dispatch_overhead", "contention", "ideal_wall_s", "efficiency")
BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 20240601


@dataclass(frozen=True)
class RunFigures:
    """The figures of one stored run (seconds; fractions 0..1)."""

    run_id: str
    strategy: str
    backend: str
    workers: int
    repeat: int
    chunk_size: Optional[int]
    timeout_s: float
    cores: int
    slots: int
    units: int
    statuses: dict[str, int]
    wall_s: float
    cpu_s: float
    parallelism: float
    unit_cpu_s: float
    unit_wall_s: float
    queue_wait_median_s: float
    queue_wait_p95_s: float
    queue_wait_max_s: float
    dispatch_overhead: float
    #: Seconds of the run outside the first queued → last ended span (start-up, teardown).
    startup_s: float
    #: Seconds the parent spent generating candidates (serial, before each task's units).
    generate_s: float
    contention: float
    work_s: float
    critical_path_s: float
    ideal_wall_s: float
    efficiency: float
    work_items: int
    tasks: int
    tasks_solved: int
    leaked_s: float

    @property
    def group(self) -> tuple[str, str, int]:
        """The repeat group: (strategy, backend, workers)."""
        return (self.strategy, self.backend, self.workers)

    @property
    def name(self) -> str:
        """Readable group name such as ``sample-parallel/process×4``."""
        return group_name(self.group)


def group_name(group: Sequence[Any]) -> str:
    """``strategy/backend×workers``."""
    strategy, backend, workers = group
    return f"{strategy}/{backend}×{workers}"


def config_of(run: Any) -> dict[str, Any]:
    """The run's config record (meta.json ``config``)."""
    return run.meta.get("config", {})


def cores_of(run: Any) -> int:
    """Usable cores recorded in the run's environment (1 when unknown)."""
    env = run.meta.get("environment", {})
    return int(env.get("usable_cores") or env.get("cpu_count") or 1)


def slots_of(run: Any) -> int:
    """How many units can run at once: min(workers, cores); 1 for the sequential strategy."""
    cfg = config_of(run)
    if cfg.get("strategy", "sequential") == "sequential":
        return 1
    return max(1, min(int(cfg.get("workers", 1)), cores_of(run)))


def ran(units: pd.DataFrame) -> pd.DataFrame:
    """Units that ran (ok, error, timeout) with a wall and CPU time."""
    return units[units["status"].isin(RAN) & units["wall_s"].notna()]


def queue_wait(units: pd.DataFrame) -> pd.Series:
    """Per-unit queue wait ``started - queued`` in seconds (units that started)."""
    w = (units["started"] - units["queued"]).dropna()
    return w.clip(lower=0.0)


def contention(units: pd.DataFrame) -> float:
    """Σ unit wall / Σ unit CPU over units that ran (NaN when no CPU was recorded)."""
    r = ran(units)
    cpu = r["cpu_s"].sum()
    return float(r["wall_s"].sum() / cpu) if cpu > 0 else float("nan")


def dispatch_overhead(wall_s: float, slots: int, unit_wall_s: float) -> float:
    """Fraction of worker capacity (wall × slots) spent outside units, clipped to 0..1."""
    capacity = wall_s * max(1, slots)
    if capacity <= 0:
        return float("nan")
    return float(min(1.0, max(0.0, 1.0 - unit_wall_s / capacity)))


def unit_work(units: pd.DataFrame, reference: Optional[pd.DataFrame]) -> pd.Series:
    """Work per unit (seconds of CPU) aligned on ``units``: the reference run's CPU of the same
    unit when known, else the unit's own CPU (0 for units that never ran)."""
    own = units["cpu_s"].fillna(0.0)
    if reference is None or reference.empty:
        return own
    ref = reference.drop_duplicates(KEY).set_index(KEY)["cpu_s"]
    idx = pd.MultiIndex.from_frame(units[KEY])
    looked = pd.Series(ref.reindex(idx).to_numpy(), index=units.index)
    return looked.fillna(own)


def ideal_bound(units: pd.DataFrame, strategy: str, slots: int,
                reference: Optional[pd.DataFrame] = None) -> tuple[float, float, float]:
    """``(work_s, critical_path_s, ideal_wall_s)`` of a run; see the module docstring.

    ``units`` needs the key columns and ``chunk`` (the work item); ``reference`` is the
    sequential run's units (their CPU is the work of each unit).
    """
    if units.empty:
        return 0.0, 0.0, 0.0
    df = units[KEY + ["chunk"]].copy()
    df["work"] = unit_work(units, reference).to_numpy()
    slots = max(1, slots)
    if strategy == "sequential":
        stage_cols, item_cols = ["task_id"], ["task_id"]
    elif strategy == "sample-parallel":
        stage_cols, item_cols = ["task_id"], SAMPLE
    elif strategy == "hybrid":
        stage_cols, item_cols = SAMPLE, SAMPLE + ["chunk"]
    else:  # candidate-parallel and any user strategy: chunks of the task, no barrier inside it
        stage_cols, item_cols = ["task_id"], ["task_id", "chunk"]
    items = df.groupby(item_cols, sort=False)["work"].sum().reset_index()
    stages = items.groupby(stage_cols, sort=False)["work"].agg(["sum", "max"])
    ideal = np.maximum(stages["sum"] / slots, stages["max"]).sum()
    return float(df["work"].sum()), float(stages["max"].sum()), float(ideal)


def tasks_solved(units: pd.DataFrame) -> int:
    """Tasks with a candidate whose output matches on every demo sample and on every test sample
    with a known output (a sample's output is known when any unit on it has a ``match`` value)."""
    if units.empty:
        return 0
    df = units[KEY + ["match"]].copy()
    df["known"] = df["match"].notna()
    df["hit"] = df["match"].map(lambda m: m is True or m == True)  # noqa: E712 (numpy bools)
    solved = 0
    for task_id, t in df.groupby("task_id", sort=False):
        known = t.groupby(["split", "index"])["known"].any()
        needed = {k for k, v in known.items() if v or k[0] == "demo"}
        if not needed:
            continue
        hits: dict[str, set] = {}
        for cand, split, index in t.loc[t["hit"], ["candidate", "split", "index"]].itertuples(index=False):
            hits.setdefault(cand, set()).add((split, index))
        if any(needed <= s for s in hits.values()):
            solved += 1
    return solved


def run_figures(run: Any, reference: Optional[Any] = None) -> RunFigures:
    """All figures of one run; ``reference`` (the sequential run) supplies the work per unit."""
    cfg, s, u = config_of(run), run.summary, run.units
    wall = float(s.get("wall_s") or 0.0)
    cpu = float(s.get("cpu_s") or 0.0)
    r = ran(u)
    unit_wall, unit_cpu = float(r["wall_s"].sum()), float(r["cpu_s"].fillna(0).sum())
    qw = queue_wait(u)
    slots = slots_of(run)
    strategy = cfg.get("strategy", "sequential")
    work, cp, ideal = ideal_bound(u, strategy, slots, None if reference is None else reference.units)
    generate = float((reference.summary if reference is not None else s).get("generate_s") or 0.0)
    ideal += generate
    span = float(u["ended"].max() - u["queued"].min()) if len(u) and u["ended"].notna().any() else wall
    timeout = cfg.get("timeout", {}) or {}
    return RunFigures(
        run_id=str(run.meta.get("run_id", getattr(run, "path", ""))),
        strategy=strategy, backend=cfg.get("backend", "inline"), workers=int(cfg.get("workers", 1)),
        repeat=int(cfg.get("repeat", 0)), chunk_size=cfg.get("chunk_size"),
        timeout_s=float(timeout.get("unit_timeout_s", float("nan"))),
        cores=cores_of(run), slots=slots, units=int(len(u)),
        statuses={k: int(v) for k, v in u["status"].value_counts().items()},
        wall_s=wall, cpu_s=cpu, parallelism=cpu / wall if wall > 0 else float("nan"),
        unit_cpu_s=unit_cpu, unit_wall_s=unit_wall,
        queue_wait_median_s=float(qw.median()) if len(qw) else 0.0,
        queue_wait_p95_s=float(qw.quantile(0.95)) if len(qw) else 0.0,
        queue_wait_max_s=float(qw.max()) if len(qw) else 0.0,
        # candidate generation is reported on its own (generate_s), not as dispatch overhead
        dispatch_overhead=dispatch_overhead(wall - generate, slots, unit_wall),
        startup_s=max(0.0, wall - span), generate_s=float(s.get("generate_s") or 0.0), contention=contention(u),
        work_s=work, critical_path_s=cp, ideal_wall_s=ideal,
        efficiency=ideal / wall if wall > 0 else float("nan"),
        work_items=int(u.groupby(["task_id", "chunk"]).ngroups) if len(u) else 0,
        tasks=int(u["task_id"].nunique()), tasks_solved=tasks_solved(u),
        leaked_s=float(u.loc[u["leaked"], "leaked_s"].fillna(0).sum()) if "leaked" in u else 0.0,
    )


def figures_table(figures: Iterable[RunFigures]) -> pd.DataFrame:
    """One row per run (the statuses dict becomes ``n_<status>`` columns)."""
    rows = []
    for f in figures:
        row = asdict(f)
        statuses = row.pop("statuses")
        for k in ("ok", "error", "timeout", "crashed", "skipped"):
            row[f"n_{k}"] = statuses.get(k, 0)
        row["group"] = f.name
        rows.append(row)
    return pd.DataFrame(rows)


def bootstrap_speedup(reference_walls: Sequence[float], walls: Sequence[float],
                      n: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED) -> tuple[float, float, float]:
    """``(speedup, low, high)``: median(reference) / median(walls) and its 95 % bootstrap
    interval (both samples resampled with replacement; seeded, so reports are reproducible)."""
    ref, w = np.asarray(reference_walls, float), np.asarray(walls, float)
    ref, w = ref[ref > 0], w[w > 0]
    if not len(ref) or not len(w):
        return float("nan"), float("nan"), float("nan")
    point = float(np.median(ref) / np.median(w))
    if len(ref) < 2 and len(w) < 2:
        return point, point, point
    rng = np.random.default_rng(seed)
    rs = np.median(rng.choice(ref, size=(n, len(ref))), axis=1)
    ws = np.median(rng.choice(w, size=(n, len(w))), axis=1)
    ratios = rs / ws
    return point, float(np.quantile(ratios, 0.025)), float(np.quantile(ratios, 0.975))


def group_figures(table: pd.DataFrame, reference_group: Optional[tuple[str, str, int]] = None) -> pd.DataFrame:
    """Per (strategy, backend, workers): repeats, ``<figure>_median|_min|_max`` for each figure of
    :data:`REPEATED`, and ``speedup``, ``speedup_low``, ``speedup_high`` versus the reference group
    (median sequential wall / median wall, bootstrap 95 % interval)."""
    keys = ["strategy", "backend", "workers"]
    if table.empty:
        return pd.DataFrame()
    ref_walls = None
    if reference_group is not None:
        mask = (table[keys] == pd.Series(reference_group, index=keys)).all(axis=1)
        ref_walls = table.loc[mask, "wall_s"].to_numpy()
    rows = []
    order = list(dict.fromkeys(map(tuple, table[keys].itertuples(index=False, name=None))))
    if reference_group in order:  # the reference first, then in order of appearance
        order.remove(reference_group)
        order.insert(0, reference_group)
    parts = dict(iter(table.groupby(keys, sort=False)))
    for group in order:
        g = parts[group]
        row: dict[str, Any] = dict(zip(keys, group))
        row["group"] = group_name(group)
        row["repeats"] = int(len(g))
        row["slots"] = int(g["slots"].iloc[0])
        row["chunk_size"] = g["chunk_size"].iloc[0]
        for col in REPEATED:
            v = g[col].astype(float)
            row[f"{col}_median"], row[f"{col}_min"], row[f"{col}_max"] = v.median(), v.min(), v.max()
        for k in ("ok", "error", "timeout", "crashed", "skipped"):
            row[f"n_{k}_max"] = int(g[f"n_{k}"].max())
        row["tasks_solved_min"] = int(g["tasks_solved"].min())
        row["tasks"] = int(g["tasks"].max())
        if ref_walls is not None and len(ref_walls):
            row["speedup"], row["speedup_low"], row["speedup_high"] = bootstrap_speedup(ref_walls, g["wall_s"])
        else:
            row["speedup"] = row["speedup_low"] = row["speedup_high"] = float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def sample_work(units: pd.DataFrame) -> pd.DataFrame:
    """Per sample: units, Σ CPU and Σ wall (seconds), largest first."""
    g = units.groupby(SAMPLE, sort=False).agg(units=("candidate", "size"), cpu_s=("cpu_s", "sum"),
                                               wall_s=("wall_s", "sum"))
    return g.sort_values("cpu_s", ascending=False).reset_index()


def sample_label(split: str, index: int, task_id: Optional[str] = None) -> str:
    """``demo[4]`` or ``task/demo[4]``."""
    return (f"{task_id}/" if task_id else "") + f"{split}[{int(index)}]"
