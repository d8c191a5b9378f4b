"""The simulator of perfkit's execution on hand-made runs whose answer is known by hand."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from builders import make_run

from perfkit.analysis.prediction import BackendCosts, Execution, Machine, SimConfig, simulate, workload_of
from perfkit.analysis.prediction.model import DEFAULT_COSTS, PIPELINED, RUNNER, Behaviour
from perfkit.model import TimeoutPolicy

#: A backend with no cost at all: the wall is the work's own structure.
FREE = BackendCosts("process", behaviour=Behaviour(dispatch="prefetch", prefetch=1, requeue="front"))


def hand_run(samples: dict[str, list[float]], wait: float = 0.0, generate_s: float = 0.0, timeout_s: float = 100.0,
             tasks: tuple[str, ...] = ("t1",), statuses: dict = None, error_type: str = "DeadlineExceeded"):
    """A sequential run made by hand: ``samples`` maps ``demo[0]``-style keys to the CPU seconds
    of their candidates c0, c1, ...; every unit also waits ``wait`` seconds off the CPU; the
    parent spends ``generate_s`` on each task's candidates before its first unit."""
    rows, t = [], 0.0
    for task in tasks:
        t += generate_s
        for key, costs in samples.items():
            split, index = key.rstrip("]").split("[")
            for i, cpu in enumerate(costs):
                status = (statuses or {}).get((task, key, i), "ok")
                rows.append(dict(task_id=task, split=split, index=int(index), candidate=f"c{i}", status=status,
                                 output_hash=None, match=None, queued=t, started=t, ended=t + cpu + wait,
                                 wall_s=cpu + wait, cpu_s=cpu, worker="main", chunk=1, attempt=1, leaked_s=None,
                                 leaked=False, error_type=error_type if status == "timeout" else None,
                                 error_message=None))
                t += cpu + wait
    return make_run(rows, wall_s=t, summary={"generate_s": generate_s * len(tasks)}, timeout_s=timeout_s)


def wall(run, strategy, workers, costs=FREE, cores=2, chunk=None, timeout=100.0, cooperative=None, **kw):
    result = simulate(workload_of(run), SimConfig(strategy, costs.backend, workers, chunk, TimeoutPolicy(timeout)),
                      costs, Machine(cores, **kw), cooperative=cooperative)
    return result.wall_s, result


def test_one_worker_is_the_sum_of_units_plus_overheads():
    run = hand_run({"demo[0]": [0.1, 0.2], "demo[1]": [0.4, 0.5], "test[0]": [0.6, 0.3]}, wait=0.01,
                   generate_s=0.25, tasks=("t1", "t2"))
    costs = FREE.changed(start_cold_s=0.5, start_per_worker_s=0.1, close_s=0.05, unit_worker_cpu_s=0.001,
                    item_worker_cpu_s=0.002)
    w, r = wall(run, "sequential", 1, costs)
    units, items = 12, 2  # one item per task under sequential
    expected = 0.5 + 0.1 + 2 * 0.25 + 2 * (2.1 + 6 * 0.01) + units * 0.001 + items * 0.002 + 0.05
    assert w == pytest.approx(expected)
    assert r.startup_s == pytest.approx(0.6) and r.close_s == pytest.approx(0.05)
    assert (r.units["status"] == "ok").all() and len(r.units) == units


def test_perfect_split_over_workers_and_cores():
    run = hand_run({"demo[0]": [1.0] * 8})
    assert wall(run, "candidate-parallel", 2, chunk=1)[0] == pytest.approx(4.0)
    assert wall(run, "candidate-parallel", 4, cores=4, chunk=2)[0] == pytest.approx(2.0)
    # four CPU-bound workers on two cores: capped at min(workers, cores)
    assert wall(run, "candidate-parallel", 4, cores=2, chunk=1)[0] == pytest.approx(4.0)


# -- the process backend: co-run slowdown, the parent's CPU per run and per batch -------------

def test_a_corun_factor_of_one_reproduces_the_model_without_it_exactly():
    run = hand_run({"demo[0]": [0.1, 0.3, 0.2, 0.05] * 4, "test[0]": [0.2] * 6}, wait=0.01, generate_s=0.1,
                   tasks=("t1", "t2"))
    costs = FREE.changed(unit_worker_cpu_s=0.001, unit_parent_cpu_s=0.002, item_worker_cpu_s=0.003,
                         item_parent_cpu_s=0.004)
    same = costs.changed(corun_cpu_factor=1.0, batch_interval_s=0.02)  # no cost per batch: no batch
    for strategy, workers in (("sequential", 1), ("candidate-parallel", 2), ("hybrid", 3)):
        (a, ra), (b, rb) = wall(run, strategy, workers, costs), wall(run, strategy, workers, same)
        assert a == b and ra.parent_cpu_s == rb.parent_cpu_s
        assert ra.units[["started", "ended"]].equals(rb.units[["started", "ended"]])


def test_a_corun_factor_stretches_work_by_how_many_cores_are_busy():
    run = hand_run({"demo[0]": [1.0] * 8})
    slow = FREE.changed(corun_cpu_factor=1.1)
    # both cores busy all along: a perfect split stretched by the factor
    assert wall(run, "candidate-parallel", 2, slow, chunk=1)[0] == pytest.approx(4.0 * 1.1)
    # one worker: one core busy, no slowdown
    assert wall(run, "candidate-parallel", 1, slow, chunk=8)[0] == pytest.approx(8.0)
    # 2 of 4 cores busy: a third of the way from 1 to the all-cores factor
    assert wall(run, "candidate-parallel", 2, FREE.changed(corun_cpu_factor=1.3), cores=4,
                chunk=1)[0] == pytest.approx(4.0 * 1.1)
    assert wall(run, "candidate-parallel", 4, FREE.changed(corun_cpu_factor=1.3), cores=4,
                chunk=2)[0] == pytest.approx(2.0 * 1.3)
    # the rule, written once
    assert slow.corun_slowdown(1, 2) == 1.0 and slow.corun_slowdown(5, 2) == pytest.approx(1.1)


def test_the_parent_pays_per_run_and_per_batch_on_the_cores():
    run = hand_run({"demo[0]": [0.03] * 10})
    costs = FREE.changed(run_parent_cpu_s=0.005, batch_parent_cpu_s=0.001, batch_interval_s=0.02)
    # each 30 ms unit ends more than 20 ms after the last batch: it sends one (10 batches)
    w, r = wall(run, "sequential", 1, costs, cores=1)
    assert r.parent_cpu_s == pytest.approx(0.005 + 10 * 0.001)
    assert w == pytest.approx(0.3 + 0.015)  # one core: the parent's CPU is taken from the worker
    # a second core: the parent runs beside the worker, but (generation serial in the parent)
    # the first task waits for the run's cost, and the stage's end for the last batch
    assert wall(run, "sequential", 1, costs, cores=2)[0] == pytest.approx(0.005 + 0.3 + 0.001)
    # units shorter than the interval: a batch every second unit (at 30, 60, ..., 150 ms)
    w, r = wall(hand_run({"demo[0]": [0.015] * 10}), "sequential", 1, costs.changed(run_parent_cpu_s=0.0), cores=2)
    assert r.parent_cpu_s == pytest.approx(5 * 0.001) and w == pytest.approx(0.15 + 0.001)


