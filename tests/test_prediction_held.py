"""Threads whose units may be C calls holding the GIL to their end (CPython's re): nothing can
give such a unit up at its deadline, and nothing recorded tells whether a solver's calls do, so
``perfkit predict`` gives both walls where they differ (docs/benchmarks.md, section 7, Session 12)."""

from __future__ import annotations

import pytest

from builders import make_run

from perfkit.analysis.prediction import BackendCosts, Machine, SimConfig, simulate, workload_of
from perfkit.analysis.prediction.model import Behaviour
from perfkit.analysis.prediction.predict import doubtful, predict_one, verdict
from perfkit.model import TimeoutPolicy

THREAD = BackendCosts("thread", behaviour=Behaviour(dispatch="shared", prefetch=1, requeue="back", gil=True,
                                                    hard_stop=False, stop_kills_worker=False))
PROCESS = BackendCosts("process", behaviour=Behaviour(dispatch="prefetch", prefetch=1, requeue="front"))
TIMEOUT_S = 0.1


def stopped_run(error_type: str = "HardTimeout"):
    """A sequential inline run at a 0.1 s timeout: six 0.04 s units (two threads sharing the
    GIL: 0.08 s each), and one stopped at 0.15 s (its deadline + the alarm's grace) — its cost
    is only known to be at least that."""
    rows, t = [], 0.0
    for i, cpu in enumerate([0.04, 0.04, 0.04, 0.15, 0.04, 0.04, 0.04]):
        stopped = cpu > TIMEOUT_S
        rows.append(dict(task_id="t1", split="demo", index=0, candidate=f"c{i}", status="timeout" if stopped else "ok",
                         output_hash=None, match=None, queued=t, started=t, ended=t + cpu, wall_s=cpu, cpu_s=cpu,
                         worker="main", chunk=1, attempt=1, leaked_s=None, leaked=False,
                         error_type=error_type if stopped else None, error_message=None))
        t += cpu
    return make_run(rows, wall_s=t, timeout_s=TIMEOUT_S)


def threads(run, held: bool, workers: int = 2):
    config = SimConfig("candidate-parallel", "thread", workers, 1, TimeoutPolicy(TIMEOUT_S))
    return simulate(workload_of(run), config, THREAD, Machine(2), cooperative=False, gil_held=held)


def test_a_unit_holding_the_gil_is_not_given_up_and_runs_to_at_least_its_stopped_cost():
    run = stopped_run()
    given_up, held = threads(run, held=False), threads(run, held=True)
    # held: every unit runs to its end on one core, the stopped one for the 0.15 s it ran at least
    assert held.wall_s == pytest.approx(0.39)
    assert list(held.units.sort_values("candidate")["status"]) == ["ok"] * 3 + ["timeout"] + ["ok"] * 3
    # given up at its deadline, it runs on beside the others, and the run ends without it
    assert given_up.wall_s < held.wall_s
    assert (given_up.units["status"] == "timeout").sum() >= 1


def test_holding_the_gil_changes_nothing_without_a_deadline_reached_or_off_threads():
    run = stopped_run()
    config = SimConfig("candidate-parallel", "process", 2, 1, TimeoutPolicy(TIMEOUT_S))
    a = simulate(workload_of(run), config, PROCESS, Machine(2), cooperative=False)
    b = simulate(workload_of(run), config, PROCESS, Machine(2), cooperative=False, gil_held=True)
    assert a.wall_s == b.wall_s
    # a solver that stops itself at its deadline checks it in Python: nothing held
    config = SimConfig("candidate-parallel", "thread", 2, 1, TimeoutPolicy(TIMEOUT_S))
    a = simulate(workload_of(run), config, THREAD, Machine(2), cooperative=True)
    b = simulate(workload_of(run), config, THREAD, Machine(2), cooperative=True, gil_held=True)
    assert a.wall_s == b.wall_s


def test_predict_gives_both_verdicts_when_the_gain_rests_on_giving_units_up():
    run = stopped_run()
    workload = workload_of(run)
    config = SimConfig("candidate-parallel", "thread", 2, 1, TimeoutPolicy(TIMEOUT_S))
    sequential_s = 0.39
    p = predict_one(workload, config, THREAD, Machine(2), sequential_wall_s=sequential_s, cooperative=False)
    assert p.held_wall_s == pytest.approx(0.39) and p.wall_s < 0.95 * sequential_s
    assert verdict(p) == "faster than sequential if its calls give the GIL up, no faster than sequential if they hold it"
    assert doubtful(p)
    assert "if this solver's calls hold the GIL to their end" in p.why and "at least 0.39 s (1.00×" in p.why
    assert "1 unit stopped in the reference costing at least what it was stopped at" in p.why
    on_processes = predict_one(workload, SimConfig("candidate-parallel", "process", 2, 1, TimeoutPolicy(TIMEOUT_S)),
                               PROCESS, Machine(2), sequential_wall_s=sequential_s, cooperative=False)
    assert on_processes.held_wall_s is None and "hold the GIL" not in on_processes.why


