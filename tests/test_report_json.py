"""report.json (and ``--json FILE``) of a comparison, a phase report and a gate verdict validate
against the documented JSON Schema (perfkit/reports/report.schema.json, docs/report-json.md)."""

from __future__ import annotations

import dataclasses
import json

import jsonschema
import pytest
from builders import clean_parallel, make_task, reference_run, synthetic_config

import perfkit
from perfkit.analysis import gate as g
from perfkit.analysis.comparison import analyse
from perfkit.reports import REPORT_FILES, json_report, write_report
from perfkit.reports import phases as phase_report
from perfkit.store.baseline import Repeat, Side


def validate(record: dict) -> None:
    jsonschema.Draft202012Validator(json_report.schema()).validate(record)


def test_the_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(json_report.schema())


@pytest.mark.parametrize("differ", [False, pytest.param(True, marks=pytest.mark.slow)])
@pytest.mark.slow
def test_comparison_report_json_validates(tmp_path, differ):
    runs = [reference_run(repeat=r) for r in range(3)] + [clean_parallel(repeat=r) for r in range(3)]
    if differ:
        runs.append(clean_parallel("sample-parallel", "thread", edit=lambda df: df.drop(df.index[:3])))
    out = write_report(analyse(runs), tmp_path / "rep", "unit-test")
    record = json.loads((out / "report.json").read_text())
    validate(record)
    assert record["kind"] == "comparison" and record["ok"] is (not differ)
    assert record["answers_identical"] is (not differ)
    group = {g["group"]: g for g in record["groups"]}["candidate-parallel/process×2"]
    assert group["repeats"] == 3 and group["figures"]["wall_s"]["n"] == 3
    assert group["speedup"]["low"] <= group["speedup"]["value"] <= group["speedup"]["high"]
    assert record["recommendation"]["severity"] == "recommendation"
    assert set(record["files"]) >= {"markdown", "html", "json", "timeline"}
    if differ:
        bad = [a for a in record["answers"] if not a["identical"]]
        assert bad and bad[0]["differences"] == 3 and len(bad[0]["missing"]) == 3


def test_a_bad_record_is_refused_by_the_schema(tmp_path):
    # the record alone (no charts drawn): valid as built, refused once one figure is not a number
    files = {kind: tmp_path / name for kind, name in REPORT_FILES.items()}
    record = json.loads(json.dumps(json_report.comparison_record(analyse([reference_run(), clean_parallel()]),
                                                                 "comparison", files), default=str))
    validate(record)
    record["groups"][0]["figures"]["wall_s"]["sd"] = "fast"
    with pytest.raises(jsonschema.ValidationError):
        validate(record)


@pytest.mark.slow  # over half a second (session 14: the quick subset's time)
def test_phase_and_gate_json_validate(tmp_path):
    tasks = [make_task("t", 2, 1)]
    for label, cpu in (("base", 1), ("next", 1)):
        config = dataclasses.replace(synthetic_config(candidates=4, cpu_ms=cpu), label=label)
        perfkit.run(config, tmp_path / "runs", tasks=tasks)
    result = perfkit.phases(["base", "next"], store=tmp_path / "runs", out=tmp_path / "phases")
    record = json.loads((result.report_dir / "report.json").read_text())
    validate(record)
    assert record["kind"] == "phases" and [p["label"] for p in record["phases"]] == ["base", "next"]

    def side(walls):
        reps = [Repeat(f"r{i}", w, w, 0.02, {"t": w}, {"t": w}) for i, w in enumerate(walls)]
        import pandas as pd
        answers = pd.DataFrame([("t", "demo", 0, "c0", "ok", "h")],
                               columns=["task_id", "split", "index", "candidate", "status", "output_hash"])
        return Side("s", reps, answers, {"cpu_model": "x"}, {})

    verdict = g.gate(side([1.0, 1.01, 0.99]), side([1.3, 1.31, 1.29]), metrics=["wall", "cpu"])
    from perfkit.reports import gate as gate_report

    gate_report.write(verdict, None, tmp_path / "gate.json")
    record = json.loads((tmp_path / "gate.json").read_text())
    validate(record)
    assert record["kind"] == "gate" and record["ok"] is False and record["metrics"][0]["verdict"] == "regression"
