"""The prediction report of ``perfkit predict``: a Document (rendered by markdown.py and
html.py), its chart (speedup vs workers per strategy, each knee marked) and ``report.json``.

``report.json`` is of kind ``prediction`` (perfkit/reports/report.schema.json). Nothing is computed here: every figure and sentence comes from
:class:`perfkit.analysis.prediction.predict.Sweep`; this module only formats them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from perfkit.analysis.prediction.predict import (PARTS, Knee, Prediction, Sweep, doubtful,  # noqa: E402
                                                 loses_answers, named_timeouts, sweep_record, verdict)
from perfkit.reports import REPORT_FILES, html, json_report, markdown  # noqa: E402
from perfkit.analysis.text import count, number  # noqa: E402
from perfkit.reports.document import Bullets, Document, Heading, Image, Para, Table  # noqa: E402
from perfkit.store.folder import output_folder  # noqa: E402

#: At most this many units listed by name per timeout.
MAX_CUT_NAMES = 8


def chart(s: Sweep, out: Path) -> Optional[Path]:
    """Predicted speedup vs workers, one line per strategy/backend(/chunk), knees circled, with
    the ideal min(workers, cores) line."""
    curves: dict[str, list[Prediction]] = {}
    for p in s.predictions[1:]:
        key = f"{p.config.strategy}/{p.config.backend}" + (f" chunk {p.config.chunk_size}" if p.config.chunk_size else "")
        curves.setdefault(key, []).append(p)
    curves = {k: v for k, v in curves.items() if len(v) > 1}
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    knees = {k.curve: k for k in s.knees}
    most = max(p.config.workers for ps in curves.values() for p in ps)
    for name, ps in curves.items():
        ps = sorted(ps, key=lambda p: p.config.workers)
        line, = ax.plot([p.config.workers for p in ps], [p.speedup for p in ps], marker="o", label=name)
        knee = knees.get(name)
        if knee is not None and knee.found:
            ax.scatter([knee.workers], [knee.speedup], s=180, facecolors="none", edgecolors=line.get_color(),
                       linewidths=2, zorder=3)
            ax.annotate(f"knee {knee.workers}", (knee.workers, knee.speedup), textcoords="offset points",
                        xytext=(6, -12), fontsize=7, color=line.get_color())
        lost = [p for p in ps if loses_answers(p)]
        if lost:
            ax.scatter([p.config.workers for p in lost], [p.speedup for p in lost], marker="x", s=60, color="red",
                       zorder=4)
    cores = s.machine.cores * s.machine.machines
    xs = sorted({p.config.workers for ps in curves.values() for p in ps})
    ax.plot(xs, [min(x, cores) for x in xs], "k--", linewidth=1, label=f"ideal (min(workers, {cores} cores))")
    ax.axhline(1.0, color="0.6", linewidth=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.set_xlabel("workers" + (f" (over {s.machine.machines} machines)" if s.machine.machines > 1 else ""))
    ax.set_ylabel("predicted speedup vs sequential")
    ax.set_title(f"Predicted speedup vs workers (knees circled; × = answers lost), speed {s.machine.speed:g}×",
                 fontsize=9)
    ax.set_xlim(min(xs) / 1.3, most * 1.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "speedup_vs_workers.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def knee_where(k: Knee) -> str:
    """``knee at 2 workers (1.80×; best 1.95×)``; ``no knee`` when no worker count of its curve
    keeps the sequential answers (``Knee.found``): one that stops early has no speedup to show
    (its work unfinished), not "nan×", and a speedup that loses answers is no knee either."""
    if not k.found:
        return "no knee"
    return f"knee at {count(k.workers, 'worker')} ({k.speedup:.2f}×; best {k.best_speedup:.2f}×)"


def _speed(p: Prediction) -> str:
    return "its work unfinished" if p.result.stopped_s is not None else f"{number(p.speedup, '.2f')}×"


def _headline(s: Sweep) -> str:
    seq = s.predictions[0]
    kept = [p for p in s.best.values() if p is not None]
    best = min(kept, key=lambda p: p.wall_s) if kept else seq
    if best is seq:
        return f"Predicted: stay sequential ({seq.wall_s:.2f} s): no configuration predicted is faster without losing answers."
    return (f"Predicted best: {best.name}, {best.wall_s:.2f} s, {_speed(best)} faster than sequential "
            f"({seq.wall_s:.2f} s).")


def build(s: Sweep, chart_path: Optional[Path], title: str) -> Document:
    """The report's blocks: the answer (best, and what is slower than sequential), then detail."""
    seq = s.predictions[0]
    lost = [p for p in s.predictions if loses_answers(p)]
    doc = Document(headline=_headline(s), differences=bool(lost), title=f"perfkit prediction: {title}")
    b = doc.blocks
    # more workers for no gain (within the model's error), or answers lost
    slower = [p for p in s.predictions[1:] if (p.config.workers > 1 or loses_answers(p)) and doubtful(p)]
    if slower:
        b += [Heading("No faster than sequential, or losing answers"),
              Bullets(tuple((f"{p.name}: {verdict(p)}, {p.wall_s:.2f} s vs {seq.wall_s:.2f} s ({_speed(p)}) — "
                             f"{p.why}", (), True) for p in slower))]
    b += [Heading("Best configuration per worker count (answers kept)"), Table(
        ("workers", "configuration", "wall s", "speedup", "efficiency", "why not faster"),
        tuple((str(w), p.name if p else "–", number(p.wall_s) if p else "–", _speed(p) if p else "–",
               number(p.result.efficiency, ".0%") if p else "–", p.why if p else "every configuration loses answers")
              for w, p in sorted(s.best.items())))]
    if chart_path is not None:
        b.append(Image("Predicted speedup vs workers", chart_path))
    if s.knees:
        b += [Heading("Knees: where more workers stop paying"),
              Bullets(tuple((f"{k.curve}: {knee_where(k)} — {k.why}", (), False) for k in s.knees))]
    b += [Heading("Every configuration"), _table(s)]
    b += [Heading("Where the wall goes (seconds)"), Table(
        ("configuration", *PARTS, "wall s"),
        tuple((p.name, *(number(p.parts[k]) for k in PARTS), number(p.wall_s)) for p in s.predictions))]
    if s.cuts:
        b += [Heading("What a timeout would cut")]
        b += _cuts(s)
    b += [Heading("Assumptions"), Bullets(tuple((a, (), False) for a in s.assumptions))]
    b += [Heading("Definitions"), Para(
        "Predicted by a discrete-event simulation of perfkit's own execution from the reference run's units "
        "(their CPU and off-CPU wait), the strategy's own plan, and the backend's measured costs per unit, per "
        "work item, per worker start and per timeout. speedup = predicted sequential/inline×1 wall / predicted "
        "wall; ideal = Σ over stages of max(CPU / min(workers, cores), (CPU + waits) / workers, largest work "
        "item) + candidate generation; efficiency = ideal / wall; 'at risk' = units predicted to run ≥ 60 % of "
        "their timeout without timing out. Threads share the GIL in 5 ms turns that go to whichever thread "
        "wakes, not in order: each unit's chance to be still running at its timeout follows from its share of "
        "the GIL (a negative binomial), and as many units as those chances add up to time out.")]
    return doc


