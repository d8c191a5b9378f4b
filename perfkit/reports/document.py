"""The report's content as format-neutral blocks; markdown.py and html.py only render them.

Formatting numbers for reading happens here (once); no figure is computed here: everything
comes from :class:`perfkit.analysis.Comparison`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import pandas as pd

from perfkit.analysis.answers import NOISE_KINDS
from perfkit.analysis.breakdown import OTHERS
from perfkit.analysis.overview import differing_samples, task_table
from perfkit.analysis.prediction.predict import shows_skipped
from perfkit.analysis.runset import describe_left_out, read_notes
from perfkit.analysis.statistics import UNSTABLE_CV, UNSTABLE_EXTREME
from perfkit.analysis.text import count, duration, durations, is_missing, number, percent, ratio_interval

MAX_DIFF_ROWS = 20


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Para:
    text: str
    strong: bool = False


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Bullets:
    #: (text, sub-items, strong)
    items: tuple[tuple[str, tuple[str, ...], bool], ...]


@dataclass(frozen=True)
class Links:
    #: (text, relative href, note)
    items: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class Image:
    title: str
    path: Path


Block = Union[Heading, Para, Table, Bullets, Links, Image]


@dataclass
class Document:
    headline: str
    differences: bool
    title: str
    blocks: list[Block] = field(default_factory=list)


#: Marks of a verdict in a cell (text, never emoji: they render without an emoji font; the HTML
#: renderer draws them as inline SVG).
PASS, FAIL, UNSURE = "✓", "✗", "?"
#: Rows shown of a per-task or per-sample table; the rest is in report.json.
MAX_TASK_ROWS = 30
#: Evidence lines shown under a finding; the rest is in report.json.
MAX_EVIDENCE = 8


def _s(x: Any) -> str:
    """A cell: missing values (None, NaN) as an en dash."""
    return "–" if is_missing(x) else str(x)


def _spread(row: Any, col: str, spec: str = ".3f") -> str:
    """``median [min–max]`` over repeats; durations (``spec`` "s") auto-scaled in one unit."""
    med, lo, hi = row[f"{col}_median"], row[f"{col}_min"], row[f"{col}_max"]
    if spec == "s":
        m, a, b = durations([med, lo, hi])
        return m if row["repeats"] < 2 else f"{m} [{a.split()[0]}–{b}]"
    if row["repeats"] < 2:
        return number(med, spec)
    return f"{number(med, spec)} [{number(lo, spec)}–{number(hi, spec)}]"


def speedup_text(row: Any) -> str:
    """``1.43× (1.23–1.70)``; ``1.43× (no interval: one run)`` — never a point shown as an
    interval; an en dash without a reference."""
    return ratio_interval(row["speedup"], row["speedup_low"], row["speedup_high"])


def build(c: Any, charts: dict[str, tuple[str, Path]], name: str = "comparison",
          profiles: Optional[list[tuple[str, str, str]]] = None, left_out: Sequence[Any] = ()) -> Document:
    """The report of a comparison: answers first, then recommendation, figures, findings, charts.
    ``left_out``: runs given but not complete (perfkit/analysis/runset.py), named near the top."""
    doc = Document(headline=c.headline(), differences=c.differences, title=f"perfkit comparison: {name}")
    b = doc.blocks
    if left_out:
        b.append(Para(describe_left_out(left_out), strong=True))
    notes = read_notes(c.runs)
    if notes:  # a torn record's units are in no figure: 49 units of a 6 × 9 task, and not a word why
        b.append(Para("Read from the run folders with records skipped: " + "; ".join(notes) + ".", strong=True))
    if c.recommendation is not None:
        b += [Heading("Recommendation"), Para(c.recommendation.sentence, strong=True)]
    b += [Heading("Strategies: the run window (median over repeats [min–max])"), _groups_table(c)]
    if c.reference is None:
        b.append(Para("No sequential run: no speedup and no answer check (a speedup is against sequential)."))
    b += _whole_command(c)
    b += [Heading("Spread over repeats"), _spread_table(c), Para(
        f"sd: sample standard deviation; IQR: interquartile range; outliers: outside Q1 − 1.5 IQR … "
        f"Q3 + 1.5 IQR; unstable: sd ≥ {UNSTABLE_CV:.0%} of the mean, or the minimum or maximum "
        f"{UNSTABLE_EXTREME:.0%} from it (pyperf's checks). Every figure's spread is in report.json.")]
    b += [Heading("Answers vs sequential")]
    b += _answers(c)
    b += _reference_variability(c)
    b += _candidates(c)
    b += [Heading("Findings")]
    if c.findings:
        b.append(Bullets(tuple((f"{f.severity}: {f.sentence}", _bounded(f.evidence), f.severity == "problem")
                               for f in c.findings)))
    else:
        b.append(Para("No findings: every rule stayed silent."))
    b += _where_time_goes(c)
    if charts:
        b.append(Heading("Charts"))
        b += [Image(title, path) for title, path in charts.values()]
    if profiles:
        b += [Heading("Profiles (where the CPU goes inside the workers)"), Links(tuple(profiles))]
    b += [Heading("Runs"), _runs_table(c)]
    b += _machine_load(c)
    b += _memory(c)
    if getattr(c, "empty_runs", None):
        b.append(Para("Runs without any recorded unit (left out): " + ", ".join(c.empty_runs)))
    b += [Heading("Environment")]
    b.append(_env(c))
    b += [Heading("Definitions"), Para(
        "parallelism = CPU / wall; slots = min(workers, usable cores); ideal wall = Σ over stages of "
        "max(work / slots, largest indivisible work item), work = unit CPU under sequential (every thread of "
        "its process and the programs it ran; a unit computing on several threads at once needs its CPU on "
        "the cores and only its wall on a worker); "
        "efficiency = ideal / wall; dispatch overhead = share of wall × slots spent outside units; "
        "contention = unit wall / unit CPU (units with a measured CPU); queue wait = started − queued; "
        "speedup = median sequential wall / median wall (bootstrap 95 % CI; none from one run); boundary "
        "unit = ok or error/timeout flip between sequential runs, or a sequential time of at least half its timeout; "
        "other work = machine CPU during the run not used by the run, in cores: other processes, and threads "
        "that earlier thread-backend runs of the same process could not stop." + _model_definition(c))]
    return doc


def _model_definition(c: Any) -> str:
    """What the prediction columns mean, and why no error is shown without a calibration."""
    if not predicted_headers(c):
        return ""
    why = ("; model error = predicted / measured − 1." if getattr(c, "model_calibrated", False) else
           " — UNCALIBRATED: this machine's backend costs were never measured, so built-in ones were used and "
           "the model error is not shown (run perfkit predict once to measure them).")
    return (" predicted wall = the median over repeats of each run's wall predicted from the sequential reference "
            "alone by perfkit predict's simulation; timeouts (skipped) measured / predicted = the median over "
            "repeats of the units each run timed out (skipped), beside those the same simulation predicts" + why)


def _bounded(evidence: Sequence[str]) -> tuple[str, ...]:
    """At most MAX_EVIDENCE lines of evidence, and how many more report.json has."""
    if len(evidence) <= MAX_EVIDENCE:
        return tuple(evidence)
    return (*evidence[:MAX_EVIDENCE - 1], f"… and {len(evidence) - MAX_EVIDENCE + 1} more (report.json has them all)")


def measured_predicted(measured: Any, predicted: Any) -> str:
    """A count measured beside its prediction, ``27 / 21`` (medians over repeats: a half when
    an even number of repeats disagree); an en dash for a count that is missing."""
    return f"{number(measured, 'g')} / {number(predicted, 'g')}"


def predicted_headers(c: Any) -> tuple[str, ...]:
    """The columns a comparison's model check adds beside each configuration: predicted wall,
    model error, timeouts measured / predicted (and skipped units, when any configuration
    skipped some, measured or predicted); each marked when the backend costs are built-in."""
    model = getattr(c, "model", None)
    if model is None or model.empty:
        return ()
    counts = ("timeouts", "skipped") if shows_skipped(model) else ("timeouts",)
    if getattr(c, "model_calibrated", False):
        return ("predicted wall", "model error") + tuple(f"{k} measured / predicted" for k in counts)
    return (("predicted wall (uncalibrated)", "model error (uncalibrated: not shown)")
            + tuple(f"{k} measured / predicted (uncalibrated)" for k in counts))


def _predicted(c: Any) -> dict[str, tuple[str, ...]]:
    """group name → the cells of :func:`predicted_headers`, from the comparison's model check."""
    model = getattr(c, "model", None)
    if model is None or model.empty:
        return {}
    skipped = shows_skipped(model)
    return {f"{r.strategy}/{r.backend}×{r.workers}": (
        _predicted_wall(r), number(r.model_error, "+.0%"),
        measured_predicted(r.measured_timeouts, r.predicted_timeouts))
        + ((measured_predicted(r.measured_skipped, r.predicted_skipped),) if skipped else ())
        for r in model.itertuples()}


