"""The Dask backend on clusters it does not start itself, with real kills (session 11's review):
a worker that keeps its address across restarts, a worker with two threads, what a run leaves on
a cluster that outlives it, and a Generation job queued behind units killed at their timeout.

Each cluster is shared by the tests of this module (built once; one xdist worker runs the
``dask`` group). The workers of an existing cluster must be restarted however slowly a loaded
machine starts them: ``distributed.deploy.lost-worker-timeout`` is raised for the cluster's life
(tests/test_dask_backend.py, ``existing_cluster``)."""

from __future__ import annotations

import logging
import socket
import time

import distributed
import pytest
from builders import make_task

from perfkit import runner
from perfkit.backends import dask as dask_backend
from perfkit.model import RunConfig, TimeoutPolicy
from perfkit.store import load_run

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dask")]

KEY = ["task_id", "split", "index", "candidate"]
TIMEOUT_S = 0.3


def _cluster(**options):
    import dask

    with dask.config.set({"distributed.deploy.lost-worker-timeout": "1h"}):
        cluster = dask_backend.local_cluster(silence_logs=logging.ERROR, **options)
        try:
            yield cluster
        finally:
            cluster.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def fixed_address_cluster():
    """One worker whose replacement listens on the same port (``dask worker --worker-port``): a
    worker killed at a unit's timeout comes back under the same address."""
    yield from _cluster(n_workers=1, threads_per_worker=1, worker_port=_free_port())


@pytest.fixture(scope="module")
def two_thread_cluster():
    """One worker process running two tasks at a time (``dask worker`` defaults to a thread
    per core)."""
    yield from _cluster(n_workers=1, threads_per_worker=2)


def _run(tmp_path, strategy: str, faults: str, tasks, workers: int = 1, candidates: int = 8, **config):
    cfg = RunConfig(solver="synthetic", tasks="hand-made", strategy=strategy, backend="dask", workers=workers,
                    timeout=TimeoutPolicy(TIMEOUT_S),
                    solver_options={"candidates": candidates, "cpu_ms": 5, "faults": faults}, **config)
    return load_run(runner.run(cfg, store_dir=tmp_path, tasks=tasks).path)


def _once_from_first_attempt(run, n: int, timeouts: set) -> None:
    """Every unit once; the ``timeouts`` (candidate, split, index) timed out, the rest ok; every
    unit from its first attempt (no worker died after a unit it ran) and none run again."""
    u = run.units
    assert len(u) == n and not u.duplicated(KEY).any(), u[KEY + ["status", "attempt"]]
    assert run.summary.duplicates_dropped == 0 and run.meta["state"] == "complete"
    timed_out = {(r.candidate, r.split, r.index) for r in u.itertuples() if r.status == "timeout"}
    assert timed_out == timeouts and (u[u.status != "timeout"].status == "ok").all()
    assert (u.attempt == 1).all(), u[u.attempt > 1][KEY + ["status", "attempt"]]
    assert run.summary.resources["units_run_again"] == 0


@pytest.mark.timeout(180)  # before the fix: killed every ~1.4 s, for ever
def test_a_worker_that_keeps_its_address_across_kills_is_read_afresh_each_time(
        tmp_path, fixed_address_cluster, monkeypatch):
    """Two units time out, in turn, on the one worker of a cluster whose replacement keeps the
    dead worker's address. Before: the parent kept the first death's progress record by address
    and used it again at the second death, so the item it had lost looked "never started" there
    and was submitted again unchanged — its hung unit included: a kill every ~1.4 s, for ever."""
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", fixed_address_cluster.scheduler_address)
    tasks = [make_task("t1", n_demo=2, n_test=0, seed=3)]
    run = _run(tmp_path, "sequential", "hang_c:c002@demo[0]; hang_c:c005@demo[1]", tasks)
    _once_from_first_attempt(run, 16, {("c002", "demo", 0), ("c005", "demo", 1)})
    deaths = run.summary.resources["deaths"]
    assert [d["reason"] for d in deaths] == ["killed at a unit's deadline"] * 2
    assert len({d["worker"] for d in deaths}) == 1  # the test's premise: one address, two deaths


@pytest.mark.timeout(180)
def test_a_worker_with_two_threads_runs_each_unit_once(tmp_path, two_thread_cluster, monkeypatch):
    """Two work items at a time in one worker process. Before: both shared the process's one
    progress record and recorder, each item published the other's rows, and items "finished
    but their results were lost" were run again (units as attempt 2, 3 and 4; 50 s instead of
    0.8 s for 128 units), a hang not killed while the other item moved its record on."""
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", two_thread_cluster.scheduler_address)
    tasks = [make_task("t1", seed=1), make_task("t2", seed=2)]
    run = _run(tmp_path, "candidate-parallel", "hang_c:c009@t1/demo[1]", tasks, workers=2, candidates=16,
               chunk_size=4)
    _once_from_first_attempt(run, 128, {("c009", "demo", 1)})


