"""PNG charts of a :class:`perfkit.analysis.Comparison` (matplotlib, Agg backend).

Charts only draw figures the analysis computed; each function writes one PNG and returns its
path, or None when the chart does not apply (e.g. speedup vs workers with one worker count).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence, Union

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from perfkit.analysis.breakdown import GENERATION, HARNESS, IDLE, OFF_CPU, OTHERS, PARENT, SOLVER_OWN, UNITS  # noqa: E402
from perfkit.analysis.metrics.slots import slot_lanes  # noqa: E402
from perfkit.analysis.overview import differing_samples  # noqa: E402
from perfkit.analysis.text import duration  # noqa: E402
from perfkit.model.command import (EXIT, IMPORTS, RUN_FOLDER, RUN_WINDOW, SOLVER, STOPPING,  # noqa: E402
                                   STORE, TASKS, WORKER_START)
from perfkit.orchestration.forked import Forked  # noqa: E402

DPI = 100
#: Every chart fits in this many inches (× DPI pixels) whatever the task count: beyond the
#: limits below, items are aggregated or the largest are shown and the rest counted.
MAX_WIDTH_IN, MAX_HEIGHT_IN = 14.0, 12.0
MAX_TIMELINES = 8
#: Lanes drawn per timeline panel (the run's own lane included); more workers are summarised.
MAX_LANES = 12
#: Bars of the differing-samples chart (the samples with the largest differences).
MAX_DIFF_SAMPLES = 40
#: Colour by what matters: a unit's split (demo or test); bad outcomes are marks of their own.
SPLIT_COLOUR = {"demo": "#4477aa", "test": "#66ccee"}
STATUS_MARK = {"timeout": ("#cc3311", "v", "timeout"), "error": ("#222222", "x", "error"),
               "crashed": ("#aa3377", "D", "crashed")}
GENERATION_COLOUR, STARTUP_COLOUR = "#ee7733", "#bbbbbb"
#: The lane above the slots: what the run spent outside units that belongs to no slot's lane —
#: the parent's start-up and teardown inside the run window, and each task's candidate generation,
#: a job that ran on one of the slots (the run records when, not on which: the gap in a slot's lane).
RUN_LANE = "run"


def _size(width_in: float, height_in: float) -> tuple[float, float]:
    return min(MAX_WIDTH_IN, width_in), min(MAX_HEIGHT_IN, height_in)


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, format="png", bbox_inches="tight")
    plt.close(fig)
    return path


def _legend_outside(ax: Any, **kw: Any) -> None:
    """The legend to the right of the axes, never over the data."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=8, **kw)


