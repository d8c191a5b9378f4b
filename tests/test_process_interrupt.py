"""Ctrl-C landing in the parent of a process run while it takes the workers' messages: between
reading them off a pipe and handling them, in the middle of either. The messages read are gone
from the pipe, so a run must not count on them: an interrupted run stays resumable with every
unit recorded once, and a warm pool (perfkit/orchestration/compare.py keeps one across runs)
holds no job of the run that was interrupted; the thread backend's parent is checked the same
way where it takes its threads' messages. The signal is raised from a hook at exactly the
point named (``signal.raise_signal`` runs the run's handler before it returns): no timing."""

from __future__ import annotations

import signal

import pytest
from builders import KEY, make_task, synthetic_config

from perfkit import runner
from perfkit.backends import WarmBackends, process
from perfkit.model import RunConfig, RunInterrupted, TimeoutPolicy
from perfkit.store import load_run

TASKS = [make_task("a", n_demo=2, n_test=1), make_task("b", n_demo=2, n_test=1)]
TOTAL = 2 * 3 * 8
#: A worker sends each outcome as it ends, so its job's last message (``done``) carries no
#: rows: the parent has received every unit of the job before it learns the job is done.
EACH_UNIT = {"flush_interval_s": 3600.0, "flush_units": 1}
#: A worker sends its outcomes only at the end of each job, with ``done``.
AT_JOB_END = {"flush_interval_s": 3600.0, "flush_units": 100_000}
#: The interrupt lands on the third job's end, after some units were recorded.
NTH_DONE = 3


def _config(flush: dict) -> RunConfig:
    """A task budget: the runner then hands a worker a job only when it is free, so no job waits
    behind the one whose end the parent loses (with one waiting, the worker was stopped at
    the run's end as busy, and the lost end went with it)."""
    base = synthetic_config("candidate-parallel", "process", timeout_s=5.0, candidates=8, cpu_ms=0.1)
    return RunConfig(**{**base.__dict__, "chunk_size": 3, "backend_options": flush,
                        "timeout": TimeoutPolicy(5.0, task_budget_s=600.0)})


def _has_done(messages) -> bool:
    return any(m[0] == "rows" and m[2] for m in messages)


class Press:
    """Ctrl-C, pressed the ``NTH_DONE``-th time the parent reaches the point with a job's end."""

    def __init__(self):
        self.seen = 0

    def __call__(self) -> None:
        self.seen += 1
        if self.seen == NTH_DONE:
            signal.raise_signal(signal.SIGINT)


def _hook(monkeypatch, where: str) -> Press:
    """Press Ctrl-C ``where`` in the parent's handling of a worker's messages."""
    press = Press()
    if where == "in the framing, bytes read, the rest not kept":
        frames = process._frames

        def framed(buf, messages):
            used = frames(buf, messages)
            if _has_done(messages):
                press()
            return used
        monkeypatch.setattr(process, "_frames", framed)
    elif where == "messages read, none handled":
        read = process.read_messages

        def read_then_press(sock, inbox, scratch):
            messages, eof = read(sock, inbox, scratch)
            if _has_done(messages):
                press()
            return messages, eof
        monkeypatch.setattr(process, "read_messages", read_then_press)
    elif where == "rows handled, the job's end not yet":
        handle = process.ProcessBackend._handle

        def press_before_done(self, w, msg, events):
            if _has_done([msg]):
                press()
            handle(self, w, msg, events)
        monkeypatch.setattr(process.ProcessBackend, "_handle", press_before_done)
    else:  # "job closed, its batch not yet handed on"
        record = process.ProcessBackend._item_record

        def recorded(self, w, job, peak, **more):
            record(self, w, job, peak, **more)
            press()
        monkeypatch.setattr(process.ProcessBackend, "_item_record", recorded)
    return press


WHERE = ["in the framing, bytes read, the rest not kept", "messages read, none handled",
         "rows handled, the job's end not yet",
         "job closed, its batch not yet handed on"]


@pytest.mark.slow  # three runs on a real pool: ~0.5 s
@pytest.mark.parametrize("flush", [EACH_UNIT, AT_JOB_END], ids=["sent-each-unit", "sent-at-job-end"])
@pytest.mark.parametrize("where", WHERE)
def test_ctrl_c_while_the_parent_takes_a_workers_messages_keeps_the_run_resumable_and_the_pool_clean(
        tmp_path, monkeypatch, where, flush):
    """Before the fix, "rows handled, the job's end not yet" with rows sent unit by unit left the
    job in the warm pool: the next run, under its budget, ran all 48 units on one worker of two."""
    config = _config(flush)
    with WarmBackends() as warm:
        press = _hook(monkeypatch, where)
        with pytest.raises(RunInterrupted) as interrupted:
            runner.run(config, tmp_path, tasks=TASKS, warm=warm)
        assert press.seen >= NTH_DONE, "the hook never pressed Ctrl-C"
        monkeypatch.undo()
        (pool,) = warm._backends.values()
        stale = {w.name: dict(w.jobs) for w in pool.pool if w.jobs}
        assert not stale, f"the warm pool kept jobs of the interrupted run: {stale}"
        assert not any(w.inbox or w.reading for w in pool.pool), "a worker's stream is left mid-message"

        again = runner.run(config, tmp_path, tasks=TASKS, warm=warm).units
        assert len(again) == TOTAL and not again.duplicated(KEY).any()
        assert (again.status == "ok").all() and (again.attempt == 1).all()
    _resumes_to_every_unit_once(interrupted.value.path)


@pytest.mark.slow  # two runs on threads: ~0.3 s
def test_ctrl_c_after_the_parent_took_the_threads_messages_keeps_the_run_resumable(tmp_path, monkeypatch):
    """The thread backend's collect takes every entry off its queue, then handles them: Ctrl-C
    in between loses a job's end and its rows. Nothing else needs them: a thread backend serves
    one run (it is not ``reusable``, a warm set makes one per run), and the rows lost were never
    recorded, so the resumed run runs them."""
    from perfkit.backends import thread

    taken = thread.drain
    press = Press()

    def take_then_press(q, wait_s):
        entries = taken(q, wait_s)
        if any(kind == "done" for kind, _slot, _payload in entries):
            press()
        return entries
    monkeypatch.setattr(thread, "drain", take_then_press)
    base = _config(EACH_UNIT)
    config = RunConfig(**{**base.__dict__, "backend": "thread", "backend_options": {}})
    with pytest.raises(RunInterrupted) as interrupted:
        runner.run(config, tmp_path, tasks=TASKS)
    assert press.seen >= NTH_DONE
    monkeypatch.undo()
    _resumes_to_every_unit_once(interrupted.value.path)


def _resumes_to_every_unit_once(path) -> None:
    """The interrupted run at ``path`` recorded some units, each once; resumed, it records the
    rest, each once, and keeps the units it had."""
    before = load_run(path).units
    assert load_run(path).meta["state"] == "interrupted"
    assert 0 < len(before) < TOTAL and not before.duplicated(KEY).any()
    resumed = runner.resume(path, tasks=TASKS)
    assert resumed.meta["state"] == "complete"
    u = resumed.units
    assert len(u) == TOTAL and not u.duplicated(KEY).any() and (u.status == "ok").all()
    kept = before.merge(u, on=KEY, suffixes=("", "_after"))
    assert len(kept) == len(before) and (kept.started == kept.started_after).all()
