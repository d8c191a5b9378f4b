"""Shared fixtures; shared builders live in tests/builders.py."""

from __future__ import annotations

import pytest
from builders import make_task

from perfkit.model import Task


@pytest.fixture
def tasks() -> list[Task]:
    return [make_task("t1", seed=1), make_task("t2", seed=2)]


def pytest_collection_modifyitems(config, items) -> None:
    """Every benchmark is ``slow``: the quick subset (``-m "not slow"``) leaves them out, the whole
    suite (``make test``) runs each once with timing disabled, and ``make bench`` measures them.

    Then the order the xdist workers take tests in (``--dist loadgroup``, see the Makefile): the
    ``longest`` tests first, then the other slow ones, the quick ones last, so that the workers
    finish together instead of one of them running a long test alone at the end (the longest
    processing time first rule). The order is stable within each class."""
    benchmarks = config.rootpath / "tests" / "benchmarks"
    for item in items:
        if benchmarks in item.path.parents:
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: 0 if item.get_closest_marker("longest") else
               1 if item.get_closest_marker("slow") else 2)
