"""The layers of docs/design.md hold: lint-imports (import-linter's contracts in
pyproject.toml) fails the suite when an import goes the wrong way or closes a cycle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from builders import copy_of_package

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

    copy_of_package(ROOT / "perfkit", tmp_path / "perfkit")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    task = tmp_path / "perfkit" / "model" / "task.py"
    task.write_text(task.read_text() + "\nfrom perfkit.runner import run  # wrong way\n")
    result = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert result.returncode != 0
    assert "perfkit.model.task -> perfkit.runner" in result.stdout


def command_line_flags() -> set[str]:
    """Every long option of every perfkit verb, read from the click commands typer builds."""
    import typer

    import perfkit.cli.verbs  # noqa: F401  registers every verb
    from perfkit.cli.app import app

    flags: set[str] = set()

    def walk(command) -> None:  # a click Command (typer's own copy of click from typer 0.29 on)
        for param in command.params:
            flags.update(o for o in param.opts + param.secondary_opts if o.startswith("--"))
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    return flags - {"--help"}


# flags perfkit shares with the tools it drives (git, pip, valgrind, py-spy): their command lines
# are built outside cli/ and may spell them
OTHER_TOOLS_FLAGS = {"--quiet", "--verify", "--detach", "--version", "--rate", "--gil", "--idle", "--nonblocking"}


def test_only_the_command_line_speaks_of_flags():
    """Errors and docs outside perfkit/cli/ name fields (RunConfig.workers), not flags (--workers):
    a Python caller has no flags to fix."""
    import re

    flags = command_line_flags() - OTHER_TOOLS_FLAGS
    assert {"--workers", "--timeout", "--strategy", "--solver-opt"} <= flags
    pattern = re.compile("|".join(re.escape(f) + r"(?![\w-])" for f in sorted(flags, key=len, reverse=True)))
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for path in sorted((ROOT / "perfkit").rglob("*.py")) if "cli" not in path.relative_to(ROOT).parts
             for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert not found, "\n".join(found)
