"""The whole command's figures reconcile with the operating system's (docs/design.md, "The
whole command"): a command runs inside a fresh cgroup, the referee; the CPU it recorded for its
whole process tree agrees with the cgroup's within 2 % (or 20 ms), its wall with the wall the
test measured around it within 2 % (or the bound derived in :func:`wall_bound_s`). Its spans add
up to its totals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from perfkit.analysis.breakdown import breakdown
from perfkit.model.command import (EXIT, IMPORTS, RUN_WINDOW, SPANS, START_UP, TEARDOWN, WORKER_START,
                                   Span)
from perfkit.orchestration.cgroup import Cgroup, CgroupUnavailable
from perfkit.runner.meter import Meter
from perfkit.runner.process_tree import CLOCK_TICKS_PER_S, TreeReading, process_start_s, read_tree

PLUGINS = Path(__file__).parent / "plugins"
#: The issue's bounds: CPU within 2 % of the OS figure, or 20 ms for short commands.
SHARE, CPU_FLOOR_S = 0.02, 0.020
#: How much longer than its CPU the command's exit may take in wall: it runs as one of up to five
#: busy processes on two cores (itself, the suite's two pytest workers, two busy loops), each
#: wake-up of its exit (reaping, closing pipes) waiting behind them (``wall_bound_s``).
EXIT_STRETCH = 5


@dataclass
class Measured:
    """A command as the test saw it: cgroup CPU, and ``time.monotonic()`` before starting it,
    when Popen returned, and when it had exited (seconds)."""

    cpu_s: float
    before_s: float
    started_s: float
    after_s: float
    returncode: int
    stderr: str
    wake_s: float

    @property
    def wall_s(self) -> float:
        return self.after_s - self.before_s


def in_cgroup(argv: list[str], cwd: Path) -> Measured:
    """Run ``argv`` in a fresh cgroup; skip the test when none can be made here."""
    try:
        group = Cgroup.create()
    except CgroupUnavailable as exc:
        pytest.skip(f"no cgroup to measure the command in: {exc}")
    try:
        before = time.monotonic()
        proc = subprocess.Popen(group.wrap(argv), cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        started = time.monotonic()
        try:
            _, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        after = time.monotonic()
        return Measured(group.cpu_s(), before, started, after, proc.returncode, err, wake_latency_s())
    finally:
        for pid in group.pids():  # left by a failed command: this test started them
            os.kill(pid, signal.SIGKILL)
        while group.pids():
            time.sleep(0.01)
        group.remove()


def wake_latency_s() -> float:
    """How late this process wakes from a 1 ms sleep now, at worst of a few (seconds): how late
    it may notice that the command has exited."""
    late = 0.0
    for _ in range(5):
        t0 = time.monotonic()
        time.sleep(0.001)
        late = max(late, time.monotonic() - t0 - 0.001)
    return late


def wall_bound_s(m: Measured, recorded_cpu_s: float) -> float:
    """How far the recorded wall may be from the measured one, from what neither side sees:

    - the OS keeps a process's start in clock ticks: the recorded origin is within half a tick
      of the true start, which lies somewhere while Popen ran (``started - before``);
    - after its last reading the command only exits: that work is CPU the cgroup charged and the
      record lacks (``cgroup CPU - recorded CPU``), its wall at most :data:`EXIT_STRETCH` times
      that: the suite must pass beside two busy loops, so its two pytest workers and those loops
      share the two cores with the exiting command (16 ms of exit CPU took 31 ms beside the
      pytest workers alone in a session 11 proof, 13.5 ms took ~55 ms beside the busy loops
      too in a session 13 proof);
    - this process notices the exit when it wakes (``wake_s``, measured just after).
    """
    return (1.0 / CLOCK_TICKS_PER_S + (m.started_s - m.before_s) + EXIT_STRETCH * max(0.0, m.cpu_s - recorded_cpu_s)
            + m.wake_s)


def check_reconciles(m: Measured, recorded_wall_s: float, recorded_cpu_s: float) -> None:
    """The issue's check, with the figures in the failure message."""
    cpu_gap, wall_gap = abs(recorded_cpu_s - m.cpu_s), abs(recorded_wall_s - m.wall_s)
    assert cpu_gap <= max(SHARE * m.cpu_s, CPU_FLOOR_S), \
        f"recorded CPU {recorded_cpu_s:.4f} s, cgroup {m.cpu_s:.4f} s"
    assert wall_gap <= max(SHARE * m.wall_s, wall_bound_s(m, recorded_cpu_s)), \
        f"recorded wall {recorded_wall_s:.4f} s, measured {m.wall_s:.4f} s, bound {wall_bound_s(m, recorded_cpu_s):.4f} s"


