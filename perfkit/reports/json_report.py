"""The JSON renderer: every figure, interval, finding and the recommendation of a comparison,
a phase report or a gate verdict, as one document (``report.json``, or a file the caller names).

Its shape is the JSON Schema perfkit/reports/report.schema.json (documented in
docs/report-json.md; tests/test_report_json.py validates real reports against it). Missing
figures (NaN) are ``null``; times are seconds, fractions 0..1, changes in percent.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from perfkit.analysis.metrics.groups import REPEATED
from perfkit.analysis.overview import task_table
from perfkit.analysis.runset import read_notes
from perfkit.model import STATUSES

#: The format name and version every document carries; bump the number on an incompatible change.
FORMAT = "perfkit-report/1"
SCHEMA_PATH = Path(__file__).with_name("report.schema.json")
#: The spread fields of every figure (perfkit/analysis/statistics.py ``Spread``).
SPREAD_KEYS = ("median", "mean", "sd", "q1", "q3", "iqr", "min", "max", "outliers", "cv", "unstable", "why")


def schema() -> dict[str, Any]:
    """The JSON Schema of every document this module writes."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def plain(value: Any) -> Any:
    """JSON-ready: numpy scalars as Python numbers, NaN and infinities as None, tuples as lists."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, Path):
        return str(value)
    return value


def header(kind: str, headline: str, ok: bool) -> dict[str, Any]:
    """The fields every document starts with: format, kind, created, headline, ok."""
    return {"format": FORMAT, "kind": kind, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "headline": headline, "ok": ok}


def _finding(f: Any) -> dict[str, Any]:
    return {"rule": f.rule, "severity": f.severity, "group": f.group, "sentence": f.sentence,
            "evidence": list(f.evidence)}


def _count(median: Any) -> int | float:
    """A median count over repeats: a whole number as an integer, a half (an even number of
    repeats that disagree) as it is."""
    return int(median) if float(median).is_integer() else float(median)


def _group(row: Any, model: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    figures = {col: {"n": int(row["repeats"]), **{k: row.get(f"{col}_{k}") for k in SPREAD_KEYS}}
               for col in REPEATED}
    predicted = (model or {}).get(row["group"])
    return {
        "group": row["group"], "strategy": row["strategy"], "backend": row["backend"], "workers": int(row["workers"]),
        "repeats": int(row["repeats"]), "slots": int(row["slots"]), "chunk_size": row.get("chunk_size"),
        "speedup": {"value": row.get("speedup"), "low": row.get("speedup_low"), "high": row.get("speedup_high"),
                    "confidence": 0.95},
        "statuses_max": {k: int(row[f"n_{k}_max"]) for k in STATUSES},
        "statuses_worst_repeat": {k: int(row[f"n_{k}_worst"]) for k in STATUSES},
        "tasks": int(row["tasks"]), "tasks_solved_min": int(row["tasks_solved_min"]),
        "figures": figures,
        "predicted": None if predicted is None else {
            "wall_s": predicted.predicted_wall_s,
            "stopped_s": None if math.isnan(getattr(predicted, "predicted_stopped_s", math.nan))
            else predicted.predicted_stopped_s,
            # none against built-in (uncalibrated) backend costs
            "model_error": None if math.isnan(predicted.model_error) else predicted.model_error,
            "timeouts": _count(predicted.predicted_timeouts), "skipped": _count(predicted.predicted_skipped),
            "measured_timeouts": _count(predicted.measured_timeouts),
            "measured_skipped": _count(predicted.measured_skipped)},
    }


def _answer(a: Any) -> dict[str, Any]:
    def keys(df: Any) -> list[dict[str, Any]]:
        return [dict(zip(df.columns, row)) for row in df.itertuples(index=False)]

    return {"run_id": a.run_id, "group": a.group, "reference_id": a.reference_id, "identical": a.clean,
            "differences": a.n_differences, "sentence": a.sentence(),
            "missing": keys(a.missing), "extra": keys(a.extra), "status_changed": keys(a.status_changed),
            "output_changed": keys(a.output_changed)}


def comparison_record(c: Any, name: str, files: dict[str, Path], left_out: Sequence[Any] = (),
                      profiles: Optional[list[tuple[str, str, str]]] = None) -> dict[str, Any]:
    """The comparison as a JSON-ready dict (kind ``comparison``)."""
    record = header("comparison", c.headline(), not c.differences)
    counts = c.counts.drop(index="total", errors="ignore") if not c.counts.empty else c.counts
    ref = c.reference if c.reference is not None else (c.runs[0] if c.runs else None)
    model = {} if c.model.empty else {f"{m.strategy}/{m.backend}×{m.workers}": m for m in c.model.itertuples()}
    record.update({
        "name": name,
        "answers_checked": c.reference is not None,
        "answers_identical": not c.differences,
        "recommendation": _finding(c.recommendation) if c.recommendation is not None else None,
        "groups": [_group(r, model) for _, r in c.groups.iterrows()],
        "model_calibrated": bool(getattr(c, "model_calibrated", False)),
        "answers": [_answer(a) for a in c.answers],
        "findings": [_finding(f) for f in c.findings],
        "candidates_per_sample": {"groups": [str(x) for x in counts.columns],
                                  "samples": [{"sample": str(i), "ok": [int(v) for v in row]}
                                              for i, row in zip(counts.index, counts.itertuples(index=False))]},
        "tasks": task_table(ref.units).to_dict("records") if ref is not None else [],
        "runs": [dataclasses.asdict(f) for f in c.figures],
        "left_out": [dataclasses.asdict(x) for x in left_out],
        "notes": read_notes(c.runs),
        "profiles": [{"title": t, "href": h, "note": n} for t, h, n in (profiles or [])],
        "files": {k: p.name for k, p in files.items()},
        "whole_command": {name: _breakdown(b) for name, b in getattr(c, "breakdowns", {}).items()},
    })
    return plain(record)


def _breakdown(b: Any) -> dict[str, Any]:
    """One group's whole command (perfkit/analysis/breakdown.py): its phases and its bars."""
    def bar(x: Any) -> Optional[dict[str, Any]]:
        return None if x is None else {"title": x.title, "total_s": x.total_s, "items": [
            {"name": i.name, "within": i.within, "seconds": i.seconds} for i in x.items]}

    return {"origin": b.origin, "phases": {p: {"wall_s": w, "cpu_s": c} for p, (w, c) in b.phases.items()},
            "wall": bar(b.wall), "cpu": bar(b.cpu), "window": bar(b.window)}


def phases_record(phases: Sequence[Any], headline: str, files: dict[str, Path]) -> dict[str, Any]:
    """The phase table as a JSON-ready dict (kind ``phases``)."""
    record = header("phases", headline, all(p.ok for p in phases))
    record["phases"] = [{**dataclasses.asdict(p), "ok": p.ok} for p in phases]
    record["files"] = {k: p.name for k, p in files.items()}
    return plain(record)


def gate_record(result: Any, headline: str) -> dict[str, Any]:
    """The gate's verdict as a JSON-ready dict (kind ``gate``): the verdict's own fields
    (perfkit/analysis/gate.py ``GateResult.to_json``) under the common header."""
    record = header("gate", headline, bool(result.passed))
    record.update(result.to_json())
    return plain(record)


def write(record: dict[str, Any], path: Path) -> Path:
    """Write ``record`` as indented JSON."""
    Path(path).write_text(json.dumps(record, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return Path(path)
