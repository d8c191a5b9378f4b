"""The interpreter perfkit/orchestration/forked.py spawns beside other threads imports what this
process imports, from where this process imports it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import perfkit
from perfkit.orchestration.forked import Forked


def _shadowed() -> bool:
    import perfkit as imported

    return bool(getattr(imported, "SHADOW", False))


@pytest.mark.slow  # spawns an interpreter
def test_the_spawned_child_imports_perfkit_from_where_this_process_does_not_the_working_directory(
        tmp_path, monkeypatch):
    # a script run from another checkout's folder: its ``perfkit/`` is not the perfkit this
    # process runs (here a marked package that resolves its submodules from the real one)
    shadow = tmp_path / "perfkit"
    shadow.mkdir()
    (shadow / "__init__.py").write_text(f"SHADOW = True\n__path__.append({str(Path(perfkit.__file__).parent)!r})\n")
    monkeypatch.chdir(tmp_path)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        job = Forked(_shadowed, spawn_beside_threads=True)
        assert job.forked
        assert job.result() is False
    finally:
        stop.set()
        other.join()
