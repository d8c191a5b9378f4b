"""What ``perfkit predict`` says of abandoned threads (docs/benchmarks.md, "Session 14: predict
and abandoned threads"): a curve with no knee."""

from __future__ import annotations

import pytest

from test_prediction_stopped import INLINE, OK, STOPPED, THREAD, reference

from perfkit.analysis.prediction import Machine, workload_of
from perfkit.analysis.prediction.predict import sweep
from perfkit.backends.thread import LEAKED_PER_WORKER


# -- a curve with no knee ------------------------------------------------------------------------

@pytest.mark.slow  # writes the report and its chart: ~0.5 s
def test_a_curve_whose_every_worker_count_stops_says_it_has_no_knee_in_words(tmp_path):
    # the report read "candidate-parallel/thread: knee at 1 worker (nan×; best nan×)"
    from perfkit.reports import prediction as prediction_report
    from perfkit.reports.prediction import knee_where

    run = reference([OK, STOPPED] * (LEAKED_PER_WORKER * 2 + 3))
    s = sweep(workload_of(run), {"inline": INLINE, "thread": THREAD}, Machine(2), strategies=["candidate-parallel"],
              backends=["thread"], workers=[1, 2], cooperative=False)
    curve = [p for p in s.predictions if p.config.backend == "thread"]
    assert len(curve) == 2 and all(p.result.stopped_s is not None for p in curve)
    knee, = s.knees
    assert not knee.found and knee_where(knee) == "no knee"
    assert knee.why == ("no worker count keeps the sequential answers: the run stops early at every worker count "
                        "(1, 2), its work unfinished, no speedup to compare")
    prediction_report.write(s, tmp_path, run.run_id)
    text = (tmp_path / "report.md").read_text()
    assert f"candidate-parallel/thread: no knee — {knee.why}" in text
    assert "nan×" not in text and "nan" not in text.split("Knees")[1].split("Every configuration")[0]
