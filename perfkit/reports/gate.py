"""The gate's outputs: a Markdown summary fit for a CI job summary, and the JSON verdict."""

from __future__ import annotations

from pathlib import Path

from perfkit.analysis.answers import tally
from perfkit.analysis.gate import GateResult
from perfkit.analysis.history import History
from perfkit.analysis.statistics import pct_change
from perfkit.analysis.text import duration, signed_percent
from perfkit.reports import json_report, markdown
from perfkit.reports.document import FAIL, PASS, UNSURE, Bullets, Document, Para, Table

#: A text mark per verdict (no emoji font needed; the HTML renderer draws ✓ and ✗ as SVG).
ICON = {"regression": FAIL, "improvement": "↑", "unchanged": PASS, "inconclusive": UNSURE}
#: Columns of the verdict table (the terminal shows the same).
GATE_HEADERS = ("verdict", "metric", "baseline", "current", "change", "99 % interval", "p (slower)", "method")


def _figure(value: float, unit: str) -> str:
    return f"{value:,.0f}" if unit == "instructions" else f"{value:.4g}"


def build(result: GateResult) -> Document:
    """The gate verdict as report blocks: answers first, then one row per metric, then the
    per-task instruction counts and how the figures were obtained."""
    regressed = [f"{m.metric} {signed_percent(m.change_pct)}" for m in result.metrics if m.verdict == "regression"]
    answers = tally(result.answer_kinds)  # by kind: "1 lost unit, 2 new nondeterministic outputs"
    if not result.answers_ok:
        headline = f"gate FAIL: {answers}"
    elif regressed:
        headline = "gate FAIL: speed regression: " + ", ".join(regressed)
    elif not result.metrics:  # answers only (metrics=[]): no speed was judged to pass
        headline = f"gate PASS: {answers}; speed not judged"
    else:
        headline = f"gate PASS: {answers}, no speed regression"
    doc = Document(headline=headline, differences=not result.passed, title="Regression gate")
    doc.blocks.append(Para(result.answer_summary, strong=not result.answers_ok))
    if result.metrics:
        doc.blocks.append(Table(GATE_HEADERS, verdict_rows(result)))
    if result.tasks:
        doc.blocks.append(Table(("task", "baseline instructions", "current instructions", "change"),
                                tuple((t, f"{b:,.0f}", f"{c:,.0f}", signed_percent(pct)) for t, b, c, pct in result.tasks)))
    bullets = [(thresholds(result), (), False)] if result.metrics else []
    bullets += [(f"baseline: {result.baseline}", (), False), (f"current: {result.current}", (), False)]
    if result.metrics:
        bullets.append((_compared(result), (), False))
    bullets += [(note, (), False) for note in result.notes]
    doc.blocks.append(Bullets(tuple(bullets)))
    return doc


def thresholds(result: GateResult) -> str:
    """The thresholds the metrics were judged against and whether they were normalised: said
    only beside metrics (an answers-only gate judged none)."""
    return (f"thresholds: timing ±{result.threshold * 100:.0f} %, instructions "
            f"±{result.instruction_threshold * 100:.1f} %; normalised by the calibration workload: "
            f"{'yes' if result.normalised else 'no'} ({result.normalise_reason})")


def verdict_rows(result: GateResult) -> tuple[tuple[str, ...], ...]:
    """One row per metric: mark and verdict, figures (instructions; durations, or calibration
    units when normalised), change and its interval, the paired test's p-value, method."""
    def figure(x: float, unit: str) -> str:
        if unit == "instructions":
            return f"{x:,.0f} instr."
        return f"{x:.4g} cal." if result.normalised else duration(x)

    return tuple((f"{ICON[m.verdict]} {m.verdict}", m.metric, figure(m.baseline, m.unit), figure(m.current, m.unit),
                  signed_percent(m.change_pct),
                  f"[{signed_percent(pct_change(m.low, 1.0))}, {signed_percent(pct_change(m.high, 1.0))}]",
                  "–" if m.p_value is None else f"{m.p_value:.2g}", m.method)
                 for m in result.metrics)


def history_text(h: History) -> str:
    """A metric's history as Markdown: one row per measurement, change points marked."""
    starts = {cp.index: cp for cp in h.change_points}
    unit = "instructions" if h.metric == "instructions" else "s"
    rows = tuple((r.time, r.commit[:12], r.source, _figure(r.value, unit),
                  f"◆ change {signed_percent(starts[i].change_pct)} (p {starts[i].p_value:.1g})" if i in starts else "")
                 for i, r in enumerate(h.records))
    doc = Document(headline=f"{h.metric} of {h.benchmark}: {len(h.records)} measurements, "
                            f"{len(h.change_points)} change point(s)", differences=False, title="History")
    doc.blocks.append(Table(("time", "commit", "source", h.metric, "change point"), rows))
    if h.note:
        doc.blocks.append(Para(h.note))
    return markdown.render(doc)


def _compared(result: GateResult) -> str:
    """Which figure the metrics compare, and the whole command beside it."""
    sides = "; ".join(f"{side} wall {duration(w.get('wall_s'))}, CPU {duration(w.get('cpu_s'))}"
                      for side, w in result.whole_command.items())
    return (f"the metrics compare the {result.figure} (first dispatch to last outcome); whole command, "
            f"start-up and teardown included, not judged (median): {sides or 'not recorded'}")


def write(result: GateResult, markdown_path: Path | None, json_path: Path | None) -> str:
    """Render the summary; write it and the JSON verdict (perfkit/reports/report.schema.json,
    kind ``gate``) where asked. Returns the Markdown."""
    doc = build(result)
    text = markdown.render(doc)
    if markdown_path is not None:
        with open(markdown_path, "a", encoding="utf-8") as fh:  # append: GITHUB_STEP_SUMMARY collects steps
            fh.write(text + "\n")
    if json_path is not None:
        json_report.write(json_report.gate_record(result, doc.headline), Path(json_path))
    return text
