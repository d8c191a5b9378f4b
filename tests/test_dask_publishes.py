"""How the Dask backend's parent takes the batches a work item publishes (perfkit/backends/dask.py):
each covers the item's units ``[first, done)``; a publish the watchdog repeats before a kill
records nothing twice, and nothing after a gap is taken (those units run again at the loss).
The cluster-level behaviour is in tests/test_dask_backend.py."""

from __future__ import annotations

import pickle

from perfkit.backends.base import Assignment
from perfkit.backends.dask import DaskBackend, _Pending
from perfkit.backends.unit import BatchRecorder
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
