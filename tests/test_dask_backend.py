"""The Dask backend on real LocalClusters of 2 worker processes, driven by the real runner.

Invariants 1-4 of docs/design.md under errors, hangs (Python and C) and worker deaths (SIGKILL and
os._exit); answers identical to a sequential inline run; Dask worker addresses as worker ids;
the existing-cluster path (DASK_SCHEDULER_ADDRESS) leaves the cluster running.
"""

from __future__ import annotations

import logging
import time

import distributed  # noqa: E402  a dependency of perfkit: never skipped
import pytest

from perfkit import runner
from perfkit.backends import dask as dask_backend
from perfkit.model import RunConfig, TimeoutPolicy
from perfkit.store import load_run

#: One xdist worker runs this file: its cluster fixture is built once (tests/conftest.py).
pytestmark = [pytest.mark.slow, pytest.mark.longest, pytest.mark.xdist_group("dask")]

KEY = ["task_id", "split", "index", "candidate"]
FAULTS = "raise:c003@demo[1]; hang_py:c005@demo[2]; hang_c:c007@test[0]; kill:c006@demo[0]; exit:c004@demo[1]"
#: The faults of one task only: fewer worker restarts for the strategy sweep.
LIGHT_FAULTS = "raise:c003@demo[1]; hang_py:c005@t1/demo[2]; kill:c006@t1/demo[0]; exit:c004@t1/test[0]"
CANDIDATES = 8
#: The per-unit timeout, seconds: a unit recorded as a timeout ran at least this long.
TIMEOUT_S = 0.5


def _tasks():
    from builders import make_task
    return [make_task("t1", seed=1), make_task("t2", seed=2)]


def _config(strategy: str, backend: str, faults: str, workers: int = 2) -> RunConfig:
    return RunConfig(solver="synthetic", tasks="synthetic:2x3+1", strategy=strategy, backend=backend,
                     workers=workers, timeout=TimeoutPolicy(TIMEOUT_S),
                     solver_options={"candidates": CANDIDATES, "cpu_ms": 1, "faults": faults})


def _run(tmp_path, strategy: str, backend: str, faults: str, workers: int = 2):
    path = runner.run(_config(strategy, backend, faults, workers), store_dir=tmp_path, tasks=_tasks()).path
    return load_run(path)


