"""A new user's plausible mistakes, through the real entry point: each is one line on stderr
naming the flag (or the experiment file's field) and the one value to correct, as typed —
never Python's list repr, never another verb's flag — and exit status 2, with nothing run.

Every case fails before a solver is built, in-process (``perfkit.cli.main``): none runs a run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from perfkit.cli.app import main


def perfkit_cli(args: list[str], capsys) -> tuple[int, str]:
    """Run ``perfkit ARGS`` in-process: (exit status, stderr)."""
    with pytest.raises(SystemExit) as info:  # any other exception fails the test, as a traceback would
        main(args)
    _, err = capsys.readouterr()
    return info.value.code, err


def one_line(code: int, err: str) -> str:
    """The error line, after checking that it is the only one and that the exit status is 2."""
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("perfkit: error: "), err
    assert "[" not in lines[0], err  # no list repr
    return lines[0]


def compare(args: list[str], tmp_path: Path, capsys) -> str:
    store = tmp_path / "runs"
    code, err = perfkit_cli(["compare", "--solver", "synthetic", "--tasks", "synthetic:1x1+1", "--store", str(store),
                         "--out", str(tmp_path / "report"), "--no-progress", *args], capsys)
    line = one_line(code, err)
    assert not store.exists() or not any(store.iterdir()), "nothing runs after a bad value"
    return line


@pytest.mark.parametrize("args,expected", [
    (["--workers", "0,2"], "--workers 0:"),                       # the bad count, not ['0', '2']
    (["--workers", "2,1..0"], "--workers 1..0:"),
    (["--backends", "thread,proces"], "--backends proces: unknown backend"),  # compare's flag, not run's
    (["--strategies", ","], "--strategies: expected at least one strategy"),  # not a run of the reference alone
    (["--backends", ","], "--backends: expected at least one backend"),
])
def test_compare_names_the_value_to_correct_by_its_own_flag(args, expected, tmp_path, capsys):
    assert compare(args, tmp_path, capsys).startswith(f"perfkit: error: {expected}")


@pytest.mark.parametrize("field,value,expected", [
    ("backends", '["proces"]', "field 'backends': 'proces': unknown backend"),
    ("workers", "[2, 0]", "field 'workers': 0:"),
    ("plugins", '["perfkit_no_such_plugin"]', "field 'plugins': 'perfkit_no_such_plugin': cannot import"),
])
def test_an_experiment_files_bad_field_is_named_in_the_file(field, value, expected, tmp_path, capsys):
    experiment = tmp_path / "x.toml"
    experiment.write_text(f'solver = "synthetic"\ntasks = "synthetic:1x1+1"\n{field} = {value}\n')
    code, err = perfkit_cli(["compare", str(experiment), "--store", str(tmp_path / "runs")], capsys)
    assert one_line(code, err).startswith(f"perfkit: error: {experiment}: {expected}")


@pytest.mark.parametrize("solver,options,expected", [
    ("synthetic", "[solver_options]\nbogus = 1\n", "field 'solver': 'synthetic' (with its solver_options bogus): "),
    ("perfkit_no_such_mod:X", "", "field 'solver': 'perfkit_no_such_mod:X': cannot import module"),
    ("synthetic", "[solver_options]\ncpu_ms = 'x'\n", "field 'solver_options.cpu_ms': 'x': expected a number"),
])
def test_an_experiment_files_solver_that_cannot_be_built_is_named_in_the_file(solver, options, expected, tmp_path,
                                                                               capsys):
    """It was told as the flag ``--solver`` the user never typed, without the file."""
    experiment = tmp_path / "x.toml"
    experiment.write_text(f'solver = "{solver}"\ntasks = "synthetic:1x1+1"\n{options}')
    code, err = perfkit_cli(["compare", str(experiment), "--store", str(tmp_path / "runs"), "--no-progress"], capsys)
    assert one_line(code, err).startswith(f"perfkit: error: {experiment}: {expected}")


@pytest.fixture
def plugin_strategy(tmp_path, monkeypatch) -> str:
    """A plugin module (its name is returned) registering the strategy ``walkthrough-backwards``,
    in a copy of the registry that the test's end restores."""
    from perfkit import strategies

    (tmp_path / "walkthrough_plugin.py").write_text(
        "from perfkit.strategies import Plan, register\n"
        "def backwards(samples, candidates, workers, chunk_size):\n"
        "    return Plan(stages=(tuple(tuple((s, i, c) for c in reversed(candidates)) for s, i in samples),))\n"
        "register('walkthrough-backwards', backwards, description='a plugin strategy')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(strategies, "_REGISTRY", dict(strategies._REGISTRY))
    monkeypatch.delitem(sys.modules, "walkthrough_plugin", raising=False)
    return "walkthrough_plugin"


def test_an_experiment_may_use_the_strategy_its_plugin_registers(plugin_strategy, tmp_path):
    """The file's ``plugins`` are imported before its strategies are checked (as the runner
    imports them before it plans): a strategy registered by a plugin was refused at load."""
    from perfkit.orchestration.experiment import load_experiment, with_overrides

    experiment = tmp_path / "x.toml"
    experiment.write_text(f'solver = "synthetic"\ntasks = "synthetic:1x1+1"\nplugins = ["{plugin_strategy}"]\n'
                          'strategies = ["sequential", "walkthrough-backwards"]\n')
    assert load_experiment(experiment).strategies == ("sequential", "walkthrough-backwards")
    # on the command line, --plugin adds to the file's plugins
    exp = with_overrides(load_experiment(experiment), plugins=["json"])
    assert exp.plugins == (plugin_strategy, "json")


@pytest.mark.parametrize("args,expected", [
    (["--strategies", "hybird"], "--strategies hybird: unknown strategy"),   # predict's flag, not run's
    (["--machines", "0"], "--machines 0:"),                                  # not the worker counts it scales
    (["--workers", "1,0"], "--workers 0:"),
    (["--timeout", "1,0"], "--timeout 0.0:"),
    (["--chunk-size", "0"], "--chunk-size 0:"),
])
def test_predict_names_the_value_to_correct(args, expected, tmp_path, capsys):
    code, err = perfkit_cli(["predict", str(tmp_path / "no-run"), *args], capsys)  # checked before the run is read
    assert one_line(code, err).startswith(f"perfkit: error: {expected}")


def test_a_solver_reference_is_told_as_typed_not_as_an_emoji(tmp_path, capsys):
    """rich read ``:X:`` in ``--solver mod:X: cannot import`` as an emoji code: the line named
    the solver ``perfkit_no_such_mod❌ cannot import``."""
    code, err = perfkit_cli(["run", "--solver", "perfkit_no_such_mod:X", "--tasks", "synthetic:1x1+1",
                             "--store", str(tmp_path)], capsys)
    assert one_line(code, err).startswith("perfkit: error: --solver perfkit_no_such_mod:X: cannot import"), err


def test_history_names_an_unknown_metric(tmp_path, capsys):
    code, err = perfkit_cli(["history", "--metric", "instr", "--store", str(tmp_path)], capsys)
    assert one_line(code, err) == "perfkit: error: --metric instr: expected one of instructions, wall, cpu"


def test_gate_names_the_side_that_does_not_exist(tmp_path, capsys):
    missing = tmp_path / "nope"
    code, err = perfkit_cli(["gate", "--baseline", "ci-arc", "--current", str(missing), "--store", str(tmp_path)], capsys)
    assert one_line(code, err).startswith(f"perfkit: error: --current {missing}: no such run folder")
    code, err = perfkit_cli(["baseline", "save", "x", str(missing), "--directory", str(tmp_path)], capsys)
    assert one_line(code, err).startswith(f"perfkit: error: RUN_DIR {missing}: no such run folder")


@pytest.mark.parametrize("args,expected", [
    (["gate", "--threshold", "-5%"], "--threshold -5%: must be positive"),   # as typed, not -0.05
    (["gate", "--instruction-threshold", "0"], "--instruction-threshold 0: must be positive"),
    (["phases", "a", "b", "--threshold", "-0.05"], "--threshold -0.05: must be positive"),
    (["gate", "--pairs", "0"], "--pairs 0: interleaved pairs are measured only against a base revision (a git "
                               "ref), and none is given"),
    (["gate", "--pairs", "5"], "--pairs 5: interleaved pairs are measured only against a base revision"),
])
def test_gate_refuses_what_it_would_otherwise_ignore_or_misread(args, expected, tmp_path, capsys):
    # the sides do not exist: each value is refused before either is read
    sides = ["--baseline", str(tmp_path / "a"), "--current", str(tmp_path / "b")] if args[0] == "gate" else []
    code, err = perfkit_cli([*args, *sides, "--store", str(tmp_path)], capsys)
    assert one_line(code, err).startswith(f"perfkit: error: {expected}")


@pytest.mark.parametrize("field,value,expected", [
    ("phases", ["baseline"], "PHASE baseline: "),       # an argument's words
    ("workers", [0, 2], "--workers 0,2: "),            # a flag's comma-separated value
    ("timeouts", (0.5, 0.0), "--timeout 0.5,0.0: "),
])
def test_a_list_value_is_told_as_typed(field, value, expected):
    from perfkit.cli.flags import describe
    from perfkit.model import ConfigError

    assert describe(ConfigError(field, value, "why")) == f"{expected}why"


def test_a_complete_run_without_its_summary_is_a_torn_folder_not_a_zero_second_run(tmp_path, capsys):
    """The writer marks meta.json complete before it writes summary.json (a full disk can stop
    it between the two): the report read such a run as 0 s of wall and CPU."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "meta.json").write_text(json.dumps({"state": "complete", "config": {}}))
    (run / "units.jsonl").write_text("")
    code, err = perfkit_cli(["report", str(run), "--out", str(tmp_path / "report")], capsys)
    assert one_line(code, err).startswith(f"perfkit: error: {run / 'summary.json'}: missing")


def test_an_interrupted_comparison_says_what_to_do_beside_resuming_its_run(tmp_path, capsys, monkeypatch):
    """The resume line finishes the one run that was interrupted, not the comparison."""
    import perfkit
    from perfkit.model import RunInterrupted

    def interrupted(*args, **kwargs):
        raise RunInterrupted(tmp_path / "runs" / "r1")

    monkeypatch.setattr(perfkit, "compare", interrupted)
    code, err = perfkit_cli(["compare", "--store", str(tmp_path / "runs"), "--no-progress"], capsys)
    assert code == 130, err
    lines = err.strip().splitlines()
    assert lines[0].startswith(f"perfkit: comparison interrupted; its runs so far are in {tmp_path / 'runs'}"), err
    assert lines[1] == f"perfkit: run interrupted; resume it with: perfkit run --resume {tmp_path / 'runs' / 'r1'}"


def test_strategies_lists_those_a_plugin_registers(plugin_strategy, capsys):
    with pytest.raises(SystemExit) as info:
        main(["strategies", "--plugin", plugin_strategy])
    out, err = capsys.readouterr()
    assert info.value.code in (0, None), err
    assert ["walkthrough-backwards", "candidate-level", "a plugin strategy"] in [line.split(maxsplit=2) for line in
                                                                          out.splitlines()]


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory) -> Path:
    """One small complete run (inline, 2 units)."""
    import perfkit
    from perfkit.model import RunConfig

    store = tmp_path_factory.mktemp("store")
    return perfkit.run(RunConfig(solver="synthetic", tasks="synthetic:1x1+0", solver_options={"candidates": 2}),
                       store_dir=store).path


@pytest.mark.slow  # a run, and the analysis modules' import
@pytest.mark.parametrize("verb", [
    ["report", "RUN"], ["phases", "RUN", "RUN"],
    ["compare", "--solver", "synthetic", "--tasks", "synthetic:1x1+1"],
    ["profile", "--solver", "synthetic", "--tasks", "synthetic:1x1+1", "--no-baseline"],
])
def test_an_output_folder_that_cannot_be_made_is_one_line(verb, stored_run, tmp_path, capsys):
    """``--out`` naming a file was mkdir's traceback (after every run, for compare)."""
    taken = tmp_path / "report.md"
    taken.write_text("")
    store = tmp_path / "runs"
    args = [str(stored_run) if v == "RUN" else v for v in verb]
    code, err = perfkit_cli([*args, "--out", str(taken), *(["--store", str(store)] if "RUN" not in verb else [])],
                            capsys)
    assert code == 2 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith(f"perfkit: error: {taken}: cannot create the "), err
    assert not store.exists() or not any(store.iterdir()), "nothing runs before the folder is made"


def test_a_meta_json_value_that_cannot_be_is_named_by_its_field(tmp_path, capsys):
    """A hand-edited meta.json ran into the analysis: ValueError: invalid literal for int()."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "meta.json").write_text(json.dumps({"state": "complete", "config": {"solver": "synthetic", "tasks": "synthetic:1",
                                                                           "workers": "two"}}))
    (run / "summary.json").write_text(json.dumps({"state": "complete"}))
    (run / "units.jsonl").write_text("")
    code, err = perfkit_cli(["report", str(run), "--out", str(tmp_path / "report")], capsys)
    assert one_line(code, err) == (f"perfkit: error: {run / 'meta.json'}: field 'config.workers': 'two': "
                                   "expected an integer ≥ 1")


@pytest.mark.parametrize("edit, field, hint", [
    (lambda meta: meta["config"].update(workerz=meta["config"].pop("workers")), "config.workerz", "'workers'"),
    (lambda meta: meta["config"]["timeout"].update(unit_timeout=1), "config.timeout.unit_timeout",
     "'unit_timeout_s'"),
    (lambda meta: meta.update(stat=meta.pop("state")), "stat", "'state'"),
])
def test_a_meta_json_key_perfkit_never_wrote_is_refused_by_name(edit, field, hint, stored_run, tmp_path, capsys):
    """A key typo was dropped silently: 'workerz' read as the default of one worker, 'stat' as
    whatever summary.json said. Every key perfkit ever wrote still loads (the stored run)."""
    import shutil

    import perfkit

    assert perfkit.load_run(stored_run).state == "complete"
    run = tmp_path / "run"
    shutil.copytree(stored_run, run)
    meta = json.loads((run / "meta.json").read_text())
    edit(meta)
    (run / "meta.json").write_text(json.dumps(meta))
    code, err = perfkit_cli(["report", str(run), "--out", str(tmp_path / "report")], capsys)
    assert one_line(code, err) == f"perfkit: error: {run / 'meta.json'}: field '{field}': unknown key (did you mean {hint}?)"
    meta["state"] = "interrupted"  # nor is a run resumed on it: refused before anything is written
    (run / "meta.json").write_text(json.dumps(meta))
    code, err = perfkit_cli(["run", "--resume", str(run)], capsys)
    assert one_line(code, err).startswith(f"perfkit: error: {run / 'meta.json'}: field '{field}': unknown key")
    assert json.loads((run / "meta.json").read_text()) == meta


def test_history_names_an_unknown_benchmark(tmp_path, capsys):
    """It printed the history of no measurement ("too few measurements"), exit 0."""
    (tmp_path / "history.jsonl").write_text(json.dumps(
        {"time": "2026-11-30T20:51:47+0000", "commit": "c5d36fd4", "benchmark": "arc default sequential/inline×1",
         "metric": "instructions", "value": 1.8e9, "source": "gate", "build": "939751ad"}) + "\n")
    code, err = perfkit_cli(["history", "--store", str(tmp_path), "--benchmark", "arc defualt"], capsys)
    assert one_line(code, err) == (f"perfkit: error: --benchmark arc defualt: no instructions measurements of it in "
                                   f"{tmp_path} (measured: arc default sequential/inline×1)")


def _torn_copy(run: Path, tmp_path: Path) -> Path:
    """A copy of ``run`` as a crash mid-write leaves it: no units.parquet, and units.jsonl ending
    in half a record."""
    import shutil

    torn = tmp_path / "torn"
    shutil.copytree(run, torn)
    (torn / "units.parquet").unlink()
    with open(torn / "units.jsonl", "ab") as units:
        units.write(b'{"task_id": ["syn-0')
    return torn


def test_a_run_whose_only_record_is_torn_is_refused_with_the_torn_record(stored_run, tmp_path, capsys):
    """The refusal read "RUN_DIRS: ... (complete, 0 units recorded)": the argument by typer's
    parameter name, and not a word about the units.jsonl record it could not read."""
    torn = _torn_copy(stored_run, tmp_path)
    whole = (torn / "units.jsonl").read_bytes().split(b"\n")
    (torn / "units.jsonl").write_bytes(whole[-1])  # only the torn record is left
    code, err = perfkit_cli(["report", str(torn), "--out", str(tmp_path / "report")], capsys)
    assert code == 2 and "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert lines[0].startswith("perfkit: error: RUN_DIR: no complete run with a recorded unit to compare: "), err
    assert lines[1].startswith(f"perfkit: error: {torn / 'units.jsonl'}: line 1 of units.jsonl torn"), err


@pytest.mark.slow  # a resume (~0.3 s)
def test_a_resume_says_which_torn_record_it_skipped_amid_whole_ones(stored_run, tmp_path, capsys):
    """A torn tail is cut and said ("resume cut N bytes"); a torn record between whole ones was
    skipped without a word, its units run again, and nothing in the run folder said so."""
    import shutil

    import perfkit

    run = tmp_path / "run"
    shutil.copytree(stored_run, run)
    (run / "units.parquet").unlink()
    (run / "units.jsonl").write_bytes(b'{"columns": {"task_id": ["syn-0\n' + (run / "units.jsonl").read_bytes())
    meta = json.loads((run / "meta.json").read_text())
    (run / "meta.json").write_text(json.dumps({**meta, "state": "interrupted"}))
    with pytest.raises(SystemExit) as info:
        main(["run", "--resume", str(run), "--no-progress"])
    err = capsys.readouterr().err
    assert info.value.code in (0, None), err
    assert (f"perfkit: warning: {run / 'units.jsonl'}: line 1 of units.jsonl torn (cut mid-record): skipped "
            "(resume: any unit it held ran again)") in err, err
    resumed = perfkit.load_run(run)
    assert resumed.state == "complete" and len(resumed.units) == 2
    assert any("line 1 of units.jsonl torn" in note for note in resumed.notes)  # kept in the folder


@pytest.mark.slow  # a run, and a prediction
def test_predict_says_what_reading_a_torn_run_skipped(stored_run, tmp_path):
    """perfkit report warned about a torn record; predict predicted from the remaining units
    without a word (and phases compared them, below)."""
    import perfkit

    torn = _torn_copy(stored_run, tmp_path)
    result = perfkit.predict(torn, workers=[1], backends=["process"], measure=False, gil_probe=False,
                             out=tmp_path / "predicted")
    assert any("torn" in note for note in result.notes), result.notes


@pytest.mark.slow  # a run, and a report
def test_the_report_itself_says_what_reading_a_torn_run_skipped(stored_run, tmp_path):
    """The terminal warned; report.md and report.json showed fewer units than the task has,
    without a word why."""
    import perfkit

    torn = _torn_copy(stored_run, tmp_path)
    folder = perfkit.report([torn], tmp_path / "report").report_dir
    note = f"{torn / 'units.jsonl'}: line 2 of units.jsonl torn (cut mid-record): skipped"
    assert f"Read from the run folders with records skipped: {note}." in (folder / "report.md").read_text()
    assert json.loads((folder / "report.json").read_text())["notes"] == [note]


@pytest.mark.slow  # a run
def test_phases_warns_about_a_torn_run(stored_run, tmp_path, capsys):
    torn = _torn_copy(stored_run, tmp_path)
    with pytest.raises(SystemExit):
        main(["phases", str(torn), str(torn), "--out", str(tmp_path / "phases")])
    err = capsys.readouterr().err
    assert f"perfkit: warning: {torn / 'units.jsonl'}: " in err and "torn" in err, err