@pytest.mark.slow
def test_process_tree_agrees_with_a_cgroup_with_killed_and_orphaned_processes(tmp_path: Path):
    """Forkserver workers (one SIGKILLed mid-work) and an orphaned grandchild: every one of them
    is in the command's CPU, as in the cgroup's; the wall is the command's."""
    out = tmp_path / "figures.json"
    burn_s = 0.1
    m = in_cgroup([sys.executable, str(PLUGINS / "process_family.py"), str(out), str(burn_s)], tmp_path)
    assert m.returncode == 0, m.stderr
    rec = json.loads(out.read_text())
    check_reconciles(m, rec["wall_s"], rec["cpu_s"])
    # what the OS alone would not show: the orphan and the killed worker are in the tree's CPU
    spans = {s["name"]: s for s in rec["spans"]}
    assert spans["teardown"]["cpu_s"] >= burn_s and spans["run window"]["cpu_s"] >= 3 * burn_s
    assert rec["subreaper"]
    # the origin is the process start (within half a tick), the end before the process was gone
    half_tick = 0.5 / CLOCK_TICKS_PER_S
    assert m.before_s - half_tick <= rec["origin_s"] <= m.started_s + half_tick
    assert rec["origin_s"] < rec["end_s"] <= m.after_s


def test_process_tree_counts_a_child_that_ran_between_two_marks():
    """A reaped child's CPU lands in the span it ran in, not before; the spans add up."""
    meter = Meter.since_now()
    meter.mark("before")
    code = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.05: pass\n" \
           "import resource\nru = resource.getrusage(resource.RUSAGE_SELF)\nprint(ru.ru_utime + ru.ru_stime)"
    own = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    span = meter.mark("child")
    assert own <= span.cpu_s  # the child's own figure, plus this process's waiting for it
    assert sum(s.cpu_s for s in meter.spans) == pytest.approx(meter.cpu_s, abs=1e-9)
    assert sum(s.wall_s for s in meter.spans) == pytest.approx(meter.wall_s, abs=1e-9)


def test_a_live_child_is_read_from_its_cpu_clock():
    """A child still running is in the reading, to better than a clock tick."""
    code = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.05: pass\n" \
           "print(time.process_time(), flush=True)\ntime.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        own = float(child.stdout.readline())
        reading = read_tree()
        assert child.pid in reading.live_cpu_s
        # the child's figure is taken after it printed its own, and it is asleep since
        assert own <= reading.live_cpu_s[child.pid] < own + 1.0 / CLOCK_TICKS_PER_S
    finally:
        child.kill()
        child.wait()


def test_process_start_is_before_now_and_after_the_parent():
    import psutil

    start = process_start_s()
    assert start < time.monotonic()
    parent = psutil.Process().parent()
    assert time.time() - parent.create_time() >= time.monotonic() - start - 1.0  # psutil: 1 s resolution


class FakeTree:
    """Readings on a controlled clock: each read moves time and CPU by the next step."""

    def __init__(self, steps):
        self.steps, self.at, self.cpu = list(steps), 100.0, 5.0

    def __call__(self, pids=()):
        wall, cpu = self.steps.pop(0)
        self.at += wall
        self.cpu += cpu
        return TreeReading(self.at, self.cpu, 0.0)


