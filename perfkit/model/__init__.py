"""The vocabulary of docs/design.md as plain data: tasks, samples, units, work items, plans,
outcomes, run configurations and errors.

Everything here is a dataclass, a constant or an exception; nothing runs work. Every other
layer imports from here and never the other way round.
"""

from perfkit.model.config import DEFAULT_STORE, REFERENCE, RunConfig, TimeoutPolicy, is_path_segment
from perfkit.model.errors import (
    ConfigError,
    DeadlineExceeded,
    PerfkitError,
    RunInterrupted,
    RunLocked,
    RunStopped,
    SignalInterrupt,
    StoreError,
)
from perfkit.model.outcome import (
                                   RAN_STATUSES,
                                   SAMPLE_KEY,
                                   STATUSES,
                                   UNIT_COLUMNS,
                                   UNIT_KEY,
                                   WHOLE_SAMPLE,
                                   Outcome,
                                   as_grid,
                                   candidate_id_problem,
                                   finished_late,
                                   grid_hash,
                                   output_hash,
                                   sample_level_run,
)
from perfkit.model.batch import FLOAT_COLUMNS, OutcomeBatch
from perfkit.model.plan import (JOIN_LIMIT_ITEMS, Plan, UnitRef, WorkItem, auto_chunk_size, chunked, join_limit,
                                taper_joins, tapered)
from perfkit.model.task import Sample, Split, Task, sample_label

__all__ = ["DEFAULT_STORE", "REFERENCE", "ConfigError", "DeadlineExceeded", "FLOAT_COLUMNS", "JOIN_LIMIT_ITEMS", "Outcome",
           "OutcomeBatch", "PerfkitError", "Plan", "RAN_STATUSES", "RunConfig", "RunInterrupted", "RunLocked", "RunStopped",
           "SAMPLE_KEY", "STATUSES", "Sample", "SignalInterrupt", "Split", "StoreError", "Task", "TimeoutPolicy",
           "UNIT_COLUMNS", "UNIT_KEY", "UnitRef", "WHOLE_SAMPLE", "WorkItem", "as_grid", "auto_chunk_size",
           "candidate_id_problem", "chunked", "finished_late", "grid_hash", "is_path_segment", "output_hash", "sample_label",
           "sample_level_run", "tapered"]