def _table(s: Sweep) -> Table:
    rows = []
    for p in s.predictions:
        st = p.result.units["status"].value_counts()
        rows.append((p.name, number(p.wall_s), _speed(p), number(p.result.ideal_wall_s), number(p.result.efficiency, ".0%"),
                     str(p.result.timed_out), str(p.answers_lost), str(p.at_risk), str(int(st.get("skipped", 0))),
                     p.why))
    return Table(("configuration", "wall s", "speedup", "ideal s", "efficiency", "timeouts", "answers lost",
                  "at risk", "skipped", "why"), tuple(rows))


def _cuts(s: Sweep) -> list:
    out: list = []
    for t, ps in s.cuts.items():
        rows = []
        for p in ps:
            t_units = named_timeouts(p)
            names = [f"{r.task_id}/{r.split}[{r.index}] {r.candidate}" for r in t_units.head(MAX_CUT_NAMES).itertuples()]
            more = len(t_units) - len(names)
            unnamed = (f"{'; ' if names else ''}{len(p.unnamed)}{' more' if names else ''} the model counts but "
                       f"cannot name (which units a real run's scheduler pushes past the timeout)" if p.unnamed else "")
            rows.append((p.name, number(p.wall_s), str(p.result.timed_out), str(p.new_timeouts),
                         ", ".join(names) + (f" … and {more} more" if more > 0 else "") + unnamed))
        out += [Para(f"timeout {t:g} s" + (" (lower bound: the reference's timeout was shorter)"
                                           if math.isfinite(s.workload.reference_timeout_s)
                                           and t > s.workload.reference_timeout_s and s.workload.lower_bounds else ""),
                     strong=True),
                Table(("configuration", "wall s", "units timed out", "answers lost", "units"), tuple(rows))]
    return out


def write(s: Sweep, out: Path, title: str = "prediction") -> Path:
    """Write report.md, report.html, report.json (kind ``prediction`` of
    perfkit/reports/report.schema.json) and the chart into ``out``; returns ``out``."""
    out = output_folder(out)
    doc = build(s, chart(s, out), title)
    (out / REPORT_FILES["markdown"]).write_text(markdown.render(doc), encoding="utf-8")
    (out / REPORT_FILES["html"]).write_text(html.render(doc), encoding="utf-8")
    record = {**json_report.header("prediction", doc.headline, not doc.differences), **sweep_record(s)}
    json_report.write(json_report.plain(record), out / REPORT_FILES["json"])
    return out
