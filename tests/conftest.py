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
    _keep_xdist_groups(config, items)


def _keep_xdist_groups(config, items) -> None:
    """``--dist loadgroup`` keeps the tests of one ``xdist_group`` on one worker by the suffix
    ``@group`` that pytest-xdist (3.8) appends to their node ids, but it writes ``item._nodeid``,
    which pytest 9.2 no longer reads (pytest-dev/pytest-xdist#1386, open): the groups were
    silently spread over the workers. Until xdist writes the id pytest reads, append it here."""
    if not getattr(config.option, "loadgroup", False):  # set in xdist's workers under --dist loadgroup
        return
    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                        for m in item.iter_markers("xdist_group")})
        if names and "@" not in item.nodeid:
            from _pytest.nodeid import NodeId

            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(names)}")
