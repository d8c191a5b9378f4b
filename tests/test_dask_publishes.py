"""How the Dask backend's parent takes the batches a work item publishes (perfkit/backends/dask.py):
each covers the item's units ``[first, done)``; a publish the watchdog repeats before a kill
records nothing twice, and nothing after a gap is taken (those units run again at the loss).
The cluster-level behaviour is in tests/test_dask_backend.py."""

from __future__ import annotations

import pickle

from perfkit.backends.base import Assignment
from perfkit.backends.dask import DaskBackend, _Pending
from perfkit.backends.unit import BatchRecorder, rows_batch
from perfkit.model import WorkItem

UNITS = tuple(("demo", 0, f"c{i:03d}") for i in range(6))


def _assignment() -> Assignment:
    return Assignment(WorkItem(1, "t1", UNITS, uids=range(100, 106)), queued=0.0, timeout_s=1.0)


def _batch(a: Assignment, first: int, done: int) -> list:
    """A published batch of units ``first``..``done - 1``, as a worker's recorder makes it."""
    rec = BatchRecorder("tcp://127.0.0.1:1")
    rec.open(1, a, first)
    for pos in range(first, done):
        rec.add(pos, "ok", 1.0 + pos, 1.5 + pos, 0.4)
    return [first, done, pickle.dumps(rec.take()[0].sealed())]


def _uids(events) -> list[int]:
    return [int(u) for b in events for u in b.uids]


def test_a_publish_repeated_before_a_kill_records_each_unit_once():
    backend, a = DaskBackend(), _assignment()
    p = backend._pending[1] = _Pending(None, a, 1)
    early, late = _batch(a, 0, 2), _batch(a, 2, 5)
    got = backend._received(p, {"item": 1, "batches": [early], "facts": None})
    # the watchdog publishes every batch of the item again, with the rows not yet published
    got += backend._received(p, {"item": 1, "batches": [early, late], "facts": None})
    # ... and the periodic publish of ``late``, still in the worker's buffer, arrives after it
    got += backend._received(p, {"item": 1, "batches": [late], "facts": None})
    assert _uids(got) == [100, 101, 102, 103, 104] and p.received == 5
    assert 1 in backend._pending  # no facts yet: the item is not done


def test_units_after_a_gap_are_not_taken():
    backend, a = DaskBackend(), _assignment()
    p = backend._pending[1] = _Pending(None, a, 1)
    got = backend._received(p, {"item": 1, "batches": [_batch(a, 2, 4)], "facts": None})
    assert got == [] and p.received == 0
    # at the loss, the units not received run again; those received are never among them
    p.received = 2
    rerun, rest = a.after_loss(ran=4, in_flight=4, accounted=UNITS[:p.received])
    assert rerun.item.units == UNITS[2:4] and rerun.attempt == 2
    assert rest.item.units == UNITS[5:] and rest.attempt == 1


def test_a_process_workers_rows_make_the_batch_its_recorder_would_take():
    """A process worker sends its rows as recorded (``BatchRecorder.rows``) and the parent
    makes the batch from the jobs it handed out (``rows_batch``): the same encoding, uids,
    status counts and progress as ``take`` in the worker, across two jobs in one batch, an
    error, a skipped unit and a job continuing after the send."""
    a = _assignment()
    b = Assignment(WorkItem(2, "t1", UNITS[:3], uids=range(200, 203), chunks=(7, 7, 8)), queued=2.5, timeout_s=1.0)
    recorders = [BatchRecorder("pid-1"), BatchRecorder("pid-1")]
    for rec in recorders:
        rec.open(1, a, 4)
        rec.add(4, "ok", 1.0, 1.5, 0.4, "h4", True)
        rec.add(5, "error", 1.5, 1.7, 0.2, error=("ValueError", "bad"))
        rec.open(2, b)
        rec.add(0, "skipped", float("nan"), float("nan"), float("nan"), error=(None, "budget"))
        rec.add(1, "ok", 2.0, 2.2, 0.2, "h1", False)
    taken, progress = recorders[0].take()
    rows = pickle.loads(pickle.dumps(recorders[1].rows()))
    made, made_progress = rows_batch(rows, {1: a, 2: b}.__getitem__)
    assert made.encode() == taken.encode() and list(made.uids) == list(taken.uids) == [104, 105, 200, 201]
    assert made.status_counts() == taken.status_counts() == {"ok": 2, "error": 1, "skipped": 1}
    assert made_progress == progress
    for rec in recorders:  # job 2 goes on: its next rows start a segment of their own
        rec.add(2, "ok", 3.0, 3.1, 0.1, "h2", False)
    taken, _ = recorders[0].take()
    made, _ = rows_batch(recorders[1].rows(), {2: b}.__getitem__)
    assert made.encode() == taken.encode() and list(made.uids) == [202]
    for rec in recorders:  # job 2 ended with the last send; its empty segment needs no job
        rec.open(3, a, 0)
        rec.add(0, "ok", 4.0, 4.1, 0.1, "h0", False)
    taken, progress = recorders[0].take()
    made, made_progress = rows_batch(recorders[1].rows(), {3: a}.__getitem__)
    assert made.encode() == taken.encode() and list(made.uids) == [100] and made_progress == progress
