"""Units that compute on more than one core at once (numpy's OpenBLAS threads): what the
reference shows of them, and the simulator's processes and threads on hand-made runs whose
answer is known by hand (docs/benchmarks.md, section 7, Session 12)."""

from __future__ import annotations

import math

import pytest

from builders import make_run

from perfkit.analysis.prediction import BackendCosts, Machine, SimConfig, simulate, workload_of
from perfkit.analysis.prediction.model import Behaviour
from perfkit.analysis.prediction.predict import predict_one
from perfkit.analysis.prediction.workload import cores_of
from perfkit.model import TimeoutPolicy

#: Backends with no cost at all: the wall is the work's own structure.
PROCESS = BackendCosts("process", behaviour=Behaviour(dispatch="prefetch", prefetch=1, requeue="front"))
THREAD = BackendCosts("thread", behaviour=Behaviour(dispatch="shared", prefetch=1, requeue="back", gil=True,
                                                    hard_stop=False, stop_kills_worker=False))


def wide_run(units: list[tuple[float, float]], cores: int = 2, timeout_s: float = 100.0):
    """A sequential run of one task, one sample, candidates c0, c1, ...: each ``(cpu_s, wall_s)``."""
    rows, t = [], 0.0
    for i, (cpu, wall) in enumerate(units):
        rows.append(dict(task_id="t1", split="demo", index=0, candidate=f"c{i}", status="ok", output_hash=None,
                         match=None, queued=t, started=t, ended=t + wall, wall_s=wall, cpu_s=cpu, worker="main",
                         chunk=1, attempt=1, leaked_s=None, leaked=False, error_type=None, error_message=None))
        t += wall
    return make_run(rows, wall_s=t, cores=cores, timeout_s=timeout_s)


def wall(run, costs, workers, cores=2, strategy="candidate-parallel"):
    # no timeout: the GIL's late-unit chance (scipy, 0.6 s to import) is not what these test
    config = SimConfig(strategy, costs.backend, workers, 1, TimeoutPolicy(math.inf))
    return simulate(workload_of(run), config, costs, Machine(cores))


#: Eight units of 0.2 s of CPU on two cores at once: 0.1 s of wall each.
EIGHT_WIDE = [(0.2, 0.1)] * 8


def test_a_units_cores_are_its_cpu_over_its_wall_to_a_tenth_within_the_machine():
    assert cores_of(0.196, 0.1, 2) == pytest.approx(2.0)
    assert cores_of(0.15, 0.1, 2) == pytest.approx(1.5)
    assert cores_of(0.5, 0.1, 2) == 2.0  # no more than the machine's cores
    assert cores_of(0.05, 0.1, 2) == 1.0 and cores_of(0.1, 0.0, 2) == 1.0
    cost = next(iter(workload_of(wide_run([(0.2, 0.1), (0.05, 0.1)])).tasks[0].units.values()))
    assert (cost.cores, cost.cpu_s, cost.lane_s, cost.wait_s) == pytest.approx((2.0, 0.2, 0.1, 0.0))
    waits = list(workload_of(wide_run([(0.2, 0.1), (0.05, 0.1)])).tasks[0].units.values())[1]
    assert (waits.cores, waits.wait_s) == pytest.approx((1.0, 0.05))


def test_one_worker_runs_a_unit_on_two_cores_in_its_wall_not_its_cpu():
    run = wide_run(EIGHT_WIDE)
    assert wall(run, PROCESS, 1).wall_s == pytest.approx(0.8)
    assert wall(run, PROCESS, 1, strategy="sequential").wall_s == pytest.approx(0.8)


def test_workers_that_ask_for_more_cores_than_the_machine_has_progress_only_while_all_their_threads_run():
    run = wide_run(EIGHT_WIDE)
    # 2 workers × 2 threads on 2 cores: each thread on a core half the time, a unit at ½² = ¼ of
    # its pace alone (0.4 s each, four each): twice sequential's wall, not half of it
    r = wall(run, PROCESS, 2)
    assert r.wall_s == pytest.approx(1.6)
    assert r.units["wall_s"].to_numpy() == pytest.approx([0.4] * 8)
    assert r.units["share"].to_numpy() == pytest.approx([0.25] * 8)
    # three workers: (⅓)² each, 0.9 s for two rounds of three, then the last two at ½² (0.4 s)
    assert wall(run, PROCESS, 3).wall_s == pytest.approx(2 * 0.9 + 0.4)
    # on 4 cores two such workers fit: min(cores, workers × unit's cores)
    assert wall(run, PROCESS, 2, cores=4).wall_s == pytest.approx(0.4)


def test_units_on_one_core_are_processor_shared_as_before():
    run = wide_run([(0.1, 0.1)] * 8)
    assert wall(run, PROCESS, 2).wall_s == pytest.approx(0.4)
    assert wall(run, PROCESS, 4).wall_s == pytest.approx(0.4)  # 4 on 2 cores: each at half a core


def test_threads_share_one_thread_pool_for_units_computing_outside_the_gil():
    run = wide_run(EIGHT_WIDE)
    # one pool of 2 threads for the process: two callers share it, no gain and no loss
    assert wall(run, THREAD, 1).wall_s == pytest.approx(0.8)
    assert wall(run, THREAD, 2).wall_s == pytest.approx(0.8)
    # on 4 cores the pool of a process that saw 2 cores per unit is used twice over
    assert wall(run, THREAD, 2, cores=4).wall_s == pytest.approx(0.4)


def test_a_python_unit_beside_a_wide_one_on_threads_holds_the_gil_on_a_core_of_its_own():
    # one unit of 0.4 s on 2 cores (wall 0.2), one of 0.2 s of Python: on 3 cores both fit
    run = wide_run([(0.4, 0.2), (0.2, 0.2)], cores=3)
    assert wall(run, THREAD, 2, cores=3).wall_s == pytest.approx(0.2)
    # on 2 cores they ask for 3: each gets ⅔ of what it asks, the wide one 0.3 s, the other too
    assert wall(run, THREAD, 2, cores=2).wall_s == pytest.approx(0.3)


def test_the_ideal_bound_keeps_a_groups_cores_to_workers_times_a_units_cores():
    run = wide_run(EIGHT_WIDE)
    assert wall(run, PROCESS, 1).ideal_wall_s == pytest.approx(0.8)  # one worker keeps both cores busy
    assert wall(run, PROCESS, 2).ideal_wall_s == pytest.approx(0.8)  # 1.6 s of CPU over 2 cores
    assert wall(run, PROCESS, 2, cores=4).ideal_wall_s == pytest.approx(0.4)


def test_the_why_names_the_oversubscription_and_the_threads_per_worker():
    run = wide_run(EIGHT_WIDE)
    config = SimConfig("candidate-parallel", "process", 2, 1, TimeoutPolicy(100.0))
    p = predict_one(workload_of(run), config, PROCESS, Machine(2), sequential_wall_s=0.8)
    assert p.wall_s == pytest.approx(1.6) and p.speedup == pytest.approx(0.5)
    assert "2 workers × 2.0 cores per unit" in p.why and "ask for 4.0 of 2 cores" in p.why
    assert "50%^2.0 = 25%" in p.why and "OPENBLAS_NUM_THREADS" in p.why
    one = predict_one(workload_of(wide_run([(0.1, 0.1)] * 8)), config, PROCESS, Machine(2), sequential_wall_s=0.8)
    assert "cores per unit" not in one.why