def wall_vs_cpu(c: Any, out: Path) -> Optional[Path]:
    """Median wall and CPU per group (min–max whiskers) with the ideal wall bound marked."""
    g = c.groups
    if g.empty:
        return None
    x = np.arange(len(g))
    fig, ax = plt.subplots(figsize=_size(1.0 * len(g) + 3, 4.2))
    # lists, not a (2, n) array: matplotlib 3.11 turns a one-bar (2, 1) array into a scalar,
    # which NumPy deprecates (and will refuse)
    err = lambda col: np.vstack([g[f"{col}_median"] - g[f"{col}_min"],  # noqa: E731
                                 g[f"{col}_max"] - g[f"{col}_median"]]).tolist()
    ax.bar(x - 0.2, g["wall_s_median"], 0.4, yerr=err("wall_s"), capsize=3, label="wall (median, min–max)",
           color="#4477aa")
    ax.bar(x + 0.2, g["cpu_s_median"], 0.4, yerr=err("cpu_s"), capsize=3, label="CPU (median, min–max)",
           color="#ee7733")
    ax.scatter(x - 0.2, g["ideal_wall_s_median"], marker="_", s=900, color="black", zorder=3,
               label="ideal wall (physical limit)")
    ax.set_xticks(x, g["group"], rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("seconds")
    ax.set_title("Wall vs CPU per strategy, with the ideal bound")
    _legend_outside(ax, markerscale=0.3)  # the ideal's mark is drawn bar-wide
    return _save(fig, out / "wall_vs_cpu.png")


def timeline(c: Any, out: Path) -> Optional[Path]:
    """One panel per group (its first repeat) on one shared time axis: a lane per slot (a
    replacement worker keeps its slot's lane; a dotted line marks where it took over), units
    coloured by split, errors, timeouts and crashes as marks of their own above the units; the
    run's own lane (:data:`RUN_LANE`) shows the parent's start-up and teardown and each task's
    candidate generation."""
    picks = []
    for group, figs in c.by_group().items():
        picks.append((figs[0], c.run_of(figs[0])))
    picks = [p for p in picks if len(p[1].units) and p[1].units["started"].notna().any()][:MAX_TIMELINES]
    if not picks:
        return None
    lanes = [min(MAX_LANES, max(1, len(set(slot_lanes(p[1].units).values()))) + 1) for p in picks]
    fig, axes = plt.subplots(len(picks), 1, sharex=True, squeeze=False,
                             figsize=_size(12, 1.0 + sum(0.3 * n + 0.55 for n in lanes)),
                             gridspec_kw={"height_ratios": lanes})
    seen: dict[str, Any] = {}
    for ax, (fig_, run) in zip(axes[:, 0], picks):
        _draw_run(ax, fig_, run, seen)
    axes[-1, 0].set_xlim(left=0)
    axes[-1, 0].set_xlabel("seconds since the run started (one time axis for every panel)")
    fig.legend(list(seen.values()), list(seen.keys()), loc="upper left", bbox_to_anchor=(1.0, 0.98), fontsize=8,
               frameon=False)
    fig.tight_layout()
    return _save(fig, out / "timeline.png")


def _draw_run(ax: Any, fig_: Any, run: Any, seen: dict[str, Any]) -> None:
    """One panel: the run's lane (start-up, generation, teardown), then one lane per slot."""
    u = run.units[run.units["started"].notna()]
    s = run.summary
    t0 = s.started if s.started is not None else float(u["queued"].min())
    slot_of = slot_lanes(u)
    slots = [[w for w, i in slot_of.items() if i == slot] for slot in range(max(1, len(set(slot_of.values()))))]
    lanes = slots if len(slots) <= MAX_LANES - 1 else slots[: MAX_LANES - 2] + [sum(slots[MAX_LANES - 2:], [])]
    lane_names = [RUN_LANE] + [f"slot {i}" + (f" ({len(ws)} workers)" if len(ws) > 1 else "")
                               for i, ws in enumerate(slots[: len(lanes)])]
    if len(lanes) < len(slots):  # the rest share the last lane
        lane_names[-1] = f"{len(slots) - len(lanes) + 1} more slots"
    first = float(u["queued"].min()) - t0
    if first > 0:
        seen["start-up and teardown (parent)"] = ax.broken_barh([(0.0, first)], (-0.4, 0.8),
                                                                   facecolors=STARTUP_COLOUR, hatch="//")
    last = float(u["ended"].max()) - t0
    if s.ended is not None and s.ended - t0 > last:
        seen["start-up and teardown (parent)"] = ax.broken_barh([(last, s.ended - t0 - last)], (-0.4, 0.8),
                                                                   facecolors=STARTUP_COLOUR, hatch="//")
    pixel_s = max(last, 1e-9) / (MAX_WIDTH_IN * DPI)  # no narrower than the timeline's pixel
    spans = [(g[1] - t0, g[2] - g[1]) for g in (s.generation or [])]
    if spans:
        seen["candidate generation (a job on a slot)"] = ax.broken_barh(spans, (-0.4, 0.8), facecolors=GENERATION_COLOUR)
    for lane, members in enumerate(lanes, start=1):
        w = u[u["worker"].astype(str).isin(members)]
        takeovers = w.groupby(w["worker"].astype(str))["started"].min().sort_values().iloc[1:] - t0
        if len(members) > 1 and len(takeovers):
            seen["a new worker takes over its slot"] = ax.vlines(
                takeovers.to_numpy(), lane - 0.45, lane + 0.45, colors="0.2", linestyles=":", linewidth=0.8)
        starts = (w["started"] - t0).to_numpy()
        widths = (w["ended"].fillna(w["started"]) - w["started"]).to_numpy()
        for split, colour in SPLIT_COLOUR.items():
            m = (w["split"] == split).to_numpy()
            if m.any():  # one PolyCollection per lane and split: a bar per unit costs minutes at 30 000 units
                seen[f"{split} unit"] = ax.broken_barh(_merged_spans(starts[m], widths[m], pixel_s / 2),
                                                       (lane - 0.4, 0.8), facecolors=colour, linewidth=0)
        for status, (colour, marker, label) in STATUS_MARK.items():
            m = (w["status"] == status).to_numpy()
            if m.any():  # a mark above the lane at each bad unit's end: visible, never a solid lane
                seen[label] = ax.scatter(starts[m] + widths[m], np.full(m.sum(), lane + 0.28), marker=marker,
                                         s=14, color=colour, linewidths=0.8, zorder=3)
    draw_task_stream(ax, run, {w: lane for lane, ws in enumerate(lanes, start=1) for w in ws}, t0)
    ax.set_yticks(range(len(lane_names)), lane_names, fontsize=7)
    ax.set_ylim(len(lane_names) - 0.5, -0.5)
    ax.set_title(f"{fig_.name} (repeat {fig_.repeat}, wall {duration(fig_.wall_s)})", fontsize=9, loc="left")


def _merged_spans(starts: np.ndarray, widths: np.ndarray, gap_s: float) -> list[tuple[float, float]]:
    """(start, width) bars of one lane, with bars closer than ``gap_s`` seconds joined: units that
    follow each other within a fraction of a pixel look the same as one bar, and drawing tens of
    thousands of them was the largest cost of the report's charts."""
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], starts[order] + widths[order]
    reach = np.maximum.accumulate(e)
    first = np.flatnonzero(np.r_[True, s[1:] > reach[:-1] + gap_s])
    ends = np.maximum.reduceat(e, first)
    return list(zip(s[first], ends - s[first]))