def test_spans_and_breakdown_items_add_up_to_the_totals():
    steps = [(0.0, 0.0), (0.5, 0.6), (0.2, 0.3), (0.2, 0.2), (0.3, 0.5), (1.32, 2.75), (0.3, 0.4), (0.1, 0.1),
             (0.02, 0.03)]
    names = [n for n in SPANS if n != IMPORTS]  # a run started by a call
    meter = Meter.since_now(FakeTree(steps))
    for name in names:
        meter.mark(name)
    assert [s.name for s in meter.spans] == names
    assert meter.wall_s == pytest.approx(2.94) and meter.cpu_s == pytest.approx(4.88)
    b = breakdown(meter.spans, meter.origin, slots=2, unit_cpu_s=2.21, generate_cpu_s=0.1, workers_cpu_s=2.36)
    assert b.wall.total_s == pytest.approx(meter.wall_s) and b.cpu.total_s == pytest.approx(meter.cpu_s)
    for bar in (b.wall, b.cpu, b.window):
        assert sum(i.seconds for i in bar.items) == pytest.approx(bar.total_s)
        assert all(i.seconds >= 0 for i in bar.items)
    expected = {START_UP: (0.9, 1.1), WORKER_START: (0.3, 0.5), RUN_WINDOW: (1.32, 2.75), TEARDOWN: (0.4, 0.5),
                EXIT: (0.02, 0.03)}
    assert list(b.phases) == list(expected)
    assert all(b.phases[p] == pytest.approx(v) for p, v in expected.items())
    assert sum(w for w, _ in b.phases.values()) == pytest.approx(b.wall.total_s)
    parts = {i.name: i.seconds for i in b.cpu.items if i.within == RUN_WINDOW}
    assert parts == pytest.approx({"units": 2.21, "generation": 0.1, "harness in workers": 0.05,
                                   "perfkit in the parent": 0.39})
    # 2 slots × 1.32 s = 2.64 s of capacity: 2.75 s were used, so nothing idle, the bar is the CPU
    assert b.window.total_s == pytest.approx(2.75) and b.window.items[-1].seconds == 0.0


def test_idle_capacity_is_what_the_run_window_left_unused():
    spans = [Span(IMPORTS, 1.0, 1.0), Span(RUN_WINDOW, 1.32, 2.4), Span(EXIT, 0.1, 0.1)]
    b = breakdown(spans, "call", slots=2, unit_cpu_s=2.21, generate_cpu_s=0.0, workers_cpu_s=2.26)
    items = {i.name: i.seconds for i in b.window.items}
    assert b.window.total_s == pytest.approx(2.64)
    assert items == pytest.approx({"units": 2.21, "generation": 0.0, "harness in workers": 0.05,
                                   "perfkit in the parent": 0.14, "other work": 0.0, "units off the CPU": 0.0,
                                   "idle": 0.24})


def test_capacity_other_processes_took_is_other_work_not_idle():
    """The main job beside 1.3 cores of other work read "idle 36 %": the cores were not idle.
    Other processes' CPU counts on the run's slots beyond the cores it had no slot on; what is
    left of the units' time off the CPU comes next, then idle."""
    spans = [Span(RUN_WINDOW, 1.0, 0.9)]
    b = breakdown(spans, "call", slots=2, unit_cpu_s=0.7, generate_cpu_s=0.0, workers_cpu_s=0.8,
                  units_off_cpu_s=0.5, others_cpu_s=0.8, cores=2)
    items = {i.name: i.seconds for i in b.window.items}
    assert items == pytest.approx({"units": 0.7, "generation": 0.0, "harness in workers": 0.1,
                                   "perfkit in the parent": 0.1, "other work": 0.8, "units off the CPU": 0.3,
                                   "idle": 0.0})
    # one slot on two cores: other work fills the other core first
    one = breakdown(spans, "call", slots=1, unit_cpu_s=0.7, generate_cpu_s=0.0, workers_cpu_s=0.0,
                    others_cpu_s=1.05, cores=2)
    assert {i.name: i.seconds for i in one.window.items}["other work"] == pytest.approx(0.05)
    # unknown others: nothing counted
    unknown = breakdown(spans, "call", slots=2, unit_cpu_s=0.7, generate_cpu_s=0.0, workers_cpu_s=0.8,
                        others_cpu_s=float("nan"), cores=2)
    assert {i.name: i.seconds for i in unknown.window.items}["other work"] == 0.0


