"""The carried-state finding: units whose CPU depends on what ran before them on their worker
(markdown-it's d0066, 2.2 ms under sequential and 7.6–9.5 ms in every process run, docs/benchmarks.md
"Session 13"), named in both directions, and never units that the machine, not the solver, moved."""

from __future__ import annotations

import pytest
from builders import clean_parallel, reference_run, timed_out

from perfkit.analysis.comparison import analyse


def _unit(df, split: str, index: int, candidate: str):
    return df["split"].eq(split) & df["index"].eq(index) & df["candidate"].eq(candidate)


def _dearer(cpu_s: float, unit=("demo", 3, "c005")):
    """An edit of a built run: ``unit`` took ``cpu_s`` of CPU at full speed."""
    def edit(df):
        df.loc[_unit(df, *unit), ["cpu_s", "wall_s"]] = cpu_s
        return df
    return edit


def _scaled(factor: float):
    """An edit of a built run: every unit took ``factor`` × its CPU and wall."""
    def edit(df):
        df[["cpu_s", "wall_s"]] *= factor
        return df
    return edit


def _carried(runs) -> list:
    return [f for f in analyse(runs).findings if f.rule == "carried-state"]


REFS = [reference_run(repeat=0), reference_run(repeat=1)]


@pytest.mark.slow
def test_a_unit_dearer_in_every_run_of_a_group_is_named_with_what_ran_before_it():
    # 100 ms units; demo[3] c005 took 300 ms in one run and was stopped at its 1 s limit, at full
    # speed, in the other: it ran after other units on its worker than under sequential
    def stopped(df):
        return timed_out(df, _unit(df, "demo", 3, "c005"), 1.0, 1.0)

    c = analyse(REFS + [clean_parallel(repeat=0, edit=_dearer(0.3)), clean_parallel(repeat=1, edit=stopped)])
    (found,) = [f for f in c.findings if f.rule == "carried-state"]
    (lost,) = [f for f in c.findings if f.rule == "new-timeouts"]  # the finding of its lost answer says why
    assert lost.sentence.endswith("slow at full speed, not starved (timing, not contention); it took more CPU than "
                                  "under sequential in every run of the group (carried-state finding)."), lost.sentence
    assert found.sentence.startswith(
        "1 unit took 3.00–10.00× its CPU under sequential in every run of candidate-parallel/process×2, beyond what "
        "moved the other units of those runs: c005 on demo[3]."), found.sentence
    assert "made it dearer there" in found.sentence and "it timed out there and never under sequential" \
        in found.sentence
    assert found.evidence[0].startswith("c005 demo[3]: under candidate-parallel/process×2 300 ms, 1.00 s of CPU "
                                        "(1 timed out), after 13 units on its worker; under sequential 100 ms, "
                                        "after 29 units in its process"), found.evidence
    assert "all units of each run took 1.00×, 1.00× their CPU" in found.evidence[1]


@pytest.mark.slow
def test_a_unit_cheaper_in_every_run_is_named_as_made_cheaper_by_what_ran_before_it():
    parallel = [clean_parallel(repeat=r, edit=_dearer(cpu, ("test", 0, "c003"))) for r, cpu in ((0, 0.02), (1, 0.03))]
    (found,) = _carried(REFS + parallel)
    assert found.sentence.startswith("1 unit took 0.20–0.30× its CPU under sequential in every run of "
                                     "candidate-parallel/process×2"), found.sentence
    assert "c003 on test[0]" in found.sentence and "did part of its work there" in found.sentence


@pytest.mark.slow
@pytest.mark.parametrize("case", ["every unit dearer alike", "the same unit in one repeat only", "a single repeat",
                                  "a tiny unit", "a unit a little dearer in every repeat"])
def test_units_the_machine_moved_are_not_called_solver_state(case):
    # two busy cores sharing memory bandwidth, or a loaded machine, slow every unit of a run (here
    # 1.6×, each unit of it); a burst of other work hits one repeat; one run cannot tell the two
    # apart; 100 µs units move by less than a millisecond with the harness around them; and a
    # unit paired in every repeat with a memory-hungry one took 1.4× at most
    runs = {
        "every unit dearer alike": [clean_parallel(repeat=r, edit=_scaled(1.6)) for r in (0, 1)],
        "the same unit in one repeat only": [clean_parallel(repeat=0, edit=_dearer(0.3)), clean_parallel(repeat=1)],
        "a single repeat": [clean_parallel(repeat=0, edit=_dearer(0.3))],
        "a tiny unit": [clean_parallel(repeat=r, edit=lambda df: _dearer(0.0003)(_scaled(0.001)(df))) for r in (0, 1)],
        "a unit a little dearer in every repeat": [clean_parallel(repeat=r, edit=_dearer(0.14)) for r in (0, 1)],
    }[case]
    refs = [reference_run(cpu=0.0001, repeat=r) for r in (0, 1)] if case == "a tiny unit" else REFS
    assert _carried(refs + runs) == []


