"""The run store: one folder per run (perfkit/store/layout.py), written by :class:`RunWriter`
and read back as typed :class:`Run` objects; baselines committed under reports/baselines/."""

from perfkit.store.layout import DEFAULT_STORE, new_run_id
from perfkit.store.reader import find_runs, load_run, read_json, read_units, read_units_jsonl, typed_units
from perfkit.store.run import Run, RunSummary
from perfkit.store.writer import FLUSH_INTERVAL_S, RunWriter

__all__ = ["DEFAULT_STORE", "FLUSH_INTERVAL_S", "Run", "RunSummary", "RunWriter", "find_runs", "load_run",
           "new_run_id", "read_json", "read_units", "read_units_jsonl", "typed_units"]