def _predicted_wall(r: Any) -> str:
    """The model's wall of a configuration, or where it predicts the run to stop early (a thread
    run past its abandoned-unit limit: its work unfinished, no error against a complete run)."""
    stopped = getattr(r, "predicted_stopped_s", math.nan)
    return duration(r.predicted_wall_s) if math.isnan(stopped) else f"stops early at {duration(stopped)}"


def _groups_table(c: Any) -> Table:
    predicted, extra = _predicted(c), predicted_headers(c)
    headers = ("strategy", "repeats", "wall", "CPU", "parallelism", "ideal", "efficiency",
               "speedup (95 % CI)", "dispatch overhead", "contention", "queue wait (median)",
               "ok / error / timeout / crashed / skipped (repeat with fewest ok)", "tasks solved") + extra
    rows = []
    for _, r in c.groups.iterrows():
        rows.append((r["group"], str(r["repeats"]), _spread(r, "wall_s", "s"), _spread(r, "cpu_s", "s"),
                     _spread(r, "parallelism", ".2f"), duration(r["ideal_wall_s_median"]),
                     _spread(r, "efficiency", ".0%"), speedup_text(r), _spread(r, "dispatch_overhead", ".0%"),
                     _spread(r, "contention", ".2f"), duration(r["queue_wait_median_s_median"]),
                     " / ".join(str(r[f"n_{k}_worst"]) for k in ("ok", "error", "timeout", "crashed", "skipped")),
                     f"{r['tasks_solved_min']}/{r['tasks']}") + predicted.get(r["group"], ("–",) * len(extra)))
    return Table(headers, tuple(rows))


