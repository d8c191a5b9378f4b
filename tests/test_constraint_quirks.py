"""What perfkit concluded about a solver nobody here wrote: python-constraint2's solvers as
candidates (benchmarks/constraint_work.py, docs/benchmarks.md "Session 16: python-constraint2").
Each test pins a report line that read false or misleading on it, on runs built by construction
(tests/builders.py)."""

from __future__ import annotations

import pytest
from builders import clean_parallel, make_run, reference_run, timed_out

from perfkit.analysis.comparison import analyse


def _beside_other_work(edit):
    """The reference and a sample-parallel run beside 1.5 cores of other work, changed by ``edit``."""
    return analyse([reference_run(), make_run(clean_parallel().units.to_dict("records"), "sample-parallel",
                                              "process", 2, wall_s=3.0, cpu_s=3.0, edit=edit,
                                              summary={"others_cpu_s": 4.5})])


@pytest.mark.slow
def test_new_errors_beside_other_work_are_not_sent_to_a_quiet_machine():
    # "No strategy kept the sequential answers …: The runs that changed them were measured on a
    # busy machine …: compare again on a quiet one … before changing the solver": their 96
    # differences were AssertionError "daemonic processes are not allowed to have children"
    # (ParallelSolver's process pool inside a process worker), which no quiet machine brings back
    def errors(df):
        m = df["candidate"].eq("c005")
        df.loc[m, ["status", "output_hash", "match", "error_type"]] = ["error", None, None, "AssertionError"]
        return df

    text = _beside_other_work(errors).recommendation.sentence
    assert text == "No strategy kept the sequential answers: fix the differences before tuning speed.", text

    # a unit lost to its timeout there may be the other work's doing: measure again
    def lost(df):
        timed_out(df, df["split"].eq("demo") & df["index"].eq(4) & df["candidate"].eq("c005"), 1.0, 0.3)
        return df

    assert "compare again on a quiet one" in _beside_other_work(lost).recommendation.sentence


@pytest.mark.slow
def test_differences_all_of_one_candidate_name_it():
    # "16 new errors (colour/demo[0]×1, colour/demo[1]×1, … 12 more samples)": every one was
    # parallel_processes, which the sentence never named
    def errors(df):
        df.loc[df["candidate"].eq("c005"), ["status", "output_hash", "match"]] = ["error", None, None]
        return df

    run = make_run(clean_parallel().units.to_dict("records"), "sample-parallel", "process", 2, edit=errors)
    sentence = analyse([reference_run(), run]).answers[0].sentence()
    assert "6 new errors, all of c005 (demo[0]×1, demo[1]×1, demo[2]×1, demo[3]×1, … 2 more samples)" in sentence, sentence