def _moved_to(worker: str, unit=("demo", 3, "c005")):
    """An edit of a built run: ``unit`` ran alone on ``worker`` (one started during the run)."""
    def edit(df):
        df.loc[_unit(df, *unit), "worker"] = worker
        return df
    return edit


@pytest.mark.slow
def test_a_unit_dearer_as_the_first_on_a_fresh_worker_is_said_to_have_had_nothing_before_it():
    # review13, networkx: random_sequential on colour/demo[2] took 12 ms as the first unit of the
    # worker started after independent_set's kill, 1.6 ms under sequential (it rebuilt the sample's
    # graph), and the finding said state carried between units made it dearer
    fresh = [clean_parallel(repeat=r, edit=lambda df: _moved_to("w9")(_dearer(0.3)(df))) for r in (0, 1)]
    (found,) = _carried(REFS + fresh)
    assert ("what differed is what ran before it on its worker: nothing did (it was the first unit on a worker just "
            "started, or started again after a kill, in every run), where under sequential units before it built "
            "what the solver keeps between units") in found.sentence, found.sentence
    assert "made it dearer" not in found.sentence and "cold start's cost" in found.sentence
    assert "300 ms, 300 ms of CPU, the first unit on its worker; under sequential" in found.evidence[0], found.evidence


@pytest.mark.slow
@pytest.mark.parametrize("pool_runs", [None, 1, 2])
def test_the_first_unit_of_a_run_on_a_warm_pools_worker_is_not_said_to_have_had_nothing_before_it(pool_runs):
    # perfkit compare keeps its process pool warm: a run's first unit on a worker of the pool ran
    # after the run before it there; a pool the run started (pool_runs 1) had run nothing
    summary = {} if pool_runs is None else {"resources": {"pool_runs": pool_runs}}
    first = ("demo", 0, "c000")  # the first unit of w0
    runs = [clean_parallel(repeat=r, edit=_dearer(0.3, first), summary=summary) for r in (0, 1)]
    (found,) = _carried(REFS + runs)
    if pool_runs == 1:
        assert "nothing did" in found.sentence and "the first unit on its worker;" in found.evidence[0]
    else:
        assert "nothing did" not in found.sentence and "made it dearer there." in found.sentence, found.sentence
        assert "the first unit on its worker in the run;" in found.evidence[0], found.evidence


@pytest.mark.slow
@pytest.mark.parametrize("beside", [True, False])
def test_a_thread_units_cost_beside_a_given_up_thread_is_not_what_ran_before_it(beside):
    # arc-dsl (session 13): units 2–400× dearer in every thread run ran beside threads given up at
    # their timeouts, whose heaps the garbage collector walked from the units' own threads
    # (6aa20dc0: 25 ms of its thread's CPU alone, 80 ms beside 91413438, 16 ms with gc off);
    # the finding said "what ran before them on their worker"
    def edit(df):
        df = _dearer(0.3)(df)
        gone = _unit(df, "demo", 0, "c000")
        timed_out(df, gone, 1.0, 0.2)
        start = float(df.loc[_unit(df, "demo", 3, "c005"), "started"].iloc[0])
        # given up at its 1 s deadline, its thread ran on past that unit's start, or ended before it
        df.loc[gone, ["leaked", "leaked_s", "started"]] = [True, 5.0 if beside else 0.01, start - 1.5 if beside else 0.0]
        return df

    # one worker: its units ran beside no other unit's thread, only beside the given-up one
    runs = REFS + [clean_parallel(backend="thread", workers=1, repeat=r, edit=edit) for r in (0, 1)]
    found = [f for f in _carried(runs) if f.sentence.startswith("1 unit took 3.00×")]
    assert (found == []) is beside, [f.sentence for f in _carried(runs)]


@pytest.mark.slow  # over half a second (session 14: the quick subset's time)
def test_a_unit_dearer_on_threads_of_several_workers_is_not_said_to_carry_state():
    # markdown-it at 6 ms on thread ×2 (session 13): 12 units 1.5–2.0× their sequential CPU in
    # both runs, each beside the other thread's units overrunning their timeout: the interpreter's
    # one collector walks what every thread allocated, and the threads take turns at the GIL —
    # what ran beside a unit, which the finding called "what ran before them on their worker"
    dearer = [clean_parallel(backend=backend, workers=workers, repeat=r, edit=_dearer(0.3))
              for backend, workers in (("thread", 2), ("process", 2)) for r in (0, 1)]
    sentences = [f.sentence for f in _carried(REFS + dearer)]
    assert len(sentences) == 1 and "candidate-parallel/process×2" in sentences[0], sentences
    assert "thread" not in sentences[0], sentences


