"""Findings: rules that turn a comparison's figures into sentences, each with its evidence.

A rule is a function ``(Comparison) -> list[Finding]``, registered in :data:`RULES`; it reads the
figures computed by :mod:`perfkit.analysis.metrics` and :mod:`perfkit.analysis.answers` and
never computes a figure of its own that a report would need. Thresholds are module constants.

One module per topic: finding, machine, state, workers, timeouts, cost, recommendation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from perfkit.analysis.findings.cost import (
    candidate_generation,
    cost_concentration,
    critical_path,
    dispatch_overhead,
    gil_bound,
    low_efficiency,
    memory_drivers,
    worker_startup,
)
from perfkit.analysis.findings.finding import Finding, SEVERITIES, SHARED_FIGURES
from perfkit.analysis.findings.machine import busy_machine, stray_threads
from perfkit.analysis.findings.recommendation import recommendation
from perfkit.analysis.findings.state import carried_state, cold_state, cpu_off_thread, warm_state
from perfkit.analysis.findings.timeouts import (
    boundary_units,
    budget_skips,
    contention_timeouts,
    crashed_workers,
    leaked_timeouts,
    nondeterministic_candidates,
    timeout_cost,
    timeout_noise,
)
from perfkit.analysis.findings.workers import uneven_workers


if TYPE_CHECKING:  # pragma: no cover
    from perfkit.analysis.comparison import Comparison

__all__ = ["Finding", "RULES", "findings", "recommendation"]


RULES: dict[str, Callable[["Comparison"], list[Finding]]] = {
    "nondeterministic-candidates": nondeterministic_candidates,
    "busy-machine": busy_machine,
    "stray-threads": stray_threads,
    "warm-state": warm_state,
    "cpu-off-thread": cpu_off_thread,
    "cold-state": cold_state,
    "carried-state": carried_state,
    "uneven-workers": uneven_workers,
    "contention-timeouts": contention_timeouts,
    "boundary-units": boundary_units,
    "timeout-noise": timeout_noise,
    "cost-concentration": cost_concentration,
    "timeout-cost": timeout_cost,
    "memory": memory_drivers,
    "gil": gil_bound,
    "candidate-generation": candidate_generation,
    "dispatch-overhead": dispatch_overhead,
    "critical-path": critical_path,
    "leaked-timeouts": leaked_timeouts,
    "budget-skips": budget_skips,
    "crashed-workers": crashed_workers,
    "low-efficiency": low_efficiency,
    "worker-startup": worker_startup,
}


def findings(c: "Comparison") -> list[Finding]:
    """Every rule's findings, problems first."""
    token = SHARED_FIGURES.set({})
    try:
        found = [f for rule in RULES.values() for f in rule(c)]
    finally:
        SHARED_FIGURES.reset(token)
    return sorted(found, key=lambda f: SEVERITIES.index(f.severity) if f.severity in SEVERITIES else 9)
