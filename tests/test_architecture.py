"""The layers of docs/design.md hold: lint-imports (import-linter's contracts in
pyproject.toml) fails the suite when an import goes the wrong way or closes a cycle. And the
shape of the code: errors and docs below the CLI name fields, not flags; a constant is written
once; no module imports a name it never uses."""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

import pytest
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


@functools.cache  # parsed once for the tests below
def module_trees() -> dict[str, ast.Module]:
    """Every module of the package, parsed, by its path under the repository."""
    return {str(path.relative_to(ROOT)): ast.parse(path.read_text()) for path in sorted((ROOT / "perfkit").rglob("*.py"))}


@pytest.mark.slow  # parses every module of the package: ~0.7 s
def test_the_switch_interval_is_written_once():
    """CPython's switch interval was written in metrics/gil.py and again in prediction/gil.py
    (an import cycle was feared); the prediction imports the metrics' one."""
    writers = [path for path, tree in module_trees().items() for node in tree.body
               if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "SWITCH_INTERVAL_S" for t in node.targets)]
    assert writers == ["perfkit/analysis/metrics/gil.py"]
    from perfkit.analysis.metrics import gil as measured
    from perfkit.analysis.prediction import gil as predicted

    assert predicted.SWITCH_INTERVAL_S is measured.SWITCH_INTERVAL_S


def constants_written_twice(trees: dict[str, ast.Module]) -> list[str]:
    """The names that two modules or more bind, at their top, to the same number or string
    (``WAKE_S = 0.03`` in process.py and thread.py): one figure written twice, which the next
    change moves in one place only. A name bound to different values in two modules names two
    rules (``JOBS_PER_WORKER``: 2 process jobs, 4 Dask ones), and one computed from another
    constant (``KEY = list(UNIT_KEY)``) writes no figure of its own: neither is reported."""
    writers: dict[tuple[str, object], list[str]] = {}
    for path, tree in trees.items():
        for node in tree.body:
            if isinstance(node, ast.AnnAssign) and node.value is not None:
                pairs = [(node.target, node.value)]
            elif isinstance(node, ast.Assign):
                pairs = [(target, node.value) for target in node.targets]
            else:
                continue
            for target, value in pairs:
                if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
                    pairs += zip(target.elts, value.elts)
                    continue
                try:
                    figure = ast.literal_eval(value)
                except ValueError:
                    continue
                if isinstance(target, ast.Name) and target.id.lstrip("_").isupper() \
                        and isinstance(figure, (int, float, str)) and not isinstance(figure, bool):
                    writers.setdefault((target.id, figure), []).append(path)
    return [f"{name} = {figure!r} in {', '.join(paths)}" for (name, figure), paths in sorted(writers.items(), key=str)
            if len(set(paths)) > 1]


@pytest.mark.slow  # parses every module of the package: ~0.7 s
def test_no_constant_is_written_in_two_modules():
    """Session 16 said an architecture test checked that a constant is assigned in one module;
    it checked one name, ``SWITCH_INTERVAL_S``, and ``WAKE_S = 0.03`` stood in both the process
    and the thread backend (one rule: perfkit/backends/base.py). This checks every name."""
    found = constants_written_twice(module_trees())
    assert not found, "\n".join(found)


def test_a_constant_written_twice_is_found_and_two_rules_of_one_name_are_not():
    trees = {"a.py": ast.parse("WAKE_S = 0.03\nJOBS = 2\nKEY = list(UNIT_KEY)\nA, B = 1, 'x'\n"),
             "b.py": ast.parse("WAKE_S: float = 0.03\nJOBS = 4\nKEY = list(UNIT_KEY)\nB = 'x'\n")}
    assert constants_written_twice(trees) == ["B = 'x' in a.py, b.py", "WAKE_S = 0.03 in a.py, b.py"]


def unused_imports(path: str, tree: ast.Module, source: str) -> list[str]:
    """The names a module imports at its top and never uses (in code or in a quoted
    annotation); an import marked ``noqa`` (a verb module imported to register it) is meant."""
    lines = source.splitlines()
    imported = {(alias.asname or alias.name).split(".")[0]: node.lineno
                for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
                and not any("noqa" in line for line in lines[node.lineno - 1:node.end_lineno])
                for alias in node.names}
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    for n in ast.walk(tree):
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            try:
                used |= {m.id for m in ast.walk(ast.parse(n.value, mode="eval")) if isinstance(m, ast.Name)}
            except SyntaxError:
                pass
    return [f"{path}:{line}: {name}" for name, line in imported.items() if name not in used | {"annotations"}]


@pytest.mark.slow  # parses every module of the package: ~0.7 s
def test_no_module_imports_a_name_it_never_uses():
    """gil_probe imported ``SWITCH_INTERVAL_S`` and never used it; a package's ``__init__``
    re-exports, so it is left out."""
    found = [line for path, tree in module_trees().items() if not path.endswith("__init__.py")
             for line in unused_imports(path, tree, (ROOT / path).read_text())]
    assert not found, "\n".join(found)


def test_an_unused_import_is_found():
    source = "from perfkit.analysis.prediction.gil import SWITCH_INTERVAL_S, Inflation\nx: 'Inflation'\n"
    assert unused_imports("m.py", ast.parse(source), source) == ["m.py:1: SWITCH_INTERVAL_S"]
