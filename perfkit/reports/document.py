"""The report's content as format-neutral blocks; markdown.py and html.py only render them.

Formatting numbers for reading happens here (once); no figure is computed here: everything
comes from :class:`perfkit.analysis.Comparison`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import pandas as pd

from perfkit.analysis.text import is_missing, number, percent

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


def _s(x: Any) -> str:
    """A cell: missing values (None, NaN) as an en dash."""
    return "–" if is_missing(x) else str(x)


def _spread(row: Any, col: str, spec: str = ".3f") -> str:
    med, lo, hi = row[f"{col}_median"], row[f"{col}_min"], row[f"{col}_max"]
    if row["repeats"] < 2:
        return number(med, spec)
    return f"{number(med, spec)} [{number(lo, spec)}–{number(hi, spec)}]"


def build(c: Any, charts: dict[str, tuple[str, Path]], name: str = "comparison",
          profiles: Optional[list[tuple[str, str, str]]] = None) -> Document:
    """The report of a comparison: answers first, then recommendation, figures, findings, charts."""
    doc = Document(headline=c.headline(), differences=c.differences, title=f"perfkit comparison: {name}")
    b = doc.blocks
    if c.recommendation is not None:
        b += [Heading("Recommendation"), Para(c.recommendation.sentence, strong=True)]
    b += [Heading("Strategies (median over repeats [min–max])"), _groups_table(c)]
    b += [Heading("Answers vs sequential")]
    b += _answers(c)
    b += [Heading("Candidates per sample (ok outcomes; first repeat of each)"), _frame_table(c.counts, "sample")]
    b += [Heading("Findings")]
    if c.findings:
        b.append(Bullets(tuple((f"{f.severity}: {f.sentence}", f.evidence, f.severity == "problem")
                               for f in c.findings)))
    else:
        b.append(Para("No findings: every rule stayed silent."))
    if charts:
        b.append(Heading("Charts"))
        b += [Image(title, path) for title, path in charts.values()]
    if profiles:
        b += [Heading("Profiles (where the CPU goes inside the workers)"), Links(tuple(profiles))]
    b += [Heading("Runs"), _runs_table(c)]
    if getattr(c, "empty_runs", None):
        b.append(Para("Runs without any recorded unit (left out): " + ", ".join(c.empty_runs)))
    b += [Heading("Environment")]
    b.append(_env(c))
    b += [Heading("Definitions"), Para(
        "parallelism = CPU / wall; slots = min(workers, usable cores); ideal wall = Σ over stages of "
        "max(work / slots, largest indivisible work item), work = unit CPU under sequential; "
        "efficiency = ideal / wall; dispatch overhead = share of wall × slots spent outside units; "
        "contention = unit wall / unit CPU; queue wait = started − queued; speedup = median sequential "
        "wall / median wall (bootstrap 95 % CI).")]
    return doc


def _groups_table(c: Any) -> Table:
    headers = ("strategy", "repeats", "wall s", "CPU s", "parallelism", "ideal s", "efficiency",
               "speedup (95 % CI)", "dispatch overhead", "contention", "queue wait s (median)",
               "ok / error / timeout / crashed / skipped (max)", "tasks solved")
    rows = []
    for _, r in c.groups.iterrows():
        speed = f"{number(r['speedup'], '.2f')}× ({number(r['speedup_low'], '.2f')}–{number(r['speedup_high'], '.2f')})"
        rows.append((r["group"], str(r["repeats"]), _spread(r, "wall_s"), _spread(r, "cpu_s"),
                     _spread(r, "parallelism", ".2f"), number(r["ideal_wall_s_median"]),
                     _spread(r, "efficiency", ".0%"), speed, _spread(r, "dispatch_overhead", ".0%"),
                     _spread(r, "contention", ".2f"), number(r["queue_wait_median_s_median"]),
                     " / ".join(str(r[f"n_{k}_max"]) for k in ("ok", "error", "timeout", "crashed", "skipped")),
                     f"{r['tasks_solved_min']}/{r['tasks']}"))
    return Table(headers, tuple(rows))


def _answers(c: Any) -> list[Block]:
    out: list[Block] = [Para(c.headline(), strong=c.differences)]
    bad = [a for a in c.answers if not a.clean]
    if bad:
        out.append(Bullets(tuple((a.sentence(), (), True) for a in bad)))
        rows = []
        for a in bad:
            for kind, df in (("missing", a.missing), ("extra", a.extra), ("status changed", a.status_changed),
                             ("output changed", a.output_changed)):
                for r in df.itertuples(index=False):
                    rows.append((a.group, a.run_id, kind, str(r.task_id), f"{r.split}[{r.index}]", str(r.candidate),
                                 *(_s(v) for v in (r.status_ref, r.status_run, r.output_hash_ref, r.output_hash_run))))
        shown = rows[:MAX_DIFF_ROWS]
        out.append(Table(("strategy", "run", "difference", "task", "sample", "candidate", "status (seq)",
                          "status", "output (seq)", "output"), tuple(shown)))
        if len(rows) > len(shown):
            out.append(Para(f"… and {len(rows) - len(shown)} more unit differences."))
    return out


def _frame_table(df: pd.DataFrame, index_name: str) -> Table:
    if df.empty:
        return Table((index_name,), ())
    return Table((index_name, *map(str, df.columns)),
                 tuple((str(i), *(str(v) for v in row)) for i, row in zip(df.index, df.itertuples(index=False))))


def _runs_table(c: Any) -> Table:
    rows = tuple((f.run_id, f.name, str(f.repeat), number(f.wall_s), number(f.cpu_s), number(f.ideal_wall_s), percent(f.efficiency),
                  " ".join(f"{k}={v}" for k, v in f.statuses.items()))
                 for f in c.figures)
    return Table(("run", "strategy", "repeat", "wall s", "CPU s", "ideal s", "efficiency", "statuses"), rows)


def _env(c: Any) -> Table:
    envs = {}
    for r in c.runs:
        e = r.environment
        key = (e.get("python"), e.get("cpu_model"), e.get("usable_cores"), e.get("git_commit"), e.get("hostname"))
        envs[key] = envs.get(key, 0) + 1
    return Table(("python", "CPU", "usable cores", "git commit", "host", "runs"),
                 tuple(tuple(str(x) for x in k) + (str(n),) for k, n in envs.items()))
