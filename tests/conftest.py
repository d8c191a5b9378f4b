"""Shared fixtures; shared builders live in tests/builders.py."""

from __future__ import annotations

import pytest
from builders import make_task

from perfkit.model import Task


@pytest.fixture
def tasks() -> list[Task]:
    return [make_task("t1", seed=1), make_task("t2", seed=2)]
