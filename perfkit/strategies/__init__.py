"""Strategies: how a task's sample × candidate grid is cut into work items and ordered.

A strategy is a function ``(samples, candidates, workers, chunk_size) -> Plan`` registered
under a name. Users add their own without editing perfkit::

    from perfkit.strategies import register
    register("my-strategy", my_plan_function, sample_level=True)

and select it by name, with the registering module among the run's plugins
(``RunConfig(strategy="my-strategy", plugins=("mypackage.strategies",))``): a plugin module
is imported before the run, and in every worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from perfkit.model import ConfigError, Plan, UnitRef, auto_chunk_size
from perfkit.strategies import builtin

PlanFunction = Callable[[Sequence[tuple[str, int]], Sequence[str], int, Optional[int]], Plan]


@dataclass(frozen=True)
class Strategy:
    """A registered strategy. ``sample_level``: usable with opaque solvers, whose unit of work
    is a whole sample (the plan is then built over the single pseudo-candidate). ``tapers``:
    its automatic chunks shrink at the end of a stage (perfkit/model/plan.py ``tapered``) only
    so that the workers finish together, so the runner may join those pieces while later work
    waits (perfkit/runner/schedule.py); a strategy that does not say so keeps its items as
    planned."""

    name: str
    plan: PlanFunction
    sample_level: bool
    description: str = ""
    tapers: bool = False


_REGISTRY: dict[str, Strategy] = {}


def register(name: str, plan: PlanFunction, sample_level: bool = False, description: str = "",
             tapers: bool = False) -> Strategy:
    """Add (or replace) a strategy under ``name`` (``sample_level``, ``tapers``: see :class:`Strategy`)."""
    strategy = Strategy(name, plan, sample_level, description or (plan.__doc__ or "").strip().split("\n")[0], tapers)
    _REGISTRY[name] = strategy
    return strategy


def get(name: str) -> Strategy:
    """The strategy registered under ``name``; a ConfigError listing the known ones otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError("strategy", name, f"unknown strategy; known: {', '.join(names())}") from None


def names() -> list[str]:
    """Registered strategy names, built-ins first."""
    return list(_REGISTRY)


def sample_level_names() -> list[str]:
    """The strategies an opaque solver (whole samples only) can run under, built-ins first."""
    return [name for name, s in _REGISTRY.items() if s.sample_level]


register("sequential", builtin.sequential, sample_level=True)
register("sample-parallel", builtin.sample_parallel, sample_level=True)
register("candidate-parallel", builtin.candidate_parallel, tapers=True)
register("hybrid", builtin.hybrid, tapers=True)

__all__ = ["Plan", "Strategy", "UnitRef", "auto_chunk_size", "get", "names", "register", "sample_level_names"]
