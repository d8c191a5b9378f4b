"""The layers of docs/design.md hold: lint-imports (import-linter's contracts in
pyproject.toml) fails the suite when an import goes the wrong way or closes a cycle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def lint_imports(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    lint = Path(sys.executable).parent / "lint-imports"
    return subprocess.run([str(lint), "--no-cache", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_layer_and_cycle_contracts_hold():
    result = lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_a_wrong_way_import_breaks_the_contract(tmp_path):
    """A copy of the package where the model imports the runner: lint-imports must fail."""
    import shutil

    shutil.copytree(ROOT / "perfkit", tmp_path / "perfkit", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    task = tmp_path / "perfkit" / "model" / "task.py"
    task.write_text(task.read_text() + "\nfrom perfkit.runner import run  # wrong way\n")
    result = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert result.returncode != 0
    assert "perfkit.model.task -> perfkit.runner" in result.stdout