def draw_task_stream(ax: Any, run: Any, workers: Union[list[str], dict[str, int]], t0: float) -> None:
    """Dask runs: outline each Dask task (one work item) on its worker's lane (``workers``: a
    worker id → lane map, or a list whose i-th worker has lane i), from the task stream the
    backend stored in summary.json (start/stop already on this machine's clock)."""
    stream = run.summary.resources.get("task_stream") or []
    lane = workers if isinstance(workers, dict) else {w: i for i, w in enumerate(workers)}
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
    if c.groups.empty:  # every run was empty (no unit recorded): nothing to draw
        return None
    g = c.groups[c.groups["strategy"] != "sequential"]
    if g.empty or g["workers"].nunique() < 2:
        return None
    fig, ax = plt.subplots(figsize=_size(7, 4.2))
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
    _legend_outside(ax)
    return _save(fig, out / "speedup_vs_workers.png")


def candidate_counts(c: Any, out: Path) -> Optional[Path]:
    """Only when the answers differ: ok candidates on the samples whose counts differ between
    strategies (the largest differences first, at most MAX_DIFF_SAMPLES), one bar per strategy."""
    t = differing_samples(c.counts) if not c.counts.empty else c.counts
    if t.empty:
        return None
    gap = (t.max(axis=1) - t.min(axis=1)).sort_values(ascending=False, kind="stable")
    t = t.loc[gap.index[:MAX_DIFF_SAMPLES]]
    fig, ax = plt.subplots(figsize=_size(0.35 * len(t) * max(1, len(t.columns)) ** 0.5 + 4, 4))
    width = 0.8 / max(1, len(t.columns))
    x = np.arange(len(t))
    for i, col in enumerate(t.columns):
        ax.bar(x + i * width - 0.4 + width / 2, t[col], width, label=col)
    ax.set_xticks(x, t.index, rotation=40, ha="right", fontsize=7)
    ax.set_ylabel("ok candidates")
    more = f" (the {len(t)} largest of {len(gap)})" if len(gap) > len(t) else ""
    ax.set_title(f"Samples whose ok-candidate counts differ{more}")
    _legend_outside(ax)
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
    fig, ax = plt.subplots(figsize=_size(7, 4))
    for name, w in data.items():
        ax.hist(w, bins=bins, histtype="step", linewidth=1.4, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("unit wall time (s, log scale)")
    ax.set_ylabel("units")
    ax.set_title("Distribution of unit times")
    _legend_outside(ax)
    return _save(fig, out / "unit_times.png")


#: Bars per panel of the cost chart (the rest is in the cumulative line).
COST_BARS = 20


def cost_pareto(c: Any, out: Path) -> Optional[Path]:
    """Where the time goes: a Pareto chart of the sequential reference's unit time by candidate
    (and by sample and by task when there are several): bars for each one's share, the part spent
    in timed-out units hatched red, the cumulative share as a line."""
    cost = getattr(c, "cost", None) or {}
    panels = [(by, t) for by, t in cost.items() if len(t) >= 2]
    if not panels:
        return None
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 3.2 * len(panels)), squeeze=False)
    for ax, (by, t) in zip(axes[:, 0], panels):
        top = t.head(COST_BARS)
        x = np.arange(len(top))
        total = float(t["wall_s"].sum())
        ax.bar(x, 100 * top["share"], color="#4477aa", label="share of unit time")
        ax.bar(x, 100 * top["timeout_wall_s"] / total, color="none", edgecolor="red", hatch="//",
               linewidth=0.8, label="of which in timed-out units")
        ax.set_xticks(x, top["name"], rotation=45, ha="right", fontsize=7)
        ax.set_ylabel("% of unit time")
        line = ax.twinx()
        line.plot(x, 100 * top["cumulative"], "k.-", label="cumulative")
        line.set_ylim(0, 105)
        line.set_ylabel("cumulative %")
        more = f" (top {len(top)} of {len(t)})" if len(t) > len(top) else ""
        ax.set_title(f"Where the time goes, by {by}{more}: sequential unit time (each unit's fastest run)",
                     fontsize=9)
        handles = ax.get_legend_handles_labels()[0] + line.get_legend_handles_labels()[0]
        ax.legend(handles, [h.get_label() for h in handles], fontsize=7, loc="center right")
    return _save(fig, out / "cost_pareto.png")