#: Figures whose spread the report shows (report.json has every figure's).
SPREAD_FIGURES = (("wall_s", "wall"), ("cpu_s", "CPU"))


def _spread_table(c: Any) -> Table:
    rows = []
    for _, r in c.groups.iterrows():
        for col, label in SPREAD_FIGURES:
            med, mean, sd, iqr, lo, hi = durations([r[f"{col}_{k}"] for k in ("median", "mean", "sd", "iqr", "min", "max")])
            flag = f"{UNSURE} unstable: {r[f'{col}_why']}" if r[f"{col}_unstable"] else f"{PASS} stable"
            rows.append((r["group"], label, str(r["repeats"]), med, f"{mean} ± {sd}", iqr, f"{lo} – {hi}",
                         str(r[f"{col}_outliers"]), flag))
    return Table(("strategy", "figure", "n", "median", "mean ± sd", "IQR", "min – max", "outliers", "stable"),
                 tuple(rows))


def _candidates(c: Any) -> list[Block]:
    """When answers differ: the samples whose ok-candidate counts differ, only. Otherwise a small
    per-task summary of the reference run (every strategy found the same)."""
    diff = differing_samples(c.counts) if not c.counts.empty else c.counts
    if len(diff):
        total = len(c.counts.drop(index="total", errors="ignore"))
        out: list[Block] = [Heading(f"Samples whose ok-candidate counts differ ({len(diff)} of {total})"),
                            _frame_table(diff.head(MAX_DIFF_ROWS), "sample")]
        if len(diff) > MAX_DIFF_ROWS:
            out.append(Para(f"… and {len(diff) - MAX_DIFF_ROWS} more samples (report.json has them all)."))
        return out
    runs = [c.reference] if c.reference is not None else c.runs[:1]
    if not runs:
        return []
    tasks = task_table(runs[0].units)
    same = "every strategy found the same ok candidates on every sample" if len(c.counts.columns) > 1 else \
        "one strategy"
    out = [Heading(f"Tasks ({len(tasks)}; {same})"), _task_rows(tasks.head(MAX_TASK_ROWS))]
    if len(tasks) > MAX_TASK_ROWS:
        out.append(Para(f"… and {len(tasks) - MAX_TASK_ROWS} more tasks (report.json has them all)."))
    return out


