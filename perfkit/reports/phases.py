"""The phase report: a Document (rendered by markdown.py and html.py) and its chart."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from perfkit.analysis.phases import Phase  # noqa: E402
from perfkit.analysis.text import count, signed_percent  # noqa: E402
from perfkit.reports import html, json_report, markdown  # noqa: E402
from perfkit.reports.document import FAIL, PASS, UNSURE, Bullets, Document, Heading, Image, Para, Table  # noqa: E402
from perfkit.store.folder import output_folder  # noqa: E402
from perfkit.analysis.text import duration  # noqa: E402


def chart(phases: Sequence[Phase], out: Path) -> Path:
    """Wall and CPU per phase, side by side; a flagged phase has a red label marked ✗."""
    fig, ax = plt.subplots(figsize=(max(5, 1.4 * len(phases)), 3.6))
    x = range(len(phases))
    ax.bar([i - 0.2 for i in x], [p.wall_s for p in phases], width=0.4, label="wall s", color="#4477aa")
    ax.bar([i + 0.2 for i in x], [p.cpu_s for p in phases], width=0.4, label="CPU s", color="#cc6677")
    ax.set_xticks(list(x), [p.label if p.ok else f"{FAIL} {p.label}" for p in phases], rotation=20, ha="right")
    for tick, p in zip(ax.get_xticklabels(), phases):
        tick.set_color("black" if p.ok else "red")
    ax.set_ylabel("seconds (median over repeats)")
    ax.set_title("phases: wall and CPU")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)  # outside the bars
    fig.tight_layout()
    path = out / "phases.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


#: Columns of the phase table (the terminal shows the same).
PHASE_HEADERS = ("", "phase", "wall", "CPU", "ok candidates", "timeouts", "errors", "wall vs previous",
                 "wall vs baseline", "CPU vs previous", "repeats", "speed verdict (what it rests on)")


def verdict(phase: Phase) -> str:
    """``✓ ok``, ``✗ answers``, ``✗ slower``, or ``? no verdict`` / ``? inconclusive`` when
    the runs do not support a speed verdict: a text mark (no emoji font needed)."""
    if not phase.answers_ok:
        return f"{FAIL} answers"
    if phase.slower:
        return f"{FAIL} slower"
    return f"{PASS} ok" if phase.judged else f"{UNSURE} {phase.speed}"


def build(phases: Sequence[Phase], chart_path: Path) -> Document:
    """The phase report's blocks: the worst news first."""
    bad = [p for p in phases if not p.ok]
    answers_bad = [p for p in phases if not p.answers_ok]
    if answers_bad:
        headline = " ".join(p.answers for p in answers_bad)  # each a sentence with its full stop
    elif bad:
        headline = "slower than the phase before: " + ", ".join(
            f"{p.label} ({signed_percent(p.wall_vs_previous_pct)} wall)" for p in bad)
    else:
        headline = "every phase keeps the baseline's answers" + _speed_claim(phases[1:])
        gainers = [f"{p.label} {count(p.gained, 'unit')}" for p in phases if p.gained]
        if gainers:  # a gain is news, not a flag
            headline += "; gained: " + ", ".join(gainers)
    total = phases[-1]
    doc = Document(headline=headline, differences=bool(bad), title="Phase report")
    rows = tuple((verdict(p), p.label, duration(p.wall_s), duration(p.cpu_s), str(p.candidates_ok),
                  str(p.timeouts), str(p.errors), signed_percent(p.wall_vs_previous_pct), signed_percent(p.wall_vs_baseline_pct),
                  signed_percent(p.cpu_vs_previous_pct), str(len(p.run_ids)), f"{p.speed} ({p.basis})")
                 for p in phases)
    doc.blocks += [
        Para(f"Total: {phases[0].label} → {total.label}: {duration(phases[0].wall_s)} → {duration(total.wall_s)} wall "
             f"({signed_percent(total.wall_vs_baseline_pct)}), {duration(phases[0].cpu_s)} → {duration(total.cpu_s)} CPU "
             f"({signed_percent(total.cpu_vs_baseline_pct)}).", strong=True),
        Table(PHASE_HEADERS, rows),
        Heading("Answers against the baseline"),
        Bullets(tuple((f"{p.label}: {p.answers}", (), not p.answers_ok) for p in phases[1:])),
        Image("wall and CPU per phase", chart_path),
    ]
    doc.blocks += _battery_scores(phases)
    return doc


def _speed_claim(phases: Sequence[Phase]) -> str:
    """What the speed verdicts of the phases after the baseline (none slower) established: a
    phase without a verdict (too few runs, inconclusive) is named with its change, never counted
    as "not slower"."""
    open_ = [p for p in phases if not p.judged]
    if not open_:
        return " and none is slower than the phase before"
    named = "; ".join(f"{p.label} has no speed verdict against the phase before "
                      f"({signed_percent(p.wall_vs_previous_pct)} wall; {p.speed}: {p.basis})" for p in open_)
    rest = "; none of the others is slower than the phase before" if len(open_) < len(phases) else ""
    return f"; {named}{rest}"


def _battery_scores(phases: Sequence[Phase]) -> list:
    """The battery's own scores (its ``s``) per phase, beside perfkit's figures; nothing when no
    phase ran a battery that scores."""
    names = list(dict.fromkeys(n for p in phases for n in p.battery_scores))
    if not names:
        return []
    rows = tuple((p.label, *(f"{p.battery_scores[n]:.3f}" if n in p.battery_scores else "—" for n in names))
                 for p in phases)
    return [Heading("The battery's own scores (mean per score name)"), Table(("phase", *names), rows)]


def write(phases: Sequence[Phase], out: Path) -> Path:
    """Write report.md, report.html, report.json and phases.png into ``out``."""
    out = output_folder(out)
    png = chart(phases, out)
    doc = build(phases, png)
    files = {"markdown": out / "report.md", "html": out / "report.html", "json": out / "report.json", "chart": png}
    files["markdown"].write_text(markdown.render(doc), encoding="utf-8")
    files["html"].write_text(html.render(doc), encoding="utf-8")
    json_report.write(json_report.phases_record(phases, doc.headline, files), files["json"])
    return out