def test_sleeping_units_release_the_cores():
    run = hand_run({"demo[0]": [0.0] * 32}, wait=1.0)
    assert wall(run, "candidate-parallel", 16, cores=2, chunk=1)[0] == pytest.approx(2.0)
    # half CPU, half sleep: 16 workers on 2 cores are bound by the CPU, 32 × 0.5 s / 2 cores
    mixed = hand_run({"demo[0]": [0.5] * 32}, wait=0.5)
    w, r = wall(mixed, "candidate-parallel", 16, cores=2, chunk=1)
    assert r.ideal_wall_s == pytest.approx(8.0)
    # identical units move in lock-step: 16 CPU phases share the cores for 4 s, then all sleep
    assert w == pytest.approx(2 * (4.0 + 0.5))


def test_a_straggler_bounds_the_wall():
    run = hand_run({"demo[0]": [10.0] + [1.0] * 8})
    assert wall(run, "candidate-parallel", 4, cores=4, chunk=1)[0] == pytest.approx(10.0)
    # the process backend hands each worker two items: the straggler's worker holds one more
    process = FREE.changed(prefetch=2)
    assert wall(run, "candidate-parallel", 4, process, cores=4, chunk=1)[0] == pytest.approx(11.0)


def test_a_barrier_between_stages():
    run = hand_run({"demo[0]": [3.0, 1.0], "demo[1]": [1.0, 3.0]})
    # hybrid waits for demo[0]'s slow unit before demo[1] starts: 3 + 3
    assert wall(run, "hybrid", 2, chunk=1)[0] == pytest.approx(6.0)
    # candidate-parallel has no barrier: w1 runs 3; w2 runs 1, 1, then 3
    assert wall(run, "candidate-parallel", 2, chunk=1)[0] == pytest.approx(5.0)
    # and sample-parallel puts each sample on its own worker: 4 + 4
    assert wall(run, "sample-parallel", 2)[0] == pytest.approx(4.0)


def test_tasks_have_a_barrier_today_and_none_when_switched_off():
    run = hand_run({"demo[0]": [3.0, 1.0]}, tasks=("t1", "t2"))
    workload = workload_of(run)
    config = SimConfig("candidate-parallel", "process", 2, 1, TimeoutPolicy(100))
    today = simulate(workload, config, FREE, Machine(2))
    assert today.wall_s == pytest.approx(6.0)
    no_barrier = simulate(workload, config, FREE, Machine(2), Execution(task_barrier=False))
    assert no_barrier.wall_s == pytest.approx(4.0)  # w2 runs t1's 1 s, then t2's 3 s and 1 s... balanced


def test_serial_generation_waits_and_overlapped_generation_hides():
    run = hand_run({"demo[0]": [1.0, 1.0]}, generate_s=1.0, tasks=("t1", "t2", "t3"))
    config = SimConfig("candidate-parallel", "process", 2, 1, TimeoutPolicy(100))
    serial = simulate(workload_of(run), config, FREE, Machine(4))
    assert serial.wall_s == pytest.approx(3 * (1.0 + 1.0))
    assert serial.between_stages_s == pytest.approx(3.0)
    overlapped = simulate(workload_of(run), config, FREE, Machine(4), Execution(generation="overlapped"))
    assert overlapped.wall_s == pytest.approx(1.0 + 3 * 1.0)


def test_the_why_of_generation_says_where_it_runs():
    # generation as long as the units: the largest cost besides the work, in the parent
    # (serial) and on the workers (the runner of today), and each why says which
    from perfkit.analysis.prediction.predict import _reason

    run = hand_run({"demo[0]": [1.0, 1.0]}, generate_s=2.0, tasks=("t1", "t2"))
    config = SimConfig("candidate-parallel", "process", 2, 1, TimeoutPolicy(100))
    for execution, where in ((Execution(generation="serial"), "serially in the parent"),
                             (RUNNER, "a job on the workers")):
        result = simulate(workload_of(run), config, FREE, Machine(2), execution)
        assert result.between_stages_s > 0
        assert where in _reason("generation", result, FREE, Machine(2), workload_of(run))


def test_the_why_of_idle_names_a_barrier_only_where_the_schedule_has_one():
    # candidate-parallel is one stage per task and the runner has no barrier between tasks: the
    # idle is the run's last tail (w1 ends at 5 s, w2 at 4 s); hybrid has a barrier per sample
    from perfkit.analysis.prediction.predict import _reason

    run = hand_run({"demo[0]": [1.0] * 5, "demo[1]": [1.0] * 4})
    workload = workload_of(run)
    single = simulate(workload, SimConfig("candidate-parallel", "process", 2, 1, TimeoutPolicy(100)), FREE,
                      Machine(2), RUNNER)
    why = _reason("idle", single, FREE, Machine(2), workload)
    assert "end of each stage" not in why and "a barrier" not in why
    assert "the run's last tail" in why and "1.00 s apart" in why
    staged = simulate(workload, SimConfig("hybrid", "process", 2, 1, TimeoutPolicy(100)), FREE, Machine(2), RUNNER)
    why = _reason("idle", staged, FREE, Machine(2), workload)
    assert "hybrid plans 2 stages for 1 task, a barrier after each" in why
    old = simulate(workload, SimConfig("candidate-parallel", "process", 2, 1, TimeoutPolicy(100)), FREE,
                   Machine(2), Execution())
    assert "a barrier between tasks" in _reason("idle", old, FREE, Machine(2), workload)


def test_speed_scales_cpu_not_sleep():
    run = hand_run({"demo[0]": [1.0, 1.0]}, wait=1.0)
    assert wall(run, "sequential", 1, speed=0.5)[0] == pytest.approx(2 * (2.0 + 1.0))


def test_units_time_out_under_a_tighter_timeout_and_the_worker_is_replaced():
    run = hand_run({"demo[0]": [0.1, 0.5, 0.1, 0.1]})
    costs = FREE.changed(stop_delay_s=0.05, replace_s=0.2)
    w, r = wall(run, "sequential", 1, costs, timeout=0.3)
    assert list(r.units["status"]) == ["ok", "timeout", "ok", "ok"]
    # 0.1, then the slow unit killed at 0.3 + 0.05, a new worker after 0.2, then 0.1 + 0.1
    assert w == pytest.approx(0.1 + 0.35 + 0.2 + 0.2)
    assert r.kills == 1


def test_a_cooperative_solver_stops_at_its_deadline():
    run = hand_run({"demo[0]": [0.1, 0.5, 0.1]})
    costs = FREE.changed(stop_delay_s=0.05, replace_s=0.2)
    r = simulate(workload_of(run), SimConfig("sequential", "process", 1, timeout=TimeoutPolicy(0.3)), costs,
                 Machine(2), cooperative=True)
    assert r.wall_s == pytest.approx(0.1 + 0.3 + 0.1) and r.kills == 0


def test_contention_makes_units_time_out():
    # alone each unit takes 0.1 s; four on two cores take 0.2 s each, past a 0.15 s timeout
    run = hand_run({"demo[0]": [0.1] * 4, "demo[1]": [0.1] * 4, "demo[2]": [0.1] * 4, "demo[3]": [0.1] * 4})
    _, alone = wall(run, "sequential", 1, timeout=0.15)
    assert (alone.units["status"] == "ok").all()
    _, crowded = wall(run, "sample-parallel", 4, timeout=0.15, cores=2)
    assert (crowded.units["status"] == "timeout").any()


def test_units_timed_out_in_the_reference_are_lower_bounds():
    run = hand_run({"demo[0]": [0.2, 1.0, 0.2]}, timeout_s=1.0, statuses={("t1", "demo[0]", 1): "timeout"})
    workload = workload_of(run)
    assert workload.lower_bounds == 1 and workload.cooperative is True
    _, same = wall(run, "sequential", 1, timeout=1.0)
    assert list(same.units["status"]) == ["ok", "timeout", "ok"]
    _, longer = wall(run, "sequential", 1, timeout=5.0)
    assert longer.units["lower_bound"].sum() == 1


