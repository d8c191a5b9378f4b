"""Predicting runs that were never made: a discrete-event simulation of perfkit's own
execution, replayed from one measured (reference) run.

- :mod:`.model` — the inputs as plain data: a backend's costs, the machine, how perfkit runs;
- :mod:`.workload` — the reference run's units, tasks and generation times;
- :mod:`.simulator` — the event loop: one configuration → its wall, workers, units;
- :mod:`.predict` — sweeps of strategies × backends × workers × chunk sizes × timeouts, the
  knee of each speedup curve and why, the best configuration per worker count.
"""

from perfkit.analysis.prediction.model import (DEFAULT_COSTS, BackendCosts, Execution, Machine,
                                               SimConfig)
from perfkit.analysis.prediction.simulator import SimResult, ideal_bound, simulate
from perfkit.analysis.prediction.workload import TaskWork, UnitCost, Workload, workload_of

__all__ = ["DEFAULT_COSTS", "BackendCosts", "Execution", "Machine", "SimConfig", "SimResult", "TaskWork",
           "UnitCost", "Workload", "ideal_bound", "simulate", "workload_of"]
