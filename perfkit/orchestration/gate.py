"""Measuring for the gate: repeats of one configuration with the code installed now, as a
side (perfkit/store/baseline.py) that perfkit/analysis/gate.py judges, or that becomes a
baseline file."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from perfkit.model import ConfigError, RunConfig
from perfkit.runner import run
from perfkit.store.baseline import Side, side_of_runs

#: Repeats measured when the caller does not say (and the baseline has fewer).
DEFAULT_REPEATS = 5


def measure(config: RunConfig, repeats: int, store: Path, label: str = "gate-current") -> Side:
    """Run ``config`` ``repeats`` times into ``store`` and summarise the runs as one side."""
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ConfigError("repeats", repeats, "expected an integer ≥ 1")
    runs = [run(replace(config, label=label, repeat=i), store) for i in range(repeats)]
    return side_of_runs(label, runs)