def test_units_waiting_off_the_cpu_are_not_idle_capacity():
    """Two threads taking turns at the GIL: each unit's wall is twice its CPU, so half the
    capacity went to units waiting for the GIL, not to workers without work; what units spent
    off the CPU beyond the unused capacity (sleeping units on many threads) is capped there."""
    spans = [Span(RUN_WINDOW, 1.0, 1.0)]
    b = breakdown(spans, "call", slots=2, unit_cpu_s=0.9, generate_cpu_s=0.0, workers_cpu_s=0.95,
                  units_off_cpu_s=0.85)
    items = {i.name: i.seconds for i in b.window.items}
    assert items == pytest.approx({"units": 0.9, "generation": 0.0, "harness in workers": 0.05,
                                   "perfkit in the parent": 0.05, "other work": 0.0, "units off the CPU": 0.85,
                                   "idle": 0.15})
    sleepy = breakdown(spans, "call", slots=2, unit_cpu_s=0.1, generate_cpu_s=0.0, workers_cpu_s=0.15,
                       units_off_cpu_s=30.0)
    window = {i.name: i.seconds for i in sleepy.window.items}
    assert window["units off the CPU"] == pytest.approx(1.0) and window["idle"] == 0.0
    assert sum(window.values()) == pytest.approx(2.0)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["process", "dask"])
def test_perfkit_run_records_its_whole_command_as_the_os_counts_it(tmp_path: Path, backend: str):
    """``perfkit run`` in a fresh cgroup: the whole-command CPU in summary.json (parent,
    forkserver, resource tracker, every worker; Dask's workers) agrees with the cgroup's, its
    wall with the command's, and its spans are the command's, adding up to both totals."""
    perfkit = Path(sys.executable).with_name("perfkit")
    m = in_cgroup([str(perfkit), "run", "--solver", "synthetic", "--tasks", "synthetic:2", "--strategy",
                   "candidate-parallel", "--backend", backend, "--workers", "2", "--store", str(tmp_path)], tmp_path)
    assert m.returncode == 0, m.stderr
    (folder,) = [p for p in tmp_path.iterdir() if (p / "summary.json").exists()]
    s = json.loads((folder / "summary.json").read_text())
    check_reconciles(m, s["command_wall_s"], s["command_cpu_s"])
    assert s["command_origin"] == "process"
    assert [span["name"] for span in s["command_spans"]] == list(SPANS)
    assert sum(span["wall_s"] for span in s["command_spans"]) == pytest.approx(s["command_wall_s"], abs=1e-9)
    assert sum(span["cpu_s"] for span in s["command_spans"]) == pytest.approx(s["command_cpu_s"], abs=1e-9)
    assert all(span["wall_s"] >= 0 and span["cpu_s"] >= 0 for span in s["command_spans"])


def test_the_exit_span_is_not_written_over_a_resume_that_holds_the_run(tmp_path: Path):
    """The exit span is added after the run released its lock: a resume that took the lock
    meanwhile owns summary.json, which is left as it is; otherwise the fields are set."""
    from perfkit.model import RunLocked
    from perfkit.store.layout import SUMMARY
    from perfkit.store.lock import RunLock
    from perfkit.store.writer import amend_summary

    (tmp_path / SUMMARY).write_text(json.dumps({"state": "interrupted", "command_wall_s": 1.0}))
    lock = RunLock.acquire(tmp_path)
    try:
        with pytest.raises(RunLocked):
            amend_summary(tmp_path, command_wall_s=2.0)
    finally:
        lock.release()
    assert json.loads((tmp_path / SUMMARY).read_text())["command_wall_s"] == 1.0
    amend_summary(tmp_path, command_wall_s=2.0)
    assert json.loads((tmp_path / SUMMARY).read_text()) == {"state": "interrupted", "command_wall_s": 2.0}
    assert RunLock.acquire(tmp_path).held  # released again