@pytest.mark.slow
def test_thread_units_dearer_beside_given_up_threads_are_not_blamed_on_module_state():
    # arc-dsl (session 13): "a solver that keeps state in its process ... the slowdown is partly
    # that state's" for thread runs 1.5× the sequential unit CPU, all of it beside given-up threads
    scale = {"calibration_cpu_s": 0.006}

    def edit(df):
        df[["cpu_s", "wall_s"]] *= 2.0
        gone = _unit(df, "demo", 0, "c000")
        timed_out(df, gone, 1.0, 0.2)
        df.loc[gone, ["leaked", "leaked_s"]] = [True, 9.0]
        return df

    runs = [reference_run(summary=scale), clean_parallel(backend="thread", summary=scale, edit=edit)]
    (cold,) = [f for f in analyse(runs).findings if f.rule == "cold-state"]
    assert "Threads the thread backend gave up at their timeouts ran on beside them" in cold.sentence, cold.sentence
    assert "module-level state" not in cold.sentence
    assert "of its units ran beside a given-up thread" in cold.evidence[0], cold.evidence


def _slower(factor: float, rows: slice, worker=None):
    """An edit of a built run: the units at ``rows`` of its start order (of ``worker``'s, when
    given) took ``factor`` × their CPU and wall: a worker, or the machine, slower for a stretch."""
    def edit(df):
        order = df[df["worker"].eq(worker)] if worker else df
        picked = order.sort_values("started").index[rows]
        df.loc[picked, ["cpu_s", "wall_s"]] *= factor
        return df
    return edit


@pytest.mark.slow
def test_units_of_a_worker_slower_for_a_stretch_of_every_run_are_not_said_to_carry_state():
    # markdown-it, candidate-parallel/process×2 (session 13's closing note): 4 units 1.5–1.9× their
    # sequential CPU in both runs, named as carried state. Every unit of their worker ran 1.4–1.9×
    # for that stretch (the whole run r0, its first 0.4 s in r1), the other worker's 1.0×, and the
    # strategy put the same units on the same worker at the same point of both runs
    worker = clean_parallel().units.sort_values("started")["worker"].iloc[0]
    runs = [clean_parallel(repeat=r, edit=_slower(2.0, slice(0, 12), worker)) for r in (0, 1)]
    assert _carried(REFS + runs) == []


@pytest.mark.slow
def test_units_a_reference_ran_slower_for_a_stretch_are_not_said_to_carry_state():
    # markdown-it: d0090 on demo[2] took 0.55× its sequential CPU in both runs; both sequential runs
    # ran it and its neighbours 1.3–1.8× slower per character than the rest of the run
    refs = [reference_run(repeat=r, edit=_slower(1.8, slice(9, 21))) for r in (0, 1)]
    assert _carried(refs + [clean_parallel(repeat=r) for r in (0, 1)]) == []


@pytest.mark.slow
@pytest.mark.parametrize("stopped_cpu_s", [1.0, 0.1])
def test_a_unit_cheaper_than_a_reference_that_ran_it_after_a_long_unit_that_raised_is_said_so(stopped_cpu_s):
    # arc-dsl (session 13): 14 units 0.28–0.80× their sequential CPU in every group, said to have
    # found "a cache filled"; every sequential run had run each of them soon after 91413438, stopped
    # at 1.7 s (215 MB resident): that process gave the memory back inside the units after it
    def edit(df):
        timed_out(df, _unit(df, "demo", 3, "c004"), 1.0, stopped_cpu_s)
        return _dearer(0.3)(df)

    refs = [reference_run(repeat=r, edit=edit) for r in (0, 1)]
    (found,) = _carried(refs + [clean_parallel(repeat=r) for r in (0, 1)])
    assert found.sentence.startswith("1 unit took 0.33× its CPU under sequential in every run of "
                                     "candidate-parallel/process×2"), found.sentence
    if stopped_cpu_s == 1.0:
        assert ("In every sequential run it ran soon after a longer unit that ended by an exception (stopped at its "
                "timeout, or raised) in the same process: t1/demo[3] c004.") in found.sentence, found.sentence
        assert "the sequential reference's cost is what differs, not state the workers carried" in found.sentence
        assert "under sequential 300 ms, right after t1/demo[3] c004 (1.00 s, timed out)" in found.evidence[0]
    else:  # 100 ms of CPU cannot have left the 200 ms it saved here
        assert "a cache it found filled" in found.sentence and "exception" not in found.sentence, found.sentence