def _expected_status(faults: str, task_id: str, split: str, index: int, cand: str) -> set[str]:
    """The statuses a unit may end with under ``faults`` (crashes may be retried once)."""
    from perfkit.solvers.synthetic import parse_faults
    kinds = {f.kind for f in parse_faults(faults) if f.hits(task_id, split, index, cand)}
    if kinds & {"kill", "exit"}:
        return {"crashed"}
    if kinds & {"hang_py", "hang_c"}:
        return {"timeout"}
    if "raise" in kinds:
        return {"error"}
    return {"ok"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Output hashes of a sequential inline run without faults (every unit ok)."""
    run = _run(tmp_path_factory.mktemp("ref"), "sequential", "inline", "", workers=1)
    assert (run.units.status == "ok").all()
    return run.units.set_index(KEY)["output_hash"]


@pytest.fixture(scope="module")
def existing_cluster():
    """One LocalCluster of 2 worker processes shared by the tests of the existing-cluster path.

    It stands for a long-lived cluster (``dask worker`` under a nanny keeps restarting its worker).
    A LocalCluster does not: when a worker it lost has not re-registered under its name within
    ``distributed.deploy.lost-worker-timeout`` (15 s), it closes that worker's nanny for good. A
    nanny restarting a SIGKILLed worker on a loaded machine, and a timer of an earlier death firing
    while the worker is dead again, both met that, and the run ended "no worker for 60 s"."""
    import dask

    with dask.config.set({"distributed.deploy.lost-worker-timeout": "1h"}):
        cluster = dask_backend.local_cluster(n_workers=2, threads_per_worker=1, silence_logs=logging.ERROR)
        try:
            yield cluster
        finally:
            cluster.close()


def _check(run, faults: str, reference, strategy: str) -> None:
    u = run.units
    # invariant 1: exactly one outcome per proposed unit
    assert not u.duplicated(KEY).any(), u[u.duplicated(KEY, keep=False)]
    assert len(u) == 2 * 4 * CANDIDATES
    assert set(map(tuple, u[KEY].itertuples(index=False))) == set(reference.index)
    assert run.summary.duplicates_dropped == 0
    # invariant 2: statuses tell the truth
    for row in u.itertuples(index=False):
        allowed = _expected_status(faults, row.task_id, row.split, row.index, row.candidate)
        assert row.status in allowed, (strategy, row)
        if row.status == "error":
            assert row.error_type == "InjectedError"
        if row.status == "crashed":
            assert row.attempt in (1, 2) and row.error_type in ("WorkerDied", "WorkerLost")
        if row.status == "timeout":
            assert row.wall_s >= TIMEOUT_S
    # invariant 3: ok outcomes agree with the sequential run
    ok = u[u.status == "ok"].set_index(KEY)["output_hash"]
    assert (ok == reference.loc[ok.index]).all()
    # invariant 4: queued <= started <= ended on the one clock of this machine
    timed = u.dropna(subset=["started", "ended"])
    assert len(timed) == len(u)
    assert (timed.queued <= timed.started + 1e-9).all()
    assert (timed.started <= timed.ended).all()
    # Dask worker ids in the timeline
    assert u.worker.str.match(r"^tcp://127\.0\.0\.1:\d+$").all(), u.worker.unique()
    assert run.meta["state"] == "complete"


def _cpu_within_window(run) -> None:
    """The workers' CPU is what they spent in the run's window: at most a core per worker over
    the window, and at most what the whole machine spent meanwhile (both measured by this run;
    the margin is a few clock ticks per process, os.times and /proc/stat count in 10 ms)."""
    s = run.summary
    margin_s = 0.02 * (len(s.workers) + 2)
    assert s.cpu_workers_s <= 2 * s.wall_s + margin_s, (s.cpu_workers_s, s.wall_s, s.workers)
    assert s.cpu_workers_s <= s.machine_cpu_s + margin_s, (s.cpu_workers_s, s.machine_cpu_s, s.workers)


def test_faults_on_own_local_cluster(tmp_path, reference, monkeypatch):
    """The default path: the backend starts (and stops) its own LocalCluster."""
    import psutil

    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    run = _run(tmp_path, "candidate-parallel", "dask", FAULTS)  # returning at all: the hangs were cut
    _check(run, FAULTS, reference, "candidate-parallel")
    u = run.units
    assert (u.status == "timeout").sum() == 4 and (u.status == "crashed").sum() == 4
    res = run.summary.resources
    assert res["cluster"] == "LocalCluster" and res["restarts"] >= 8
    assert any(e["reason"] == "killed at a unit's deadline" for e in res["deaths"])
    assert set(u.worker) <= set(res["worker_addresses"])
    assert res["task_stream"] and all(t["worker"].startswith("tcp://") for t in res["task_stream"])
    # ... and drawn on the timeline: one dashed box per Dask task on its worker's lane
    import matplotlib.pyplot as plt

    from perfkit.reports.charts import draw_task_stream

    fig, ax = plt.subplots()
    draw_task_stream(ax, run, sorted(u.worker.astype(str).unique()), u.queued.min())
    boxes = sum(len(c.get_paths()) for c in ax.collections)
    plt.close(fig)
    assert boxes >= len({t["key"] for t in res["task_stream"] if t["worker"] in set(u.worker)}) > 0
    assert any(w["killed"] for w in run.summary.workers) and run.summary.cpu_workers_s > 0
    _cpu_within_window(run)  # killed workers and their replacements included
    def ours(p):  # multiprocessing's resource tracker lives as long as the test process: not a worker
        try:
            return p.is_running() and p.status() != psutil.STATUS_ZOMBIE \
                and "resource_tracker" not in " ".join(p.cmdline())
        except psutil.Error:
            return False

    deadline = time.monotonic() + 30  # generous: a loaded machine only takes longer to reap
    while time.monotonic() < deadline:  # no orphan worker or nanny processes
        left = {p.pid for p in psutil.Process().children(recursive=True) if ours(p)} - before
        if not left:
            break
        time.sleep(0.2)
    assert not left, [psutil.Process(p).cmdline() for p in left]


def test_workers_cpu_is_each_runs_own_on_a_reused_cluster(tmp_path, existing_cluster, monkeypatch):
    """Two runs in a row on one existing cluster: each counts its workers' CPU during its own
    window, not since the workers started (their start-up, an earlier run: 5.03 s of CPU in a
    1.57 s window on 2 cores, when the whole machine spent 3.19 s)."""
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", existing_cluster.scheduler_address)
    for n in (1, 2):
        run = _run(tmp_path / f"run{n}", "candidate-parallel", "dask", "")
        assert (run.units.status == "ok").all() and run.summary.cpu_workers_s > 0
        _cpu_within_window(run)


def test_workers_cpu_leaves_out_the_start_of_its_own_local_cluster(tmp_path, monkeypatch):
    """The LocalCluster the backend starts: its workers' and nannies' start-up (imports, the
    solver's build) is ``startup_s``, not the run's window."""
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    run = _run(tmp_path, "candidate-parallel", "dask", "")
    assert (run.units.status == "ok").all() and run.summary.resources["cluster"] == "LocalCluster"
    _cpu_within_window(run)


@pytest.mark.parametrize("strategy", ["sequential", "sample-parallel", "hybrid"])
def test_strategies_on_existing_cluster(tmp_path, reference, existing_cluster, monkeypatch, strategy):
    """DASK_SCHEDULER_ADDRESS: the run uses the cluster and leaves it running afterwards."""
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", existing_cluster.scheduler_address)
    run = _run(tmp_path, strategy, "dask", LIGHT_FAULTS)
    _check(run, LIGHT_FAULTS, reference, strategy)
    assert run.summary.resources["cluster"] == "existing"
    with distributed.Client(existing_cluster.scheduler_address, timeout="10s") as client:
        client.wait_for_workers(2, timeout=30)
        import dask
        restored = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures)
        assert restored == dask.config.get("distributed.scheduler.allowed-failures")
        assert client.submit(lambda x: x + 1, 1).result(timeout=30) == 2


def test_a_worker_killed_at_a_units_timeout_loses_only_that_unit(tmp_path, monkeypatch):
    """One work item of 24 units (sequential: 12 candidates on 2 samples). Unit 5 hangs past its
    timeout: the watchdog publishes the item's finished units before it kills its worker, so
    units 0-4 are recorded once, as attempt 1, never run again (before: all five ran again as
    attempt 2, 2 158 such re-runs on arc-dsl, docs/benchmarks.md); unit 5 is a timeout and the
    units after it run once, on the replacement worker. There unit 21 ends its worker by itself
    (os._exit): what that worker had published stays recorded, only the units after its last
    publish run again, as attempt 2, and unit 21 is ``crashed``."""
    from builders import make_task

    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    # the parent hands its publish interval to the workers: short here, so that the worker that
    # dies by itself has published some units before
    monkeypatch.setattr(dask_backend, "PUBLISH_INTERVAL_S", 0.1)
    tasks = [make_task("t1", n_demo=2, n_test=0, seed=3)]

    def run(backend: str, faults: str, workers: int):
        # each unit mostly sleeps: its wall is the same on a loaded machine, so unit 21's tenfold
        # (0.2 s) stays well inside its 0.5 s limit; as CPU (cpu_ms 20) it could outlast it on one
        # busy core, and the watchdog killed it at its deadline before it could exit by itself
        config = RunConfig(solver="synthetic", tasks="hand-made", strategy="sequential", backend=backend,
                           workers=workers, timeout=TimeoutPolicy(TIMEOUT_S),
                           solver_options={"candidates": 12, "cpu_ms": 2, "sleep_ms": 18, "faults": faults})
        return load_run(runner.run(config, store_dir=tmp_path / backend, tasks=tasks).path)

    reference = run("inline", "", 1).units.set_index(KEY)["output_hash"]
    # unit 21 works ten times as long before it exits: time for its worker to send what it published
    faulty = run("dask", "hang_py:c005@demo[0]; slow=10:c009@demo[1]; exit:c009@demo[1]", 1)
    u = faulty.units.sort_values(["index", "candidate"]).reset_index(drop=True)
    # exactly once: every unit, one row each, nothing dropped as a duplicate
    assert len(u) == 24 and not u.duplicated(KEY).any(), u[KEY + ["status", "attempt"]]
    assert set(map(tuple, u[KEY].itertuples(index=False))) == set(reference.index)
    assert faulty.summary.duplicates_dropped == 0 and faulty.meta["state"] == "complete"
    status = dict(zip(u.index, u.status))
    attempt = dict(zip(u.index, u.attempt))
    # the killed unit: a timeout of its first attempt, as long as its limit at least
    assert status[5] == "timeout" and attempt[5] == 1 and u.wall_s[5] >= TIMEOUT_S
    assert u.error_type[5] == "WorkerKilled"
    # the units it finished before: recorded from their one run, not run again
    assert [attempt[i] for i in range(5)] == [1] * 5 and all(status[i] == "ok" for i in range(5))
    # the worker that died by itself: its unit crashed; what it had not published ran again once,
    # as the units right before it; everything else once, as attempt 1
    assert status[21] == "crashed" and attempt[21] == 1
    again = [i for i in range(24) if attempt[i] == 2]
    assert again == list(range(21 - len(again), 21)), again
    assert all(attempt[i] == 1 for i in range(24) if i not in again)
    assert all(status[i] == "ok" for i in range(24) if i not in (5, 21))
    # units 6-20 outlasting the publish interval twice over (as fast as units 0-4 ran), the worker
    # published some of them before it died: those were not run again
    if 15 * u.wall_s[:5].min() >= 2 * dask_backend.PUBLISH_INTERVAL_S:
        assert len(again) < 15, again
    ok = u[u.status == "ok"].set_index(KEY)["output_hash"]
    assert (ok == reference.loc[ok.index]).all()
    res = faulty.summary.resources
    assert res["units_run_again"] == len(again)
    assert [d["reason"] for d in res["deaths"]] == ["killed at a unit's deadline", "died in a unit"]


def test_a_local_cluster_binds_no_fixed_http_port_when_no_dashboard_is_asked_for():
    # with dashboard_address=None distributed still served the scheduler's HTTP routes on 8787:
    # each further cluster (the other xdist worker's, a module fixture's beside a run's own)
    # warned "Port 8787 is already in use" (docs/testing.md, session 14's proofs)
    import socket
    import warnings

    with socket.socket() as held:
        try:  # 8787 held here, or already by someone else: either way not free
            held.bind(("127.0.0.1", 8787))
            held.listen()
        except OSError:
            pass
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            cluster = dask_backend.local_cluster(n_workers=0, silence_logs=logging.ERROR)
        try:
            port = cluster.scheduler.http_server.port
            host = cluster.scheduler.http_server.address
        finally:
            cluster.close()
    assert not [w for w in seen if "already in use" in str(w.message)], [str(w.message) for w in seen]
    assert port != 8787 and host == "127.0.0.1", (host, port)  # a free port, this machine only