def test_a_unit_that_finished_late_by_itself_did_its_whole_work_and_holds_its_worker_no_longer():
    # markdown-it-py at a 4 ms timeout: units that return a few ms past their deadline are
    # timeouts with no error type; the backend never had to stop them (it waits out its grace)
    run = hand_run({"demo[0]": [0.2, 1.03, 0.2]}, timeout_s=1.0, statuses={("t1", "demo[0]", 1): "timeout"},
                   error_type=None)
    workload = workload_of(run)
    assert workload.lower_bounds == 0 and workload.cooperative is None  # nothing was cut, nothing stopped
    costs = FREE.changed(stop_delay_s=0.05, replace_s=0.2)
    w, r = wall(run, "sequential", 1, costs, timeout=1.0)
    assert list(r.units["status"]) == ["ok", "timeout", "ok"]
    # its own 1.03 s, inside the 50 ms the backend waits before it stops a unit: no kill, no
    # replacement (read as a lower bound it ran until killed at 1.05 s, then 0.2 s to replace)
    assert w == pytest.approx(0.2 + 1.03 + 0.2) and r.kills == 0
    w, r = wall(run, "sequential", 1, costs, timeout=0.5)  # a tighter timeout stops it as any unit
    assert w == pytest.approx(0.2 + 0.55 + 0.2 + 0.2) and r.kills == 1


def test_budgets_skip_units():
    run = hand_run({"demo[0]": [1.0] * 4, "demo[1]": [1.0] * 4})
    r = simulate(workload_of(run), SimConfig("sequential", "process", 1, timeout=TimeoutPolicy(100, 2.5)), FREE,
                 Machine(2))
    assert list(r.units.groupby("split")["status"].apply(list)["demo"]) == ["ok"] * 3 + ["skipped"] + ["ok"] * 3 + ["skipped"]


@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_threads_share_one_core_and_their_stopped_units_keep_running():
    run = hand_run({"demo[0]": [1.0] * 4})
    threads = FREE.changed(backend="thread", gil=True, hard_stop=False, stop_kills_worker=False, requeue="back")
    assert wall(run, "candidate-parallel", 2, threads, cores=8, chunk=1)[0] == pytest.approx(4.0)


def test_the_plan_comes_from_the_strategy_registry():
    from perfkit.strategies import Plan, register

    def one_by_one(samples, candidates, workers, chunk_size):
        """Each unit its own stage (a barrier after every unit)."""
        return Plan(stages=tuple(((( s, i, c),),) for s, i in samples for c in candidates))

    register("test-one-by-one", one_by_one)
    run = hand_run({"demo[0]": [1.0] * 4})
    assert wall(run, "test-one-by-one", 4, cores=4)[0] == pytest.approx(4.0)
    assert wall(run, "candidate-parallel", 4, cores=4, chunk=1)[0] == pytest.approx(1.0)


# -- why, sweeps and the seed's situation ------------------------------------------------------

def seed_like_run():
    """The seed's Phase 4 in small: 5 demo + 1 test samples of 32 candidates, 10 ms of CPU each,
    a 0.06 s timeout that every unit fits in sequentially."""
    samples = {f"demo[{i}]": [0.01] * 32 for i in range(5)}
    samples["test[0]"] = [0.01] * 32
    return hand_run(samples, timeout_s=0.06)


@pytest.mark.slow  # over half a second (session 14: the quick subset's time)
def test_the_seeds_sample_parallel_on_4_workers_and_2_cores_is_explained():
    from perfkit.analysis.prediction import DEFAULT_COSTS
    from perfkit.analysis.prediction.predict import sweep

    def seed_sweep(execution):
        return sweep(workload_of(seed_like_run()), dict(DEFAULT_COSTS), Machine(2),
                     strategies=["sequential", "sample-parallel"], backends=["thread", "process"], workers=[1, 2, 4],
                     execution=execution)

    for execution in (Execution(), PIPELINED):
        s = seed_sweep(execution)
        seq = s.predictions[0]
        threads = s.find("sample-parallel", "thread", 4)
        assert threads.wall_s >= seq.wall_s and "GIL" in threads.why
        assert threads.at_risk > 0  # 4 threads on one core: each unit at ~40 ms of its 60 ms timeout
        processes = s.find("sample-parallel", "process", 4)
        assert processes.wall_s < seq.wall_s
        knee = next(k for k in s.knees if k.curve == "sample-parallel/process")
        assert knee.workers == 2 and "4 workers share 2 cores" in knee.why
    # before issue 13 the parent filled the workers' pipes in order: 6 samples, 2 items each up front
    assert "3 of 4 workers get work" in seed_sweep(Execution()).find("sample-parallel", "process", 4).why


def test_a_slower_machine_makes_the_seeds_threads_lose_more_answers():
    from perfkit.analysis.prediction import DEFAULT_COSTS
    from perfkit.analysis.prediction.predict import predict_one

    workload = workload_of(seed_like_run())
    config = SimConfig("sample-parallel", "thread", 4, timeout=TimeoutPolicy(0.06))
    here = predict_one(workload, config, DEFAULT_COSTS["thread"], Machine(2))
    slow = predict_one(workload, config, DEFAULT_COSTS["thread"], Machine(2, speed=0.5))
    # here the mean wall (4 × 10 ms) fits the timeout and only the GIL's uneven turns cut units;
    # at half the speed the mean (4 × 20 ms) is past it
    assert 0 < here.new_timeouts < slow.new_timeouts
    assert "answers lost" in slow.why


# -- the GIL's uneven turns: units that time out under contention ------------------------------

THREADS = FREE.changed(backend="thread", gil=True, hard_stop=False, stop_kills_worker=False, dispatch="shared",
                       prefetch=1, requeue="back")


def test_the_gils_uneven_turns_have_a_known_chance_to_pass_the_timeout():
    from perfkit.analysis.prediction.gil import late_probability

    # a 10 ms unit with a quarter of the GIL needs 2 of the 12 turns of 5 ms before its 60 ms
    # timeout: it is late when at most 1 of the 12 is its own
    by_hand = 0.75 ** 12 + 12 * 0.25 * 0.75 ** 11
    assert late_probability(0.010, 0.0, 0.060, 0.25) == pytest.approx(by_hand)
    assert late_probability(0.010, 0.0, 0.060, 1.0) == 0.0  # alone: it runs straight through
    assert late_probability(0.070, 0.0, 0.060, 1.0) == 1.0  # its CPU alone is past the timeout
    assert late_probability(0.010, 0.055, 0.060, 0.25) == 1.0  # its wait leaves no room for its CPU
    assert late_probability(0.010, 0.0, 0.060, 0.5) < by_hand  # fewer threads, fewer late units


def test_threads_sharing_the_gil_time_out_units_whose_mean_wall_fits():
    # four 10 ms units on four threads: each gets a quarter of the GIL, 40 ms on average — within
    # the 60 ms timeout. Each has a 15.8 % chance to be late; the running sum (from one half)
    # passes a whole unit at the fourth: that unit holds its thread to its deadline and times out
    run = hand_run({f"demo[{i}]": [0.01] for i in range(4)})
    w, r = wall(run, "sample-parallel", 4, THREADS, timeout=0.06, cooperative=True)
    chance = 0.75 ** 12 + 12 * 0.25 * 0.75 ** 11
    assert list(r.units["late_chance"]) == pytest.approx([chance] * 4)
    assert list(r.units["share"]) == pytest.approx([0.25] * 4)
    assert list(r.units["status"]) == ["ok", "ok", "ok", "timeout"]
    assert w == pytest.approx(0.06)  # the late unit's deadline, not the fluid's 40 ms
    # the same units on processes: 4 workers on 2 cores stretch each unit 2× to 20 ms; the OS
    # scheduler is fair, so none is late
    w, r = wall(run, "sample-parallel", 4, timeout=0.06, cores=2, cooperative=True)
    assert (r.units["status"] == "ok").all() and w == pytest.approx(0.02)