@pytest.mark.slow
def test_a_nondeterministic_candidates_units_are_not_called_solver_state():
    # python-constraint2's min_conflicts draws unseeded random numbers: 30 ms when it gives up,
    # ~1 ms when it finds an answer; its units stood out in both repeats by chance and were
    # named as state carried between units. c005 answers differently in the two sequential runs
    # here, so what its units cost under a strategy says nothing of what ran before them
    def other_answer(df):  # on another sample than the one that stands out: the code draws everywhere
        df.loc[_unit(df, "demo", 0, "c005"), "output_hash"] = "drawn-again"
        return df

    dearer = [clean_parallel(repeat=r, edit=_dearer(0.3)) for r in (0, 1)]
    assert _carried(REFS + dearer)  # the same units with a deterministic c005: named
    assert not _carried([reference_run(repeat=0), reference_run(repeat=1, edit=other_answer)] + dearer)


@pytest.mark.slow
def test_a_unit_that_keeps_its_wall_and_gets_less_cpu_in_it_is_not_said_to_carry_state():
    # a new user's slow_one spins until 0.3 s of wall have passed: on a shared core it gets less
    # CPU in the same wall, 0.36–0.62× its sequential CPU in every run of a loaded compare, and
    # was named "cheaper … state the solver carries" (or, next time, "after an exception"). Its
    # wall did not fall with its CPU: no work was saved
    def starved(share: float):
        def edit(df):
            df.loc[_unit(df, "test", 0, "c003"), "cpu_s"] = 0.1 * share  # its 100 ms of wall kept
            return df
        return edit

    def saved(df):  # the same CPU, and the wall fell with it: work was saved
        df.loc[_unit(df, "test", 0, "c003"), ["cpu_s", "wall_s"]] = 0.04
        return df

    assert not _carried(REFS + [clean_parallel(repeat=r, edit=starved(s)) for r, s in ((0, 0.4), (1, 0.6))])
    (found,) = _carried(REFS + [clean_parallel(repeat=r, edit=saved) for r in (0, 1)])
    assert "c003 on test[0]" in found.sentence


@pytest.mark.slow
def test_a_unit_on_several_cores_under_sequential_is_not_said_to_carry_state():
    # python-constraint2's parallel_threads and parallel_processes computed on 2 cores each under
    # sequential (the whole machine theirs) and took 0.71–0.77× that CPU beside another worker:
    # what a wide unit uses follows the cores free beside it, not what ran before it
    def wide(df):  # 100 ms of wall on two cores
        df.loc[_unit(df, "test", 0, "c003"), "cpu_s"] = 0.2
        return df

    def narrower(df):  # 40 ms of wall here, on fewer cores
        df.loc[_unit(df, "test", 0, "c003"), ["cpu_s", "wall_s"]] = [0.14, 0.04]
        return df

    parallel = [clean_parallel(repeat=r, edit=narrower) for r in (0, 1)]
    assert not _carried([reference_run(repeat=r, edit=wide) for r in (0, 1)] + parallel)
    # the same CPU on one core under sequential (200 ms of wall): named
    assert _carried([reference_run(repeat=r, edit=_dearer(0.2, ("test", 0, "c003"))) for r in (0, 1)] + parallel)


@pytest.mark.slow  # analyse with every finding: > 0.2 s
def test_a_unit_made_cheaper_by_state_on_the_thread_backend_is_still_named():
    # review17: _ended_sooner compared a unit's wall with its sequential CPU; on the thread
    # backend two threads share the GIL, every wall is ~2x its CPU, and a unit made half as dear
    # by state was hidden: the wall is now taken over the run's own wall per CPU
    def gil_shared(df):  # two threads take turns on the GIL: each unit's wall is twice its CPU
        df["wall_s"] = 2 * df["cpu_s"]
        m = df["split"].eq("test") & df["index"].eq(0) & df["candidate"].eq("c003")
        df.loc[m, ["cpu_s", "wall_s"]] = [0.05, 0.10]  # 0.5x its sequential CPU: state saved work
        return df

    runs = [clean_parallel(backend="thread", repeat=r, edit=gil_shared) for r in (0, 1)]
    found = [f for f in analyse(REFS + runs).findings if f.rule == "carried-state"]
    assert found and "c003 on test[0]" in found[0].sentence, [f.sentence for f in found]
