"""The gate's outputs: a Markdown summary fit for a CI job summary, and the JSON verdict."""

from __future__ import annotations

import json
from pathlib import Path

from perfkit.analysis.gate import GateResult
from perfkit.analysis.statistics import pct_change
from perfkit.analysis.text import signed_percent
from perfkit.reports import markdown
from perfkit.reports.document import Bullets, Document, Para, Table

ICON = {"regression": "❌", "improvement": "🚀", "unchanged": "✅", "inconclusive": "❔"}


def build(result: GateResult) -> Document:
    """The gate verdict as report blocks: answers first, then one row per metric."""
    regressed = [f"{m.metric} {signed_percent(m.change_pct)}" for m in result.metrics if m.verdict == "regression"]
    if not result.answers_ok:
        headline = f"gate FAIL: {result.answer_differences} answer(s) lost or changed"
    elif regressed:
        headline = "gate FAIL: speed regression: " + ", ".join(regressed)
    else:
        headline = "gate PASS: answers identical to the baseline, no speed regression"
    doc = Document(headline=headline, differences=not result.passed, title="Regression gate")
    rows = tuple((f"{ICON[m.verdict]} {m.verdict}", m.metric, f"{m.baseline:.4g}", f"{m.current:.4g}",
                  signed_percent(m.change_pct),
                  f"[{signed_percent(pct_change(m.low, 1.0))}, {signed_percent(pct_change(m.high, 1.0))}]", m.method)
                 for m in result.metrics)
    unit = "calibration units" if result.normalised else "s"
    doc.blocks += [
        Para(result.answer_summary, strong=not result.answers_ok),
        Table(("verdict", "metric", f"baseline ({unit})", f"current ({unit})", "change", "99 % interval", "method"),
              rows),
        Bullets(((f"threshold ±{result.threshold * 100:.0f} %; normalised by the calibration workload: "
                  f"{'yes' if result.normalised else 'no'} ({result.normalise_reason})", (), False),
                 (f"baseline: {result.baseline}", (), False), (f"current: {result.current}", (), False))),
    ]
    return doc


def write(result: GateResult, markdown_path: Path | None, json_path: Path | None) -> str:
    """Render the summary; write it and the JSON verdict where asked. Returns the Markdown."""
    text = markdown.render(build(result))
    if markdown_path is not None:
        with open(markdown_path, "a", encoding="utf-8") as fh:  # append: GITHUB_STEP_SUMMARY collects steps
            fh.write(text + "\n")
    if json_path is not None:
        Path(json_path).write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    return text