def test_a_late_thread_that_does_not_stop_costs_the_stop_delay_and_leaks():
    run = hand_run({f"demo[{i}]": [0.01] for i in range(4)})
    threads = THREADS.changed(stop_delay_s=0.05, replace_s=0.001)
    w, r = wall(run, "sample-parallel", 4, threads, timeout=0.06, cooperative=False)
    assert list(r.units["status"]) == ["ok", "ok", "ok", "timeout"]
    assert w == pytest.approx(0.06 + 0.05)


def test_predict_says_why_the_seeds_threads_gain_nothing_and_lose_answers():
    from perfkit.analysis.prediction import DEFAULT_COSTS
    from perfkit.analysis.prediction.predict import sweep, verdict

    s = sweep(workload_of(seed_like_run()), dict(DEFAULT_COSTS), Machine(2), strategies=["sequential", "sample-parallel"],
              backends=["thread", "process"], workers=[1, 2, 4])
    threads = s.find("sample-parallel", "thread", 4)
    assert verdict(threads) == "no faster than sequential" and threads.new_timeouts > 0
    for cause in ("4 threads taking turns at the GIL", "5 ms turns to whichever thread wakes",
                  f"{threads.new_timeouts} units time out that did not under sequential",
                  f"each holds its worker the full 0.06 s + {DEFAULT_COSTS['thread'].stop_delay_s * 1000:.0f} ms, "
                  "then is abandoned"):
        assert cause in threads.why
    # stretched 3–4× (4 threads, fewer while a late unit waits for its deadline): within the timeout
    stretch = re.search(r"~(\d\.\d)× to ~(\d+) ms on average, of its 60 ms timeout", threads.why)
    assert stretch and 3.0 <= float(stretch[1]) <= 4.0 and 30 <= int(stretch[2]) < 60
    processes = s.find("sample-parallel", "process", 4)
    assert verdict(processes) == "faster than sequential" and processes.new_timeouts == 0
    # the report puts it first, under its own heading
    from perfkit.reports import markdown
    from perfkit.reports.prediction import build

    md = markdown.render(build(s, None, "seed"))
    finding = next(line for line in md.splitlines() if "sample-parallel/thread×4:" in line)
    assert md.index("## No faster than sequential, or losing answers") < md.index(finding)
    assert "no faster than sequential" in finding and threads.why in finding


def test_a_reference_measured_on_a_busy_machine_is_flagged():
    from perfkit.analysis.prediction.predict import assumptions, busy_reference

    samples = {f"demo[{i}]": [0.01] * 8 for i in range(2)}
    quiet = workload_of(hand_run(samples))
    assert busy_reference(quiet) is None
    # every unit waited 10 ms off the CPU while other processes used 1.5 cores on average
    run = hand_run(samples, wait=0.01)
    busy = workload_of(make_run(run.units.to_dict("records"), summary={"others_cpu_s": 1.5 * run.summary.wall_s}))
    assert busy.reference_others_cores == pytest.approx(1.5)
    note = busy_reference(busy)
    assert note is not None and "1.5 cores" in note and "0.16 s off the CPU" in note
    assert note in assumptions(busy, {}, Machine(2), Execution(), None)


def test_knee_and_best_per_worker_count():
    from perfkit.analysis.prediction.predict import sweep

    run = hand_run({f"demo[{i}]": [0.1] * 16 for i in range(4)})
    s = sweep(workload_of(run), {"inline": FREE.changed(backend="inline", in_parent=True), "process": FREE},
              Machine(4), strategies=["sequential", "candidate-parallel"], backends=["process"],
              workers=[1, 2, 4, 8, 16], chunk_sizes=[1])
    knee = next(k for k in s.knees if k.curve.startswith("candidate-parallel/process"))
    assert knee.workers == 4  # four cores: more workers only share them
    assert "share 4 cores" in knee.why
    assert s.best[4].config.strategy == "candidate-parallel" and s.best[4].speedup == pytest.approx(4.0)


@pytest.mark.slow
def test_a_knee_at_one_worker_reads_1_worker():
    # the walkthrough read "knee sample-parallel/thread: 1 workers"
    from perfkit.analysis.prediction.predict import sweep
    from perfkit.reports.prediction import build

    run = hand_run({f"demo[{i}]": [0.1] * 4 for i in range(2)})
    s = sweep(workload_of(run), {"inline": FREE.changed(backend="inline", in_parent=True), "process": FREE},
              Machine(1), strategies=["sequential", "candidate-parallel"], backends=["process"],
              workers=[1, 2], chunk_sizes=[1])  # one core: a second worker only shares it
    knee = next(k for k in s.knees if k.curve.startswith("candidate-parallel/process"))
    assert knee.workers == 1
    text = str(build(s, None, "t").blocks)
    assert "knee at 1 worker (" in text and "1 workers" not in text


def _candidate_parallel_curve() -> list:
    """candidate-parallel/process predicted at 1–16 workers on 4 free cores (16 units × 4 samples)."""
    from perfkit.analysis.prediction.predict import sweep

    run = hand_run({f"demo[{i}]": [0.1] * 16 for i in range(4)})
    s = sweep(workload_of(run), {"inline": FREE.changed(backend="inline", in_parent=True), "process": FREE},
              Machine(4), strategies=["sequential", "candidate-parallel"], backends=["process"],
              workers=[1, 2, 4, 8, 16], chunk_sizes=[1])
    return [p for p in s.predictions if p.config.strategy == "candidate-parallel"]


def test_a_knee_is_never_a_worker_count_that_loses_answers():
    # arc-dsl: the knee pointed at 4 workers although every 4-worker configuration lost answers
    from dataclasses import replace

    from perfkit.analysis.prediction.predict import _knee

    curve = _candidate_parallel_curve()
    losing = [replace(p, new_timeouts=3) if p.config.workers >= 4 else p for p in curve]
    knee = _knee(losing)
    assert knee.workers == 2 and knee.best_speedup == pytest.approx(2.0)
    assert "from 4 workers on, answers are lost (3 units newly time out)" in knee.why
    none_kept = _knee([replace(p, new_timeouts=1) for p in curve])
    assert none_kept.why.startswith("no worker count keeps the sequential answers")
    assert none_kept.best_speedup == none_kept.speedup  # not the 4× of a count that loses answers
    assert "(1 unit newly times out)" in none_kept.why


def test_a_curve_whose_every_worker_count_stops_early_has_no_knee_not_a_nan_one():
    # the report read "knee at 1 worker (nan×; best nan×)": a count that stops has no speedup
    from dataclasses import replace

    from perfkit.analysis.prediction.predict import _knee
    from perfkit.reports.prediction import knee_where

    curve = _candidate_parallel_curve()
    stopped = _knee([replace(p, result=replace(p.result, stopped_s=0.5)) for p in curve])
    assert knee_where(stopped) == "no knee"
    assert "no worker count keeps the sequential answers" in stopped.why and "the run stops early" in stopped.why
    assert knee_where(_knee(curve)) == "knee at 4 workers (4.00×; best 4.00×)"