def command_breakdown(c: Any, out: Path) -> Optional[Path]:
    """Where each group's whole command went (its median run, perfkit/analysis/breakdown.py):
    one stacked bar per group for the wall, the CPU of every process, and the run window's
    slot capacity; the items of a bar add up to it."""
    if not c.breakdowns:
        return None
    names = list(c.breakdowns)
    panels = [("wall (s)", [b.wall for b in c.breakdowns.values()]),
              ("CPU of every process (s)", [b.cpu for b in c.breakdowns.values()]),
              ("run window: slots × wall (core-s)", [b.window for b in c.breakdowns.values()])]
    # one colour per item across the panels ("units" of the CPU bar is "units" of the window),
    # a hue per phase: start-up blues, worker start orange, the window greens and purples,
    # teardown reds, exit and idle greys
    labels = list(dict.fromkeys(i.name for _, bars in panels for bar in bars if bar for i in bar.items))
    shades, reds = plt.get_cmap("tab20c"), plt.get_cmap("tab20")
    colour = {IMPORTS: shades(0), TASKS: shades(1), SOLVER: shades(2), RUN_FOLDER: shades(3),
              WORKER_START: shades(4), RUN_WINDOW: shades(8), UNITS: shades(8), GENERATION: shades(10),
              SOLVER_OWN: shades(9),
              HARNESS: shades(12), PARENT: shades(14), STOPPING: reds(6), STORE: reds(7), EXIT: shades(16),
              OTHERS: shades(18), OFF_CPU: shades(11), IDLE: shades(19)}
    for i, label in enumerate(x for x in labels if x not in colour):  # a span of a newer perfkit
        colour[label] = reds(i % 20)
    fig, axes = plt.subplots(len(panels), 1, figsize=_size(10, 1.6 + len(panels) * (0.45 * len(names) + 0.9)),
                             squeeze=False)
    for ax, (title, bars) in zip(axes[:, 0], panels):
        for row, bar in enumerate(bars):
            left = 0.0
            for item in bar.items if bar else ():
                width = max(0.0, item.seconds)
                ax.barh(row, width, left=left, color=colour[item.name], edgecolor="white", linewidth=0.5)
                left += width
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=9)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour[label]) for label in labels]
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=7, frameon=False)
    fig.suptitle("Whole command: where the time went (each group's median run)")
    fig.tight_layout(rect=(0, 0.04 + 0.025 * ((len(labels) + 2) // 3), 1, 1))
    fig.savefig(out / "command_breakdown.png", dpi=DPI, format="png")
    plt.close(fig)
    return out / "command_breakdown.png"


#: Every chart, in the report's order: (its title, the function that draws it and names it).
CHARTS = (
    ("Wall vs CPU per strategy (ideal bound marked)", wall_vs_cpu),
    ("Worker timeline", timeline),
    ("Speedup vs workers", speedup_vs_workers),
    ("Samples whose ok-candidate counts differ between strategies", candidate_counts),
    ("Distribution of unit times", unit_times),
    ("Where the time goes: unit time by candidate, sample and task (Pareto)", cost_pareto),
    ("Whole command: wall, CPU and run-window capacity, itemised", command_breakdown),
)


def render_all(c: Any, out: Path) -> dict[str, tuple[str, Path]]:
    """Write every applicable chart into ``out``: ``{name: (title, path)}``, in CHARTS order.
    Every other chart is drawn in a forked child meanwhile (perfkit/orchestration/forked.py):
    matplotlib is single-threaded, and on 2 cores this halves the charts' wall."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    others = Forked(_render, c, out, CHARTS[1::2])
    done = {**_render(c, out, CHARTS[0::2]), **others.result()}
    return {fn.__name__: done[fn.__name__] for _, fn in CHARTS if fn.__name__ in done}


def _render(c: Any, out: Path, charts: Sequence[tuple[str, Any]]) -> dict[str, tuple[str, Path]]:
    done = {}
    for title, fn in charts:
        path = fn(c, out)
        if path is not None:
            done[fn.__name__] = (title, path)
    return done
