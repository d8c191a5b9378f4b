"""A worker process's heap as a run begins, left out of the cyclic collector's full passes.

The runner freezes the parent's heap (perfkit/runner/run.py), where an inline reference runs,
so a full pass there walks only what the run itself allocated. A worker that did not do the
same walked its whole heap inside whichever unit allocated last: its imports and the solver
just built (5.5–7.9 ms per pass on a process worker), and on Dask also the worker's event loop,
comms and task states (20–52 ms per pass, 100–150 ms of each worker's units in a markdown-it
run) — against 0.3 ms at most in the reference. markdown-it's 2–6 ms units then ran past a
6 ms timeout on that backend only, lost answers blamed on the strategy (docs/benchmarks.md,
"Session 12: a full collection inside a unit", "Session 13: a full collection inside a Dask
unit").
"""

from __future__ import annotations

import gc


def thaw_heap() -> None:
    """Let the cyclic collector see the whole heap again, before a run's solver is built: the
    last run's solver (a lent pool's worker, a Dask worker that outlives runs) may be collected."""
    gc.unfreeze()


def freeze_heap() -> None:
    """Collect the garbage of whatever ran before, then leave every object alive now (the run's
    solver just built among them) out of the collector's full passes for the rest of the run."""
    gc.collect()
    gc.freeze()