def _task_rows(tasks: pd.DataFrame) -> Table:
    rows = tuple((r.task, str(r.samples), str(r.candidates), str(r.units), str(r.ok),
                  str(r.error), str(r.timeout + r.crashed + r.skipped), PASS if r.solved else "–")
                 for r in tasks.itertuples(index=False))
    return Table(("task", "samples", "candidates", "units", "ok", "error", "timeout / crashed / skipped", "solved"),
                 rows)


def _whole_command(c: Any) -> list[Block]:
    """The whole command beside the run window, and where each group's time went."""
    if not getattr(c, "breakdowns", None):
        return []
    origin = {b.origin for b in c.breakdowns.values()}
    since = "its process start" if origin == {"process"} else "the call that started it"
    out: list[Block] = [Heading("Whole command: start-up and teardown included"), Para(
        "Speed figures above compare the run window: first dispatch to last outcome. Around it each run "
        f"also spent start-up, worker start and teardown; its whole command runs from {since} to the end "
        "of its teardown, with the CPU of every process it started (median run of each group; items add up "
        "to the bar).")]
    rows = []
    for _, r in c.groups.iterrows():
        b = c.breakdowns.get(r["group"])
        if b is None:
            continue
        wall = {phase: w for phase, (w, _) in b.phases.items()}
        # other work is named only when there was some: a quiet machine's rows stay as they were
        capacity = ", ".join(f"{i.name} {percent(b.window.share(i))}" for i in b.window.items
                             if i.seconds > 0 or i.name != OTHERS) if b.window else "–"
        rows.append((r["group"], duration(wall.get("run window")), duration(b.wall.total_s), duration(b.cpu.total_s),
                     *(duration(wall.get(name)) for name in ("start-up", "worker start", "teardown")), capacity))
    out.append(Table(("strategy", "run window wall", "whole wall", "whole CPU", "start-up", "worker start",
                      "teardown", "run window capacity (slots × wall)"), tuple(rows)))
    return out


def _answers(c: Any) -> list[Block]:
    out: list[Block] = [Para(c.headline(), strong=c.differences)]
    bad = [a for a in c.answers if not a.clean]
    if bad:
        out.append(Bullets(tuple((a.sentence(), (), not a.agrees) for a in bad)))
        rows = []
        for a in bad:
            for r in a.table.itertuples(index=False):
                rows.append((a.group, a.run_id, r.kind, r.difference, str(r.task_id), f"{r.split}[{r.index}]",
                             str(r.candidate),
                             *(_s(v) for v in (r.status_ref, r.status_run, r.output_hash_ref, r.output_hash_run))))
        rows.sort(key=lambda row: row[2] in NOISE_KINDS)  # the strategies' own differences first
        shown = rows[:MAX_DIFF_ROWS]
        out.append(Table(("strategy", "run", "kind", "difference", "task", "sample", "candidate", "status (seq)",
                          "status", "output (seq)", "output"), tuple(shown)))
        if len(rows) > len(shown):
            out.append(Para(f"… and {len(rows) - len(shown)} more unit differences."))
    return out


def _reference_variability(c: Any) -> list[Block]:
    """Sequential against itself: how many runs, which units differ between them."""
    v = c.variability
    if v is None:
        return []
    head = Heading("Sequential against itself", 3)
    if v.runs < 2:
        return [head, Para("Sequential ran once: its own variability is unknown, so every difference above counts "
                           "against the strategy (a comparison runs it at least twice).")]
    flips, nd = v.flips, v.nondeterministic
    text = (f"Sequential ran {v.runs} times, each in a fresh process ({', '.join(v.run_ids)}): "
            f"{count(len(flips), 'unit')} flipped between finishing (ok or error) and timeout (boundary units, of "
            f"{len(v.boundary)} at or above half their {v.timeout_s:g} s limit) and {count(len(nd), 'unit')} of "
            f"{count(nd['candidate'].nunique(), 'candidate')} gave different answers (nondeterministic candidates).")
    out: list[Block] = [head, Para(text)]
    rows = [("boundary flip", str(r.task_id), f"{r.split}[{r.index}]", str(r.candidate), r.statuses,
             f"{number(r.wall_min_s)}–{number(r.wall_max_s)}") for r in flips.head(MAX_DIFF_ROWS).itertuples()]
    rows += [("nondeterministic", str(r.task_id), f"{r.split}[{r.index}]", str(r.candidate), r.statuses,
              f"{r.outputs} outputs") for r in nd.head(MAX_DIFF_ROWS).itertuples()]
    if rows:
        out.append(Table(("kind", "task", "sample", "candidate", "statuses", "sequential time s / outputs"),
                         tuple(rows)))
    return out


