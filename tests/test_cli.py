"""The command line's answers to usage errors, through the real entry point.

In-process through ``perfkit.cli.main`` (the function the ``perfkit`` script calls) for every
case, and through the installed ``perfkit`` script in a subprocess for the cases a new user
types first. Whatever click or typer version is installed: one line naming the problem, the
usage line before it, exit status 2, never a traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from perfkit.cli.app import main


def perfkit(args: list[str], capsys) -> tuple[int, str, str]:
    """Run ``perfkit ARGS`` in-process: (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as info:  # any other exception fails the test, as a traceback would
        main(args)
    out, err = capsys.readouterr()
    code = info.value.code
    return (0 if code is None else code), out, err


def assert_usage_error(code: int, err: str, command: str, *fragments: str) -> None:
    """Exit 2; stderr is the usage line of ``command``, then one ``perfkit: error:`` line."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith(f"Usage: {command}"), err
    assert lines[1].startswith("perfkit: error: "), err
    for fragment in fragments:
        assert fragment in lines[1], err


# -- usage errors ---------------------------------------------------------------------------


def test_misspelt_flag_names_the_close_match(capsys):
    code, _, err = perfkit(["run", "--stratgy", "hybrid"], capsys)
    assert_usage_error(code, err, "perfkit run", "--stratgy", "did you mean --strategy?")


def test_unknown_verb(capsys):
    code, _, err = perfkit(["frobnicate"], capsys)
    assert_usage_error(code, err, "perfkit", "frobnicate")


def test_missing_argument(capsys):
    code, _, err = perfkit(["tasks", "validate"], capsys)
    assert_usage_error(code, err, "perfkit tasks validate", "Missing argument")


def test_a_quiet_command_before_does_not_silence_the_next_ones_usage_error(capsys):
    # the whole suite: an in-process `perfkit report ... -q` in the same worker left the console
    # quiet, and the next test's usage errors printed nothing
    from perfkit.cli.command import console

    console.quiet = True
    code, _, err = perfkit(["run", "--strategy"], capsys)
    assert_usage_error(code, err, "perfkit run", "--strategy")
    console.quiet = True
    code, _, err = perfkit(["tasks", "validate"], capsys)
    assert_usage_error(code, err, "perfkit tasks validate", "Missing argument")


def test_option_without_its_value(capsys):
    code, _, err = perfkit(["run", "--strategy"], capsys)
    assert_usage_error(code, err, "perfkit run", "--strategy")


@pytest.mark.parametrize("args,flag", [
    (["run", "--workers", "many"], "--workers"),
    (["run", "--timeout", "soon"], "--timeout"),
    (["compare", "--repeats", "x"], "--repeats"),
])
def test_bad_value(args, flag, capsys):
    code, _, err = perfkit(args, capsys)
    assert_usage_error(code, err, f"perfkit {args[0]}", flag)


# -- help and version -----------------------------------------------------------------------


def test_version(capsys):
    code, out, err = perfkit(["--version"], capsys)
    assert code == 0, err
    assert out.strip() == f"perfkit {metadata.version('perfkit')}"


def test_bare_perfkit_prints_help(capsys):
    code, out, err = perfkit([], capsys)
    assert code in (0, 2)
    assert "Traceback" not in out + err
    assert "Usage" in out + err and "compare" in out + err


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_on_a_verb(flag, capsys):
    code, out, err = perfkit(["run", flag], capsys)
    assert code == 0, err
    assert "--strategy" in out and "--solver-opt" in out


@pytest.mark.parametrize("verb", [["run"], ["profile"], ["compare"], ["gate"], ["predict"]])
def test_help_on_a_narrow_terminal_cuts_no_option_name(verb, capsys, monkeypatch):
    # at 40 columns typer's rich table printed "--strat…" and "--solve…": a name no one can type
    import typer

    from perfkit.cli.app import app

    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.delenv("TERMINAL_WIDTH", raising=False)
    code, out, err = perfkit([*verb, "--help"], capsys)
    assert code == 0, err
    command = typer.main.get_command(app)
    for word in verb:
        command = command.commands[word]
    names = {o for p in command.params for o in p.opts + p.secondary_opts if o.startswith("--")}
    assert names and all(name in out for name in names), sorted(n for n in names if n not in out)
    assert "-…" not in out


@pytest.mark.parametrize("verb", [[], ["run"], ["compare"], ["report"], ["gate"], ["predict"], ["profile"]])
def test_help_names_no_type_after_a_flag(verb, capsys, monkeypatch):
    # typer 0.29 printed "<bool>" after every flag, --help's own "-h" too: a flag takes no value
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = perfkit([*verb, "--help"], capsys)
    assert code == 0, err
    assert "<bool>" not in out, out
    help_line = next(line for line in out.splitlines() if "--help" in line)
    assert help_line.split("--help")[1].split()[:2] == ["-h", "Show"], help_line
    if verb:  # an option that takes a value still names what to give
        assert any(t in out for t in (" N ", " DIR ", " FILE ", " RUN_DIR")), out


#: Every verb's usage line, as click and the manual pages write one: typer 0.29 printed
#: "perfkit report [OPTIONS] {run_dirs}..." and "perfkit baseline save [OPTIONS] {name} [runs]...".
USAGE_LINES = {
    ("compare",): "perfkit compare [OPTIONS] [EXPERIMENT]",
    ("report",): "perfkit report [OPTIONS] RUN_DIR...",
    ("gate",): "perfkit gate [OPTIONS]",
    ("phases",): "perfkit phases [OPTIONS] PHASE...",
    ("history",): "perfkit history [OPTIONS]",
    ("predict",): "perfkit predict [OPTIONS] RUN_DIR",
    ("profile",): "perfkit profile [OPTIONS]",
    ("run",): "perfkit run [OPTIONS]",
    ("strategies",): "perfkit strategies [OPTIONS]",
    ("tasks", "list"): "perfkit tasks list [OPTIONS] [SPEC]",
    ("tasks", "validate"): "perfkit tasks validate [OPTIONS] PATH",
    ("baseline", "save"): "perfkit baseline save [OPTIONS] NAME [RUN_DIR...]",
}
#: What a value's placeholder may look like: NAME, KEY=VALUE, RUN_DIR|FILE|NAME, NAME,...,
#: RUN_DIR... — never a Python type ("<list[str]>", "<path>").
METAVAR = r"[A-Z][A-Z_]*(=[A-Z]+|(\|[A-Z_]+)+)?(,\.\.\.|\.\.\.)?"


def _verbs() -> dict[tuple[str, ...], object]:
    import typer

    import perfkit.cli.verbs  # noqa: F401  registers every verb
    from perfkit.cli.app import app

    found, groups = {}, [((), typer.main.get_command(app))]
    while groups:
        path, group = groups.pop()
        for name, command in group.commands.items():
            if hasattr(command, "commands"):  # tasks, baseline: their verbs
                groups.append(((*path, name), command))
            else:
                found[(*path, name)] = command
    return found


def test_every_verb_has_a_usage_line_here():
    assert set(_verbs()) == set(USAGE_LINES), sorted(set(_verbs()) ^ set(USAGE_LINES))


@pytest.mark.parametrize("verb", sorted(USAGE_LINES), ids=" ".join)
def test_a_verbs_usage_line_and_every_value_it_takes_read_as_a_cli_user_expects(verb, capsys, monkeypatch):
    import re

    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = perfkit([*verb, "--help"], capsys)
    assert code == 0, err
    usage = next(line.strip() for line in out.splitlines() if "Usage:" in line)
    assert usage == f"Usage: {USAGE_LINES[verb]}", usage
    assert not re.search(r"<(str|int|float|path|bool|list\[\w+\])>", out, re.I), out  # no Python type
    for param in _verbs()[verb].params:
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            continue
        assert param.metavar and re.fullmatch(METAVAR, param.metavar), (param.name, param.metavar)
        assert param.metavar in out, param.metavar


@pytest.mark.parametrize("verb", [["run"], ["profile"], ["compare"], ["baseline", "save"]])
def test_every_solver_help_names_every_built_in_solver(verb, capsys, monkeypatch):
    from perfkit.solvers import BUILTIN_SOLVERS

    monkeypatch.setenv("COLUMNS", "200")  # one line per option: no name cut in two by the wrap
    code, out, err = perfkit([*verb, "--help"], capsys)
    assert code == 0, err
    line = next(line for line in out.splitlines() if "--solver " in line)
    assert all(name in line for name in BUILTIN_SOLVERS), line


# -- --solver-opt values a solver rejects ----------------------------------------------------

REJECTED = [
    # (solver, --solver-opt, a fragment of the error line)
    ("synthetic", "n=0", "'n'"),                            # unknown key
    ("synthetic", "cpu_ms=abc", "abc"),                     # wrong type
    ("synthetic", "cpu_ms=[1]", "list"),                    # wrong type (JSON)
    ("synthetic", "cpu_ms=-1", "cpu_ms"),                   # out of range
    ("synthetic", "candidates=0", "candidates"),            # out of range
    ("synthetic", "cooperative=maybe", "cooperative"),      # not a boolean
    ("synthetic", "faults=explode:c001", "explode:c001"),   # bad fault grammar
    ("synthetic", "faults=raise:c099", "c099"),             # a fault on no candidate
    ("arc", "n=0", "'n'"),                                  # unknown key
    ("arc", "depth=0", "depth"),                            # out of range
    ("arc", "depth=deep", "deep"),                          # wrong type
    ("arc", "max_candidates=0", "max_candidates"),          # out of range
    ("arc", "depth", "KEY=VALUE"),                          # not KEY=VALUE
]


@pytest.mark.parametrize("solver,option,fragment", REJECTED, ids=[f"{s}-{o}" for s, o, _ in REJECTED])
def test_rejected_solver_option_is_one_line(solver, option, fragment, tmp_path, capsys):
    store = tmp_path / "runs"
    code, out, err = perfkit(["run", "--solver", solver, "--solver-opt", option, "--tasks", "synthetic:1",
                              "--store", str(store)], capsys)
    assert code == 2, out + err
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("perfkit: error: "), err
    assert fragment in lines[0], err
    assert not store.exists() or not any(store.iterdir()), "nothing is written for a run that could not start"


# -- the installed script --------------------------------------------------------------------


@pytest.mark.slow  # three interpreter starts; every case above runs in the quick subset
def test_the_installed_script():
    """`perfkit` as installed beside this Python: a misspelt flag, --version and bare `perfkit`,
    started together (each start imports the CLI)."""
    script = Path(sys.executable).with_name("perfkit")
    assert script.exists(), f"no perfkit script beside {sys.executable}: install with `make install`"
    cases = {"misspelt": ["run", "--stratgy", "hybrid"], "version": ["--version"], "bare": []}
    procs = {name: subprocess.Popen([str(script), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True) for name, args in cases.items()}
    done = {name: (p.communicate(timeout=120), p.returncode) for name, p in procs.items()}

    (out, err), code = done["misspelt"]
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == \
        "perfkit: error: No such option: --stratgy (did you mean --strategy?)", err
    (out, err), code = done["version"]
    assert code == 0 and out.strip() == f"perfkit {metadata.version('perfkit')}", err
    (out, err), code = done["bare"]
    assert code in (0, 2) and "Traceback" not in out + err and "Usage" in out + err


# -- what a pipe reads ---------------------------------------------------------------------------

@pytest.mark.slow  # > 0.4 s: the quick subset stays under 30 s (docs/testing.md)
def test_piped_output_keeps_whole_lines_and_a_terminal_still_wraps(monkeypatch):
    """``perfkit strategies | cat`` (no terminal, no $COLUMNS): one whole line per strategy,
    not cut at rich's default 80 columns; a terminal (TTY_COMPATIBLE=1, rich's own switch)
    still wraps at its width."""
    from perfkit import strategies

    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR", "TERM", "TTY_COMPATIBLE")}

    def line_of(name: str) -> str:  # rich prints a tab as spaces: compared word by word
        s = strategies.get(name)
        return " ".join(f"{name} {'sample-level' if s.sample_level else 'candidate-level'} {s.description}".split())

    built_in = ("sequential", "sample-parallel", "candidate-parallel", "hybrid")
    assert max(len(line_of(name)) for name in built_in) > 80  # else nothing here could be cut
    piped = subprocess.run([sys.executable, "-m", "perfkit", "strategies"], capture_output=True, text=True,
                           env=env, timeout=60)
    assert piped.returncode == 0, piped.stderr
    # every line a whole strategy (another test may have registered more in this process only)
    lines = [" ".join(line.split()) for line in piped.stdout.splitlines()]
    names = [line.split(" ", 1)[0] for line in lines]
    assert set(built_in) <= set(names) and set(names) <= set(strategies.names()), lines
    assert lines == [line_of(name) for name in names]
    # the consoles are made in one place: a terminal's, or one given $COLUMNS, wraps as before
    from perfkit.cli.command import _console

    for name in ("COLUMNS", "FORCE_COLOR", "TERM", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)
    assert _console().soft_wrap
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    assert not _console().soft_wrap
    monkeypatch.delenv("TTY_COMPATIBLE")
    monkeypatch.setenv("COLUMNS", "80")
    assert not _console().soft_wrap and _console().width == 80


def test_gate_help_says_repeats_also_time_a_rebuilt_baseline(capsys, monkeypatch):
    # session 15: a rebuilt baseline's revision is timed by --repeats timed runs too (api.gate
    # n_timed); the help said only "when measuring the current code"
    monkeypatch.setenv("COLUMNS", "400")
    code, out, err = perfkit(["gate", "--help"], capsys)
    assert code == 0, err
    line = next(line for line in out.splitlines() if "--repeats" in line)
    assert "rebuilt" in line, line