def test_a_run_leaves_nothing_behind_on_a_cluster_it_did_not_start(tmp_path, fixed_address_cluster, monkeypatch):
    """After a run with a kill on an existing cluster: no watchdog thread or progress record of
    the run in the workers, and none of its published rows kept by the scheduler. Before: each
    run left a watchdog thread and its state in every worker, and up to 1 000 events of pickled
    rows per run (``distributed.admin.low-level-log-length``) in the scheduler, for the life of
    the cluster."""
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", fixed_address_cluster.scheduler_address)
    tokens = []
    start = dask_backend.DaskBackend.start

    def spy(self, *args, **kwargs):
        start(self, *args, **kwargs)
        tokens.append(self.run_token)

    monkeypatch.setattr(dask_backend.DaskBackend, "start", spy)
    tasks = [make_task("t1", n_demo=2, n_test=0, seed=3)]
    run = _run(tmp_path, "sequential", "hang_c:c005@demo[1]", tasks)
    assert run.meta["state"] == "complete" and len(tokens) == 1
    topic = dask_backend._topic(tokens[0])

    def kept(dask_scheduler=None, topic=topic):
        return len(dask_scheduler.get_events(topic)) if topic in dask_scheduler._broker._topics else 0

    def left(token=tokens[0]):
        import threading

        from perfkit.backends import dask as backend
        return token in backend._STATE, sum(t.name.startswith("perfkit-watchdog") for t in threading.enumerate())

    with distributed.Client(fixed_address_cluster.scheduler_address, timeout="10s") as client:
        client.wait_for_workers(1, timeout=30)
        assert client.run_on_scheduler(kept) == 0
        deadline = time.monotonic() + 10  # a watchdog told to stop ends on its own thread's next turn
        while set(client.run(left).values()) != {(False, 0)} and time.monotonic() < deadline:
            time.sleep(0.1)
        assert set(client.run(left).values()) == {(False, 0)}


@pytest.mark.timeout(180)
def test_a_generation_job_queued_behind_killed_units_is_not_charged(tmp_path, monkeypatch):
    """One worker; the units of tasks t2..t4 hang past their timeout, so the candidates() of
    the task after each waits behind a unit that is killed (a KilledWorker for both jobs). The
    Generation job runs again with the same attempt each time (not charged: its worker died in a
    work item), and the run completes. Before session 10: an attempt per kill, and three kills
    stopped an arc-dsl run ("the solver's candidates() killed its worker 3 times")."""
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    requeued = []
    done = dask_backend.DaskBackend._generation_done

    def spy(self, item_id):
        events = done(self, item_id)
        requeued.extend(job for e in events for job in getattr(e, "jobs", ()))
        return events

    monkeypatch.setattr(dask_backend.DaskBackend, "_generation_done", spy)
    tasks = [make_task(f"t{i}", n_demo=2, n_test=0, seed=i) for i in range(1, 5)]
    # two kills per task, six in all: past the three attempts that stopped arc-dsl
    hangs = "; ".join(f"hang_c:c00{c}@t{t}/demo[0]" for t in (2, 3, 4) for c in (1, 5))
    run = _run(tmp_path, "candidate-parallel", hangs, tasks, chunk_size=2)
    u = run.units
    assert len(u) == 64 and not u.duplicated(KEY).any() and run.meta["state"] == "complete"
    assert (u.status == "timeout").sum() == 6 and (u.attempt == 1).all()
    assert requeued, "no Generation job was queued behind a killed unit: the test proves nothing"
    assert all(job.attempt == 1 for job in requeued), requeued


@pytest.mark.timeout(180)
def test_items_waiting_behind_a_generation_job_that_kills_its_worker_keep_their_attempt(tmp_path, monkeypatch):
    """One worker: task t2's candidates() ends the worker process while a work item of t1 waits
    behind it on that worker. The item never started there: it runs again as attempt 1. Before:
    the worker had run only Generation jobs, so it had no progress record; its lost item counted
    as tried, and its units ran again as attempt 2 ("units run again")."""
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    lost = []
    account = dask_backend.DaskBackend._lost

    def spy(self, p, dead):
        lost.append(p.a.item.task_id)
        return account(self, p, dead)

    monkeypatch.setattr(dask_backend.DaskBackend, "_lost", spy)
    cfg = RunConfig(solver="plugins.faulty_solvers:CandidatesDieOnce", tasks="hand-made",
                    strategy="candidate-parallel", backend="dask", workers=1, chunk_size=2,
                    timeout=TimeoutPolicy(5.0), solver_options={"n": 8, "task": "t2", "flag": str(tmp_path / "died"),
                                                                "die_after_s": 1.0})
    tasks = [make_task("t1", seed=1), make_task("t2", seed=2)]
    run = load_run(runner.run(cfg, store_dir=tmp_path / "runs", tasks=tasks).path)
    u = run.units
    assert len(u) == 64 and not u.duplicated(KEY).any() and run.meta["state"] == "complete"
    assert (u.status == "ok").all() and (u.attempt == 1).all(), u[u.attempt > 1][KEY + ["attempt"]]
    assert "t1" in lost, "no item of t1 waited behind the dying candidates(): the test proves nothing"
    res = run.summary.resources
    assert res["units_run_again"] == 0 and len(res["deaths"]) == 1


def test_each_run_on_a_cluster_that_outlives_it_gets_a_fresh_solver(tmp_path, fixed_address_cluster, monkeypatch):
    """Two runs with one solver reference on an existing cluster, the second on other grids: a
    solver instance keeps state between the units it evaluates (the ``stale`` quirk answers
    from the first sample it saw), and the second run must start from a fresh instance, as on
    every backend (perfkit/backends/base.py). Before: the workers kept the solver built for the
    first run and answered the second run's units from its grids."""
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", fixed_address_cluster.scheduler_address)

    def run(backend: str, seed: int, store):
        cfg = RunConfig(solver="synthetic", tasks="hand-made", strategy="sequential", backend=backend, workers=1,
                        timeout=TimeoutPolicy(5.0), solver_options={"candidates": 4, "cpu_ms": 1, "faults": "stale:c001"})
        tasks = [make_task("t1", n_demo=2, n_test=0, seed=seed)]
        return load_run(runner.run(cfg, store_dir=store, tasks=tasks).path).units.set_index(KEY)["output_hash"]

    run("dask", 1, tmp_path / "first")
    second = run("dask", 2, tmp_path / "second")
    fresh = run("inline", 2, tmp_path / "fresh")
    assert second.sort_index().equals(fresh.sort_index())