#: Rows of each "where the time goes" table.
COST_ROWS = 10


def _where_time_goes(c: Any) -> list[Block]:
    """The reference's unit time by candidate, sample and task (Pareto tables)."""
    cost = getattr(c, "cost", None) or {}
    if not cost:
        return []
    out: list[Block] = [Heading("Where the time goes (sequential unit time, each unit's fastest sequential run)")]
    for by, t in cost.items():
        if len(t) < 2:
            continue
        rows = tuple((str(r.name), number(r.wall_s), percent(r.share, 1), percent(r.cumulative, 1), str(r.units),
                      str(r.timeouts), number(r.timeout_wall_s)) for r in t.head(COST_ROWS).itertuples())
        out += [Heading(f"by {by} ({len(t)}; the {min(COST_ROWS, len(t))} most expensive)", 3),
                Table((by, "unit time s", "share", "cumulative", "units", "timeouts", "in timeouts s"), rows)]
    return out if len(out) > 1 else []


def _mb(n: Any) -> str:
    return "–" if is_missing(n) else f"{float(n) / 2**20:.0f}"


def _memory(c: Any) -> list[Block]:
    """Peak resident memory per run: the largest worker, the median and the largest work item."""
    figs = [f for f in c.figures if not is_missing(getattr(f, "peak_rss_bytes", None))]
    if not figs:
        return []
    rows = tuple((f.run_id, f.name, _mb(f.peak_rss_bytes), _mb(f.item_rss_median_bytes), _mb(f.item_rss_max_bytes))
                 for f in figs)
    return [Heading("Memory (peak resident set, MB)", 3),
            Table(("run", "strategy", "largest worker", "median work item", "largest work item"), rows)]


def _machine_load(c: Any) -> list[Block]:
    """Other processes' CPU and the load average during each run (when recorded)."""
    figs = [f for f in c.figures if not is_missing(getattr(f, "others_cores", None))]
    if not figs:
        return []
    strays = any(f.stray_threads for f in figs)  # threads earlier runs left running (stray-threads finding)
    rows = tuple((f.run_id, f.name, number(f.others_cores, ".2f"))
                 + ((f"{f.stray_threads}: {f.stray_cores:.2f}",) if strays else ())
                 + (number(f.load_avg_1m, ".2f"), str(f.cores)) for f in figs)
    return [Heading("Machine load during each run", 3),
            Table(("run", "strategy", "other work (cores)")
                  + (("of which threads left running by earlier runs (threads: cores)",) if strays else ())
                  + ("load average (1 min, at the end)", "usable cores"), rows)]


def _frame_table(df: pd.DataFrame, index_name: str) -> Table:
    if df.empty:
        return Table((index_name,), ())
    return Table((index_name, *map(str, df.columns)),
                 tuple((str(i), *(str(v) for v in row)) for i, row in zip(df.index, df.itertuples(index=False))))


def _runs_table(c: Any) -> Table:
    rows = tuple((f.run_id, f.name, str(f.repeat), *durations([f.wall_s, f.cpu_s, f.ideal_wall_s]), percent(f.efficiency),
                  " ".join(f"{k}={v}" for k, v in f.statuses.items()))
                 for f in c.figures)
    return Table(("run", "strategy", "repeat", "wall", "CPU", "ideal", "efficiency", "statuses"), rows)


def _env(c: Any) -> Table:
    envs = {}
    for r in c.runs:
        e = r.environment
        key = (e.get("python"), e.get("cpu_model"), e.get("usable_cores"), e.get("git_commit"), e.get("hostname"))
        envs[key] = envs.get(key, 0) + 1
    return Table(("python", "CPU", "usable cores", "git commit", "host", "runs"),
                 tuple(tuple(str(x) for x in k) + (str(n),) for k, n in envs.items()))
