"""PNG charts of a :class:`perfkit.analysis.Comparison` (matplotlib, Agg backend).

Charts only draw figures the analysis computed; each function writes one PNG and returns its
path, or None when the chart does not apply (e.g. speedup vs workers with one worker count).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from perfkit.model import SAMPLE_KEY, sample_label  # noqa: E402

DPI = 100
MAX_TIMELINES = 8
STATUS_MARK = {"timeout": ("red", "timeout"), "error": ("black", "error"), "crashed": ("magenta", "crashed")}


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, format="png")
    plt.close(fig)
    return path


def wall_vs_cpu(c: Any, out: Path) -> Optional[Path]:
    """Median wall and CPU per group (min–max whiskers) with the ideal wall bound marked."""
    g = c.groups
    if g.empty:
        return None
    x = np.arange(len(g))
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(g) + 2), 4.2))
    err = lambda col: np.vstack([g[f"{col}_median"] - g[f"{col}_min"], g[f"{col}_max"] - g[f"{col}_median"]])  # noqa: E731
    ax.bar(x - 0.2, g["wall_s_median"], 0.4, yerr=err("wall_s"), capsize=3, label="wall (median)", color="#4477aa")
    ax.bar(x + 0.2, g["cpu_s_median"], 0.4, yerr=err("cpu_s"), capsize=3, label="CPU (median)", color="#ee7733")
    ax.scatter(x - 0.2, g["ideal_wall_s_median"], marker="_", s=900, color="black", zorder=3,
               label="ideal wall (physical limit)")
    ax.set_xticks(x, g["group"], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("seconds")
    ax.set_title("Wall vs CPU per strategy, with the ideal bound")
    ax.legend(fontsize=8)
    return _save(fig, out / "wall_vs_cpu.png")


def timeline(c: Any, out: Path) -> Optional[Path]:
    """One panel per group (its first repeat): one lane per worker, units coloured by sample,
    timeouts, errors and crashes outlined and marked."""
    picks = []
    for group, figs in c.by_group().items():
        picks.append((figs[0], c.run_of(figs[0])))
    picks = [p for p in picks if len(p[1].units) and p[1].units["started"].notna().any()][:MAX_TIMELINES]
    if not picks:
        return None
    lanes = [max(1, p[1].units["worker"].nunique()) for p in picks]
    fig, axes = plt.subplots(len(picks), 1, figsize=(10, 1.2 + sum(0.35 * n + 0.6 for n in lanes)),
                             gridspec_kw={"height_ratios": lanes}, squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, (fig_, run) in zip(axes[:, 0], picks):
        u = run.units[run.units["started"].notna()].copy()
        t0 = u["queued"].min()
        workers = sorted(u["worker"].astype(str).unique())
        samples = list(dict.fromkeys(map(tuple, u[list(SAMPLE_KEY)].itertuples(index=False, name=None))))
        colour = {s: cmap(i % 10) for i, s in enumerate(samples)}
        for lane, w in enumerate(workers):
            wu = u[u["worker"].astype(str) == w]
            starts = (wu["started"] - t0).to_numpy()
            widths = (wu["ended"].fillna(wu["started"]) - wu["started"]).to_numpy()
            cols = [colour[k] for k in map(tuple, wu[list(SAMPLE_KEY)].itertuples(index=False, name=None))]
            # one PolyCollection per lane: a bar per unit (barh) costs minutes for 30 000 units
            ax.broken_barh(list(zip(starts, widths)), (lane - 0.4, 0.8), facecolors=cols, linewidth=0)
            for status, (mc, _) in STATUS_MARK.items():
                m = (wu["status"] == status).to_numpy()
                if m.any():
                    ax.broken_barh(list(zip(starts[m], widths[m])), (lane - 0.4, 0.8), facecolors="none",
                                   edgecolors=mc, linewidth=1.2, hatch="//")
                    ax.plot(starts[m] + widths[m], np.full(m.sum(), lane), "x", color=mc, ms=5)
        draw_task_stream(ax, run, workers, t0)
        ax.set_yticks(range(len(workers)), workers, fontsize=7)
        ax.set_title(f"{fig_.name} (repeat {fig_.repeat}, wall {fig_.wall_s:.2f} s)", fontsize=9)
        handles = [plt.Rectangle((0, 0), 1, 1, color=colour[s]) for s in samples[:10]]
        labels = [sample_label(s[1], s[2], s[0] if len({x[0] for x in samples}) > 1 else None) for s in samples[:10]]
        for status, (mc, name) in STATUS_MARK.items():
            if (u["status"] == status).any():
                handles.append(plt.Rectangle((0, 0), 1, 1, fill=False, edgecolor=mc, hatch="//"))
                labels.append(name)
        ax.legend(handles, labels, fontsize=6, loc="upper right", ncol=min(6, len(labels)))
    axes[-1, 0].set_xlabel("seconds since the first unit was queued")
    return _save(fig, out / "timeline.png")


def draw_task_stream(ax: Any, run: Any, workers: list[str], t0: float) -> None:
    """Dask runs: outline each Dask task (one work item) on its worker's lane, from the task
    stream the backend stored in summary.json (start/stop already on this machine's clock)."""
    stream = run.summary.resources.get("task_stream") or []
    lane = {w: i for i, w in enumerate(workers)}
    boxes: dict[int, list[tuple[float, float]]] = {}
    for task in stream:
        if task.get("worker") in lane and task.get("start") is not None and task.get("stop") is not None:
            boxes.setdefault(lane[task["worker"]], []).append((task["start"] - t0, task["stop"] - task["start"]))
    for i, spans in boxes.items():
        ax.broken_barh(spans, (i - 0.45, 0.9), facecolors="none", edgecolors="0.3", linewidth=0.6,
                       linestyle="--")


def speedup_vs_workers(c: Any, out: Path) -> Optional[Path]:
    """Speedup (bootstrap 95 % interval) vs workers per strategy/backend, with the ideal line
    min(workers, cores); drawn only when several worker counts ran."""
    g = c.groups[c.groups["strategy"] != "sequential"]
    if g.empty or g["workers"].nunique() < 2:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for (strategy, backend), s in g.groupby(["strategy", "backend"], sort=False):
        s = s.sort_values("workers")
        yerr = np.vstack([s["speedup"] - s["speedup_low"], s["speedup_high"] - s["speedup"]])
        ax.errorbar(s["workers"], s["speedup"], yerr=yerr, marker="o", capsize=3, label=f"{strategy}/{backend}")
    w = np.arange(1, int(g["workers"].max()) + 1)
    cores = int(c.table["cores"].max())
    ax.plot(w, np.minimum(w, cores), "k--", label=f"ideal (min(workers, {cores} cores))")
    ax.set_xlabel("workers")
    ax.set_ylabel("speedup vs sequential")
    ax.set_title("Speedup vs workers")
    ax.legend(fontsize=8)
    return _save(fig, out / "speedup_vs_workers.png")


def candidate_counts(c: Any, out: Path) -> Optional[Path]:
    """ok candidates per sample (bars) × group (first repeat of each)."""
    t = c.counts
    if t.empty:
        return None
    t = t.drop(index="total", errors="ignore")
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(t) * max(1, len(t.columns)) / 2 + 3), 4))
    width = 0.8 / max(1, len(t.columns))
    x = np.arange(len(t))
    for i, col in enumerate(t.columns):
        ax.bar(x + i * width - 0.4 + width / 2, t[col], width, label=col)
    ax.set_xticks(x, t.index, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("ok candidates")
    ax.set_title("Candidates per sample × strategy")
    ax.legend(fontsize=7)
    return _save(fig, out / "candidate_counts.png")


def unit_times(c: Any, out: Path) -> Optional[Path]:
    """Distribution of unit wall times per group (all repeats), log-spaced bins, log x axis."""
    data = {}
    for group, figs in c.by_group().items():
        w = np.concatenate([c.run_of(f).units["wall_s"].dropna().to_numpy() for f in figs])
        w = w[w > 0]
        if len(w):
            data[figs[0].name] = w
    if not data:
        return None
    lo = min(v.min() for v in data.values())
    hi = max(v.max() for v in data.values())
    bins = np.logspace(np.log10(lo), np.log10(hi * 1.001 if hi > lo else lo * 10), 40)
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, w in data.items():
        ax.hist(w, bins=bins, histtype="step", linewidth=1.4, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("unit wall time (s, log scale)")
    ax.set_ylabel("units")
    ax.set_title("Distribution of unit times")
    ax.legend(fontsize=7)
    return _save(fig, out / "unit_times.png")


CHARTS = {
    "wall_vs_cpu": ("Wall vs CPU per strategy (ideal bound marked)", wall_vs_cpu),
    "timeline": ("Worker timeline", timeline),
    "speedup_vs_workers": ("Speedup vs workers", speedup_vs_workers),
    "candidate_counts": ("Candidates per sample × strategy", candidate_counts),
    "unit_times": ("Distribution of unit times", unit_times),
}


def render_all(c: Any, out: Path) -> dict[str, tuple[str, Path]]:
    """Write every applicable chart into ``out``: ``{name: (title, path)}``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    done = {}
    for name, (title, fn) in CHARTS.items():
        path = fn(c, out)
        if path is not None:
            done[name] = (title, path)
    return done