def test_answers_lost_at_a_count_between_two_that_keep_them_do_not_read_as_lost_from_there_on():
    # a count that loses answers between counts that keep them (4 loses, 8 and 16 keep): the
    # knee's sentence must not say "from 4 workers on, answers are lost" beside a knee at 8
    from dataclasses import replace

    from perfkit.analysis.prediction.predict import _knee

    curve = _candidate_parallel_curve()
    knee = _knee([replace(p, new_timeouts=3) if p.config.workers == 4 else p for p in curve])
    assert knee.workers != 4 and "from 4 workers on" not in knee.why
    assert "at 4 workers, answers are lost (3 units newly time out)" in knee.why
    two = _knee([replace(p, new_timeouts=p.config.workers // 2) if p.config.workers in (2, 8) else p for p in curve])
    assert "at 2, 8 workers, answers are lost (1 unit newly times out at 2 workers)" in two.why
    alone = _knee([replace(p, new_timeouts=1) for p in curve])
    assert "from 1 worker on," in alone.why  # one worker, not "1 workers"


# -- calibration: stored per machine and reused -----------------------------------------------

def test_calibration_is_stored_per_machine_and_reused(tmp_path):
    from perfkit.analysis.prediction import DEFAULT_COSTS
    from perfkit.orchestration import calibration

    made = DEFAULT_COSTS["inline"].changed(unit_worker_cpu_s=0.123, calibrated=True)
    path = calibration.save({"inline": made}, tmp_path)
    assert path == tmp_path / f"{calibration.machine_key()}.json"
    # measuring is allowed, but what is stored for this machine is reused, not measured again
    assert calibration.costs_for(["inline"], tmp_path)["inline"] == made
    other = {**calibration.machine_facts(), "usable_cores": calibration.machine_facts()["usable_cores"] + 62}
    assert calibration.machine_key(other) != calibration.machine_key()
    # nothing stored and nothing measured: the built-in defaults, said to be uncalibrated
    assert calibration.costs_for(["thread"], tmp_path / "none", measure=False)["thread"].calibrated is False


def test_a_calibration_file_without_the_corun_and_batch_costs_still_loads(tmp_path):
    from perfkit.analysis.prediction import DEFAULT_COSTS
    from perfkit.orchestration import calibration

    made = DEFAULT_COSTS["process"].changed(corun_cpu_factor=1.07, run_parent_cpu_s=0.002, batch_parent_cpu_s=3e-4,
                                            calibrated=True)
    path = calibration.save({"process": made}, tmp_path)
    assert calibration.load(tmp_path)["process"] == made
    data = json.loads(path.read_text())
    for key in ("corun_cpu_factor", "run_parent_cpu_s", "batch_parent_cpu_s", "batch_interval_s"):
        del data["backends"]["process"][key]  # as a file of version 4 stored it
    path.write_text(json.dumps(data))
    old = calibration.load(tmp_path)["process"]
    assert (old.corun_cpu_factor, old.run_parent_cpu_s, old.batch_parent_cpu_s) == (1.0, 0.0, 0.0)


@pytest.mark.slow
def test_the_corun_factor_is_measured_with_every_core_busy_against_one():
    from perfkit.orchestration import calibration
    from perfkit.runner import calibration as yardstick

    import time
    start = time.monotonic()
    assert yardstick.cpu_per_pass(start, start + 0.02) > 0
    factor = calibration._corun_factor()
    # a ratio of CPU per pass: near 1 wherever it runs (bounds against nothing but itself)
    assert 0.5 < factor < 4.0


@pytest.mark.slow
def test_the_parents_cost_per_batch_is_measured_on_real_process_runs(tmp_path):
    from perfkit.analysis.prediction import DEFAULT_COSTS
    from perfkit.orchestration import calibration

    run_s, batch_s = calibration._per_run_and_batch(tmp_path, DEFAULT_COSTS["process"].changed(
        unit_parent_cpu_s=0.0, item_parent_cpu_s=0.0))
    # 16 batches that each wake an idle parent cost it CPU; bounds against the runs' own figures only
    assert batch_s > 0 and run_s >= 0
    runs = [p for p in tmp_path.iterdir() if (p / "summary.json").exists()]
    assert len(runs) == 2 * (calibration.START_ROUNDS + 1)  # real runs, alternated


@pytest.mark.slow
def test_calibration_measures_once_then_reuses_until_recalibrated(tmp_path):
    import json

    from perfkit.orchestration import calibration

    first = calibration.costs_for(["inline"], tmp_path)["inline"]
    assert first.calibrated and first.unit.worker_cpu_s > 0 and first.stop_delay_s > 0
    assert first.yardstick_cpu_s > 0  # the speed state it was measured in, to scale it to a run's
    path = tmp_path / f"{calibration.machine_key()}.json"
    stamp = json.loads(path.read_text())["measured_at"]
    assert calibration.costs_for(["inline"], tmp_path)["inline"] == first
    assert json.loads(path.read_text())["measured_at"] == stamp
    calibration.costs_for(["inline"], tmp_path, recalibrate=True)
    assert json.loads(path.read_text())["measured_at"] != stamp


def test_bad_prediction_input_names_the_field(tmp_path):
    from perfkit.api import predict
    from perfkit.model import ConfigError, PerfkitError

    with pytest.raises(ConfigError) as err:
        predict(tmp_path, workers=[0])
    assert err.value.field == "workers"
    with pytest.raises(ConfigError) as err:
        predict(tmp_path, backends=["warp"])
    assert err.value.field == "backends"
    with pytest.raises(ConfigError) as err:
        predict(tmp_path, backends=["process"], machines=3)
    assert err.value.field == "machines"
    with pytest.raises(PerfkitError, match="missing"):
        predict(tmp_path / "missing", measure=False)


# -- perfkit predict on a real run --------------------------------------------------------------

@pytest.mark.slow
def test_cli_predict_writes_the_report_and_json(tmp_path):
    import json
    import subprocess
    import sys

    import jsonschema

    from perfkit import load_run
    from perfkit.analysis.prediction import DEFAULT_COSTS
    from perfkit.orchestration import calibration
    from perfkit.reports import json_report

    perfkit = [sys.executable, "-m", "perfkit"]
    store = tmp_path / "runs"
    done = subprocess.run([*perfkit, "run", "--solver", "synthetic", "--tasks", "synthetic:1x3+1", "--solver-opt",
                           "candidates=8", "--solver-opt", "cpu_ms=1", "--store", str(store)], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run_dir = next(store.iterdir())
    # this machine's costs stored beforehand (the built-in ones), so that nothing is measured here
    calibration.save(dict(DEFAULT_COSTS), tmp_path / "cal")
    # a cut below the fastest unit's CPU, whatever this machine's speed: every unit times out
    cut_s = f"{float(load_run(run_dir).units.cpu_s.min()) / 2:.6f}"
    args = [*perfkit, "predict", str(run_dir), "--workers", "1,2,4", "--calibration-dir", str(tmp_path / "cal"),
            "--timeout", f"1,{cut_s}", "--out", str(tmp_path / "pred"), "--no-gil-probe"]  # the probe: test_gil_probe.py
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    md = (tmp_path / "pred" / "report.md").read_text()
    assert "# perfkit prediction" in md and "What a timeout would cut" in md and "Knees" in md
    data = json.loads((tmp_path / "pred" / "report.json").read_text())
    jsonschema.validate(data, json_report.schema())
    assert data["kind"] == "prediction" and data["format"] == json_report.FORMAT
    names = {p["configuration"] for p in data["predictions"]}
    assert {"sequential/inline×1", "candidate-parallel/process×4", "hybrid/thread×2"} <= names
    (cut,) = [rows for key, rows in data["timeout_cuts"].items() if float(key) < 1]
    assert cut[0]["configuration"] == "sequential/inline×1" and cut[0]["timeouts"] == 32  # every unit
    assert (tmp_path / "pred" / "speedup_vs_workers.png").stat().st_size > 0
    assert "knee" in done.stderr
    # --quiet, as every verb: only the paths of what was written
    quiet = subprocess.run([*args[:-1], "--quiet"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    assert all((tmp_path / line).exists() for line in quiet.stdout.splitlines()) and "report.md" in quiet.stdout
    bad = subprocess.run([*perfkit, "predict", str(run_dir), "--workers", "0", "--calibration-dir",
                          str(tmp_path / "cal")], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "--workers" in bad.stderr


@pytest.mark.slow  # > 0.2 s: out of the quick subset (session 17, suitetime17)
def test_a_comparison_shows_each_configurations_prediction_and_the_models_error():
    from builders import make_run, parallel, unit_rows
    from perfkit.analysis.comparison import analyse
    from perfkit.analysis.prediction.predict import model_check
    from perfkit.analysis.text import duration
    from perfkit.reports.document import build

    samples = tuple(("demo", i) for i in range(4))
    cands = tuple(f"c{i:03d}" for i in range(8))
    reference = make_run(unit_rows(samples, cands, cpu=0.1))
    rows = unit_rows(samples, cands, cpu=0.1)
    for i, r in enumerate(rows):
        r["chunk"] = i // 4
    measured = make_run(parallel(rows, 2, lambda r: r["chunk"]), "candidate-parallel", "process", 2, wall_s=1.8)
    comparison = analyse([reference, measured])
    measured_here = FREE.changed(calibrated=True)
    costs = {"inline": measured_here.changed(backend="inline", in_parent=True), "process": measured_here}
    comparison.model = model_check(comparison.runs, workload_of(comparison.reference), costs)
    comparison.model_calibrated = True
    row = comparison.model.set_index("strategy").loc["candidate-parallel"]
    assert row["predicted_wall_s"] == pytest.approx(1.6)  # 32 units of 0.1 s on 2 workers, nothing else
    assert row["model_error"] == pytest.approx(1.6 / 1.8 - 1)
    table = next(b for b in build(comparison, {}).blocks if getattr(b, "headers", ("",))[0] == "strategy")
    assert table.headers[-3:] == ("predicted wall", "model error", "timeouts measured / predicted")
    assert table.rows[1][-3:] == (duration(1.6), "-11%", "0 / 0")
    # built-in costs (never measured here): the prediction is shown, marked, and no error is claimed
    comparison.model = model_check(comparison.runs, workload_of(comparison.reference),
                                   {"inline": FREE.changed(backend="inline", in_parent=True), "process": FREE})
    comparison.model_calibrated = False
    assert comparison.model["model_error"].isna().all()
    table = next(b for b in build(comparison, {}).blocks if getattr(b, "headers", ("",))[0] == "strategy")
    assert all("uncalibrated" in h for h in table.headers[-3:])
    assert table.rows[1][-3:] == (duration(1.6), "–", "0 / 0")


@pytest.mark.slow  # > 0.4 s: the quick subset stays under 30 s (docs/testing.md)
def test_a_comparison_shows_timeouts_and_skipped_units_measured_beside_predicted(tmp_path):
    """Timed-out and skipped units predicted from the sequential run alone, beside the measured
    ones, in every renderer: the report's table (Markdown, HTML), report.json, the terminal."""
    import jsonschema
    from builders import make_run, parallel, unit_rows

    from perfkit.analysis.comparison import analyse
    from perfkit.analysis.prediction.predict import model_check
    from perfkit.cli.compare import predicted_headers, summary_rows
    from perfkit.reports import REPORT_FILES, html, json_report, markdown
    from perfkit.reports.document import build

    samples = tuple(("demo", i) for i in range(4))
    cands = tuple(f"c{i:03d}" for i in range(8))

    def rows(statuses=None):
        """4 samples × 8 candidates of 0.1 s, but c007 takes 0.3 s; ``statuses``: candidate
        index → status, on the first n samples: (status, n)."""
        out = unit_rows(samples, cands, cpu=0.1)
        for i, r in enumerate(out):
            if r["candidate"] == "c007":
                r.update(cpu_s=0.3, wall_s=0.3)
            r["chunk"] = i // 4
        for cand, (status, n) in (statuses or {}).items():
            for r in [r for r in out if r["candidate"] == cands[cand]][:n]:
                r.update(status=status, output_hash=None, match=None)
        return out

    reference = make_run(rows())
    # a 0.2 s timeout cuts c007 on every sample (4 predicted); measured 3 and 4: median 3.5
    tight = [make_run(parallel(rows({7: ("timeout", n)}), 2, lambda r: r["chunk"]), "candidate-parallel",
                      "process", 2, timeout_s=0.2, repeat=n) for n in (3, 4)]
    # a 0.25 s sample budget on one worker: 3 units of each sample start in time, 5 are skipped
    # (20 predicted); measured: candidates 3..7 skipped on 4, 4, 4, 4 and 2 of the samples
    budget = TimeoutPolicy(1.0, sample_budget_s=0.25)
    skipped = {i: ("skipped", 4) for i in range(3, 7)} | {7: ("skipped", 2)}
    short = make_run(parallel(rows(skipped), 1, lambda r: r["chunk"]), "candidate-parallel", "process", 1,
                     budgets=budget)
    comparison = analyse([reference, *tight, short])
    costs = {"inline": FREE.changed(backend="inline", in_parent=True, calibrated=True),
             "process": FREE.changed(calibrated=True)}
    comparison.model = model_check(comparison.runs, workload_of(comparison.reference), costs)
    comparison.model_calibrated = True
    model = comparison.model.set_index(["strategy", "workers"])
    assert model.loc[("candidate-parallel", 2), ["measured_timeouts", "predicted_timeouts"]].tolist() == [3.5, 4]
    assert model.loc[("candidate-parallel", 1), ["measured_skipped", "predicted_skipped"]].tolist() == [18, 20]
    want = {"sequential/inline×1": ("0 / 0", "0 / 0"), "candidate-parallel/process×2": ("3.5 / 4", "0 / 0"),
            "candidate-parallel/process×1": ("0 / 0", "18 / 20")}

    doc = build(comparison, {})
    table = next(b for b in doc.blocks if getattr(b, "headers", ("",))[0] == "strategy")
    assert table.headers[-2:] == ("timeouts measured / predicted", "skipped measured / predicted")
    assert {row[0]: row[-2:] for row in table.rows} == want
    md, page = markdown.render(doc), html.render(doc)
    line = next(x for x in md.splitlines() if x.startswith("| candidate-parallel/process×2 |"))
    assert line.endswith("| 3.5 / 4 | 0 / 0 |")
    assert "<th>timeouts measured / predicted</th>" in page and "<td>3.5 / 4</td>" in page

    record = json.loads(json.dumps(json_report.comparison_record(
        comparison, "c", {k: tmp_path / n for k, n in REPORT_FILES.items()}), default=str))
    jsonschema.Draft202012Validator(json_report.schema()).validate(record)
    predicted = {g["group"]: g["predicted"] for g in record["groups"]}
    assert predicted["candidate-parallel/process×2"] | {"wall_s": None, "model_error": None} == {
        "wall_s": None, "model_error": None, "stopped_s": None, "timeouts": 4, "measured_timeouts": 3.5,
        "skipped": 0, "measured_skipped": 0}
    assert (predicted["candidate-parallel/process×1"]["skipped"],
            predicted["candidate-parallel/process×1"]["measured_skipped"]) == (20, 18)

    assert predicted_headers(comparison)[1:] == ("t/o meas./pred.", "skipped meas./pred.")
    assert {row[0]: row[-2:] for row in summary_rows(comparison)} == want
    # without budgets no configuration skips a unit: no column of zeros
    comparison.model = model_check([reference, *tight], workload_of(reference), costs)
    table = next(b for b in build(comparison, {}).blocks if getattr(b, "headers", ("",))[0] == "strategy")
    assert table.headers[-1] == "timeouts measured / predicted"
    assert predicted_headers(comparison)[-1] == "t/o meas./pred."


def test_calibrated_costs_follow_the_machines_speed_state_of_the_reference():
    measured_fast = FREE.changed(unit_worker_cpu_s=1e-3, unit_parent_cpu_s=2e-3, stop_delay_s=0.05,
                            yardstick_cpu_s=0.01)
    slow = measured_fast.at_yardstick(0.02)  # the reference ran while the machine was half as fast
    assert (slow.unit.worker_cpu_s, slow.unit.parent_cpu_s) == pytest.approx((2e-3, 4e-3))
    assert slow.stop_delay_s == 0.05  # a timer, not CPU
    assert measured_fast.at_yardstick(None) is measured_fast and FREE.at_yardstick(0.02) is FREE


def test_generation_on_the_workers_overlaps_the_previous_tasks_units():
    run = hand_run({"demo[0]": [0.4, 0.4]}, generate_s=0.2, tasks=("t1", "t2", "t3"))
    workload = workload_of(run)
    config = SimConfig("candidate-parallel", "process", 2, 1, TimeoutPolicy(100))
    costs = FREE.changed(prefetch=2)
    serial = simulate(workload, config, costs, Machine(2))
    pipelined = simulate(workload, config, costs, Machine(2), PIPELINED)
    # serial in the parent with a barrier, workers filled in list order (the first takes both items)
    assert serial.wall_s == pytest.approx(3 * (0.2 + 0.8))
    # on the workers, a window of 4 tasks, each job to the worker holding the fewest: generations
    # run two at a time, beside other tasks' units
    assert pipelined.wall_s < 0.7 * serial.wall_s
    assert pipelined.wall_s >= pipelined.ideal_wall_s - 1e-9
    assert pipelined.ideal_wall_s == pytest.approx((3 * 0.2 + 6 * 0.4) / 2)
    one_at_a_time = simulate(workload, replace(config, strategy="sequential", workers=1), costs, Machine(2),
                             PIPELINED)
    assert one_at_a_time.wall_s == pytest.approx(3 * (0.2 + 0.8))  # sequential: a window of one task


def test_pieces_are_joined_while_a_later_task_waits_and_the_last_task_keeps_its_taper():
    # 40 units of 10 ms per task; one worker's automatic plan: 7 items of 5, then 3, 1, 1 (perfkit/model/plan.py
    # tapered). Each work item — and each generation job — costs its worker 1 s.
    run = hand_run({"demo[0]": [0.01] * 40}, tasks=("t1", "t2"))
    config = SimConfig("candidate-parallel", "process", 1, None, TimeoutPolicy(100))
    costs = FREE.changed(item_worker_cpu_s=1.0)
    plain = simulate(workload_of(run), config, costs, Machine(2), PIPELINED)
    joined = simulate(workload_of(run), config, costs, Machine(2), RUNNER)
    assert RUNNER.join_taper and not PIPELINED.join_taper
    assert plain.work_items == 2 * 10
    # while t2 waits t1's pieces (5 units each, then 3, 1, 1) go out joined up to its
    # join_limit, 20 units (four of its largest, half the stage): 5 × 4, then 5, 5, 5, 3, 1, 1;
    # t2, the last task, keeps its taper
    assert joined.work_items == 2 + 10
    assert plain.wall_s == pytest.approx(80 * 0.01 + 2 * 1.0 + 20 * 1.0)
    assert joined.wall_s == pytest.approx(80 * 0.01 + 2 * 1.0 + 12 * 1.0)
    assert sorted(joined.units["candidate"]) == sorted(plain.units["candidate"])  # every unit once
    # under budgets the runner keeps the plan's items (which units a budget skips depends on them)
    budgeted = simulate(workload_of(run), replace(config, timeout=TimeoutPolicy(100, sample_budget_s=1e3)), costs,
                        Machine(2), RUNNER)
    assert budgeted.work_items == 20


def test_the_dask_scheduler_assigns_the_items_the_runner_hands_out_joined_not_the_planned_pieces():
    # the same two tasks as above on one Dask worker; the scheduler costs 1 s per item and
    # nothing else does: t1's pieces go out as two joined items (12 items, not 20), each
    # assigned by the one scheduler before its worker starts it
    run = hand_run({"demo[0]": [0.01] * 40}, tasks=("t1", "t2"))
    config = SimConfig("candidate-parallel", "dask", 1, None, TimeoutPolicy(100))
    dask = FREE.changed(backend="dask", scheduler_item_cpu_s=1.0)
    joined = simulate(workload_of(run), config, dask, Machine(2), RUNNER)
    plain = simulate(workload_of(run), config, dask, Machine(2), PIPELINED)
    assert (joined.work_items, plain.work_items) == (12, 20)
    # one worker holding one item at a time: each item's second of scheduling, then its units
    assert joined.wall_s == pytest.approx(12 * 1.0 + 80 * 0.01, rel=0.02)
    assert plain.wall_s == pytest.approx(20 * 1.0 + 80 * 0.01, rel=0.02)


def test_a_warm_pool_takes_start_up_out_of_the_runs_wall():
    run = hand_run({"demo[0]": [1.0, 1.0]})
    costs = FREE.changed(start_cold_s=0.5, start_per_worker_s=0.1, close_s=0.05)
    config = SimConfig("candidate-parallel", "process", 2, 1, TimeoutPolicy(100))
    cold = simulate(workload_of(run), config, costs, Machine(2))
    warm_forkserver = simulate(workload_of(run), config, costs, Machine(2), Execution(cold=False))
    pool = simulate(workload_of(run), config, costs, Machine(2), Execution(startup="compare"))
    assert cold.wall_s == pytest.approx(0.5 + 0.2 + 1.0 + 0.05)
    assert warm_forkserver.wall_s == pytest.approx(0.2 + 1.0 + 0.05)
    assert pool.wall_s == pytest.approx(1.0)


def test_dask_workers_spread_over_machines_and_one_scheduler_serialises_items():
    run = hand_run({"demo[0]": [0.01] * 64})
    dask = FREE.changed(backend="dask", scheduler_item_cpu_s=0.05, prefetch=2)
    config = SimConfig("candidate-parallel", "dask", 16, 1, TimeoutPolicy(100))
    apart = Machine(8, machines=2, parent_shares_cores=False)
    r = simulate(workload_of(run), config, dask, apart)
    assert r.wall_s == pytest.approx(64 * 0.05 + 0.01, rel=0.01)  # the scheduler hands out one item at a time
    assert r.units["worker"].nunique() <= 16


def test_an_opaque_solvers_sample_is_its_unit_of_work():
    run = hand_run({"demo[0]": [0.5, 0.5], "demo[1]": [0.25, 0.25], "test[0]": [0.25, 0.25]})
    # an opaque solver evaluates a whole sample at once: its outcomes share one start
    first = run.units.groupby(["split", "index"])["started"].transform("min")
    run.units["started"] = first
    workload = workload_of(run)
    assert workload.tasks[0].sample_level and workload.tasks[0].candidates == ("*",)
    assert workload.tasks[0].units[("demo", 0, "*")].cpu_s == pytest.approx(1.0)
    assert wall(run, "sample-parallel", 2)[0] == pytest.approx(1.0)


def test_an_opaque_solvers_timed_out_sample_is_predicted_as_its_declared_candidates_as_measured():
    # the runner records a timed-out whole sample as one timeout per declared candidate (7 here,
    # the test battery's shape); the simulator runs it as one unit and must count it the same way
    from perfkit.analysis.prediction.predict import model_check

    slow = {("t1", "demo[1]", i): "timeout" for i in range(7)}
    run = hand_run({"demo[0]": [0.05, 0.05], "demo[1]": [0.05] * 7, "test[0]": [0.05, 0.05]}, timeout_s=0.25,
                   statuses=slow)
    run.units["started"] = run.units.groupby(["split", "index"])["started"].transform("min")
    inline = FREE.changed(backend="inline", in_parent=True)
    row = model_check([run], workload_of(run), {"inline": inline}).iloc[0]
    assert (row["measured_timeouts"], row["predicted_timeouts"]) == (7, 7)
    result = simulate(workload_of(run), SimConfig("sequential", "inline", 1, None, TimeoutPolicy(0.25)), inline,
                      Machine(2))
    assert len(result.timeouts) == 1 and result.timed_out == 7  # one unit of work, 7 outcomes


def test_each_tasks_generation_is_read_from_the_run_when_recorded():
    run = hand_run({"demo[0]": [1.0]}, generate_s=0.5, tasks=("t1", "t2"))
    recorded = replace(run.summary, generation=[["t1", 10.0, 10.2], ["t2", 20.0, 20.8]])
    run.summary = recorded
    assert [t.generate_s for t in workload_of(run).tasks] == pytest.approx([0.2, 0.8])


def test_predict_says_how_far_sharing_the_cores_stretches_units_past_their_timeout():
    from perfkit.analysis.prediction.predict import predict_one

    # 4 processes on 2 cores: each 40 ms unit stretches 2× to 80 ms, past its 60 ms timeout
    run = hand_run({f"demo[{i}]": [0.04] * 2 for i in range(4)}, timeout_s=0.06)
    config = SimConfig("sample-parallel", "process", 4, timeout=TimeoutPolicy(0.06))
    p = predict_one(workload_of(run), config, FREE.changed(stop_delay_s=0.05, replace_s=0.02), Machine(2),
                    cooperative=False)
    assert p.new_timeouts == 8
    assert "4 workers share 2 cores, so each unit's wall stretches ~2.0× to ~80 ms, past its 60 ms timeout" in p.why
    assert "+ 50 ms until the backend stops it; its worker is killed and replaced (20 ms)" in p.why


def test_threads_whose_mean_wall_is_past_the_timeout_are_said_to_be_past_it():
    from perfkit.analysis.prediction.predict import predict_one

    # four threads on the GIL: 20 ms units stretch 4× to 80 ms, past their 60 ms timeout
    run = hand_run({f"demo[{i}]": [0.02] for i in range(4)}, timeout_s=0.06)
    config = SimConfig("sample-parallel", "thread", 4, timeout=TimeoutPolicy(0.06))
    p = predict_one(workload_of(run), config, THREADS, Machine(2), cooperative=True)
    assert p.new_timeouts == 4
    assert "stretch each unit's wall ~4.0× to ~80 ms on average, past its 60 ms timeout" in p.why
    assert "and then stops itself" in p.why


def test_a_dask_why_names_too_few_items_before_a_scheduler_that_takes_a_third_of_the_wall():
    # 8 items of 1 s on 16 Dask workers: 8 of them idle for want of items; the scheduler's
    # 8 × 0.05 s is under a third of the wall (the last item starts at 0.4 s and ends at 1.4 s)
    from perfkit.analysis.prediction.predict import explain, wall_parts

    run = hand_run({"demo[0]": [1.0] * 8})
    dask = FREE.changed(backend="dask", scheduler_item_cpu_s=0.05)
    config = SimConfig("candidate-parallel", "dask", 16, 1, TimeoutPolicy(100))
    machine = Machine(16, parent_shares_cores=False)
    result = simulate(workload_of(run), config, dask, machine)
    assert 0.25 * result.wall_s < 8 * 0.05 < 0.5 * result.wall_s
    why = explain(wall_parts(result), result, dask, machine, workload_of(run), 0)
    assert "only 8 work items per stage for 16 workers" in why and "scheduler" not in why
    crowded = FREE.changed(backend="dask", scheduler_item_cpu_s=0.2)  # now most of the wall
    result = simulate(workload_of(run), config, crowded, machine)
    assert "the scheduler hands out one work item at a time" in explain(wall_parts(result), result, crowded, machine,
                                                                         workload_of(run), 0)


def test_a_dask_assignment_to_a_killed_worker_is_void_and_its_item_assigned_again():
    # one worker holding two items: c0 hangs and is killed at 1.55 s; c1, handed out behind it,
    # was still being assigned (1 to 2 s). Queued again, c1 waits for a second assignment (2 to
    # 3 s) on the replacement: the first one, to the dead worker, does not let it start at 2 s
    run = hand_run({"demo[0]": [10.0, 0.1]})
    dask = FREE.changed(backend="dask", scheduler_item_cpu_s=1.0, prefetch=2, stop_delay_s=0.05, replace_s=0.0)
    config = SimConfig("candidate-parallel", "dask", 1, 1, TimeoutPolicy(0.5))
    r = simulate(workload_of(run), config, dask, Machine(2), RUNNER)
    by = r.units.set_index("candidate")
    assert by.loc["c0", "status"] == "timeout" and by.loc["c0", "ended"] == pytest.approx(1.55)
    assert by.loc["c1", "started"] == pytest.approx(3.0) and by.loc["c1", "worker"] != by.loc["c0", "worker"]


@pytest.mark.slow  # four real runs, two on process pools
def test_predict_hands_out_as_many_work_items_as_the_runner_on_a_run_of_several_tasks(tmp_path):
    """The simulator replays the runner's joining (perfkit/model/plan.py taper_joins, join_limit):
    on three tasks of 180 units, a real process run and its prediction from the sequential
    reference count the same work items — automatic chunks (joined for the first two tasks)
    and a user's chunk of 4 units (never joined: "units per work item")."""
    from perfkit import load_run, runner
    from perfkit.analysis.prediction.model import RUNNER
    from perfkit.model import RunConfig

    reference = RunConfig(solver="synthetic", tasks="synthetic:3x2+1", strategy="sequential", backend="inline",
                          workers=1, timeout=TimeoutPolicy(5.0), solver_options={"candidates": 60, "cpu_ms": 0})
    workload = workload_of(load_run(runner.run(reference, tmp_path).path))
    for chunk in (None, 4):
        config = replace(reference, strategy="candidate-parallel", backend="process", workers=2, chunk_size=chunk)
        measured = load_run(runner.run(config, tmp_path).path).summary.items_handed_out_this_session
        predicted = simulate(workload, SimConfig("candidate-parallel", "process", 2, chunk, TimeoutPolicy(5.0)),
                             FREE, Machine(2), RUNNER).work_items
        assert predicted == measured, chunk
        if chunk:  # the user's chunk is kept: 45 items of 4 units in each task
            assert measured == 3 * 180 // chunk
    # inline with 2 workers: one slot, but the plan is cut for the 2 workers the run was given
    inline = replace(reference, strategy="candidate-parallel", workers=2)
    measured = load_run(runner.run(inline, tmp_path).path).summary.items_handed_out_this_session
    predicted = simulate(workload, SimConfig("candidate-parallel", "inline", 2, None, TimeoutPolicy(5.0)),
                         DEFAULT_COSTS["inline"], Machine(2), RUNNER).work_items
    assert predicted == measured