# -- the GIL probe says whether the solver's calls hold the GIL ------------------------------------

def test_the_probe_reads_whether_calls_hold_the_gil_from_a_ticker_thread_beside_the_longest_units():
    from perfkit.analysis.metrics.gil import SWITCH_INTERVAL_S
    from perfkit.analysis.prediction.gil import HELD_AFTER_S, Inflation
    from perfkit.orchestration import gil_probe

    run = stopped_run()
    # the longest units that ended, not the one stopped (its cost is a lower bound; it may hang)
    assert [u[3] for u in gil_probe.longest_units(run, 2)] == ["c0", "c1"]
    assert [u[3] for u in gil_probe.longest_units(run, 20)] == ["c0"]  # 40 runs of 40 ms: past a pass's CPU
    assert HELD_AFTER_S == 4 * SWITCH_INTERVAL_S
    assert Inflation(hold_s=0.08, hold_unit_s=0.085).holds_gil is True and Inflation(hold_s=0.004).holds_gil is False
    # markdown-it-py: a 27 ms wait beside a unit of 112 ms, whose thread runs gave 11–130 units up
    assert Inflation(hold_s=0.0267, hold_unit_s=0.1121).holds_gil is False
    assert Inflation().holds_gil is None and Inflation(hold_s=0.08).holds_gil is None  # its unit's wall unknown
    back = Inflation.from_record(Inflation(((2, 1.2),), "probe", hold_s=0.08, hold_unit_s=0.085).to_record())
    assert back.hold_s == pytest.approx(0.08) and back.hold_unit_s == pytest.approx(0.085) and back.holds_gil
    assert Inflation.from_record({"factors": {"2": 1.0}}).holds_gil is None  # a probe stored before


@pytest.mark.slow  # four solvers' units beside a ticker thread: ~1.7 s
def test_a_ticker_waits_through_a_regex_call_but_not_through_python_or_numpy():
    """Relative claims: the same ticker beside a call holding the GIL (a backtracking regex)
    waits for the whole call; beside Python of the same length, or numpy releasing the GIL, it
    waits no more than the holding threshold."""
    from perfkit.analysis.prediction.gil import HELD_AFTER_S, Inflation
    from perfkit.orchestration import gil_probe
    from perfkit.tasks import load_tasks

    tasks = {t.id: t for t in load_tasks("synthetic:1x1+0")}
    task_id = next(iter(tasks))

    def hold(solver: str, options: dict) -> Inflation:
        spec = {"solver": solver, "options": options, "plugins": [], "long_units": [[task_id, "demo", 0, "c000"]]}
        wait_s, unit_s = gil_probe.hold_s(spec, tasks)
        return Inflation(hold_s=wait_s, hold_unit_s=unit_s)

    python = hold("synthetic", {"candidates": 1, "cpu_ms": 120})
    numpy = hold("synthetic", {"candidates": 1, "numpy_ms": 120})
    regex = hold("gil_holder:RegexHolder", {})
    assert python.hold_s < HELD_AFTER_S and numpy.hold_s < HELD_AFTER_S
    assert regex.hold_s > 2 * HELD_AFTER_S and regex.hold_s > 4 * max(python.hold_s, numpy.hold_s)
    assert regex.holds_gil and python.holds_gil is False and numpy.holds_gil is False
    # the same call among as long again of Python: held past the switch interval, not to the unit's end
    among = hold("gil_holder:RegexAmongPython", {})
    assert among.hold_s > 2 * HELD_AFTER_S and among.hold_unit_s > 1.5 * among.hold_s
    assert among.holds_gil is False


def test_what_the_probe_says_of_holding_is_the_prediction_not_a_caveat():
    from dataclasses import replace

    from perfkit.analysis.prediction.gil import Inflation

    run = stopped_run()
    config = SimConfig("candidate-parallel", "thread", 2, 1, TimeoutPolicy(TIMEOUT_S))
    held = replace(workload_of(run), gil=Inflation(hold_s=0.08, hold_unit_s=0.08))
    p = predict_one(held, config, THREAD, Machine(2), sequential_wall_s=0.39, cooperative=False)
    assert p.wall_s == pytest.approx(0.39) and p.held_wall_s is None
    assert verdict(p) == "no faster than sequential"
    assert "a thread asking for the GIL waited up to 80 ms beside this solver's longest units" in p.why
    assert "a lower bound: 1 unit stopped in the reference" in p.why and "if this solver's calls" not in p.why
    assert "abandoned" not in p.why
    released = replace(workload_of(run), gil=Inflation(hold_s=0.004))
    q = predict_one(released, config, THREAD, Machine(2), sequential_wall_s=0.39, cooperative=False)
    assert q.wall_s < 0.95 * 0.39 and q.held_wall_s is None and "hold the GIL" not in q.why
    assert verdict(q) == "faster than sequential"
