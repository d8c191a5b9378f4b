"""Fault injection: every bad option and every hostile environment is one line and exit
status 2, before any run folder exists (issue 12, fault 13)."""

from __future__ import annotations

import os
import socket

import pytest
from builders import error_lines, perfkit_main, tmpfs

RUN = ["run", "--solver", "synthetic", "--solver-opt", "candidates=2", "--solver-opt", "cpu_ms=0",
       "--tasks", "synthetic:1x1+1"]


def closed_port() -> int:
    """A local TCP port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("args,flag", [
    (["--solver-opt", "candidates=abc"], "--solver-opt candidates=abc: expected an integer"),
    (["--solver-opt", "cpu_ms=NaN"], "--solver-opt cpu_ms=nan: expected a finite number >= 0"),
    (["--solver-opt", "faults=bogus"], "--solver-opt faults=bogus: bad fault 'bogus'"),
    (["--solver-opt", "nokey=1"], "--solver synthetic: cannot build the solver: TypeError"),
    (["--workers", "0"], "--workers 0: expected an integer ≥ 1"),
    (["--chunk-size", "0"], "--chunk-size 0: expected an integer ≥ 1"),
    (["--timeout", "nan"], "--timeout nan: expected a finite positive number of seconds"),
    (["--timeout", "inf"], "--timeout inf: expected a finite positive number of seconds"),
    (["--timeout", "0"], "--timeout 0.0: expected a finite positive number of seconds"),
    (["--sample-budget", "nan"], "--sample-budget nan: expected a finite positive number of seconds"),
    (["--task-budget", "-2"], "--task-budget -2.0: expected a finite positive number of seconds"),
    (["--label", "a/b"], "--label a/b: expected a plain name"),
    (["--label", ".."], "--label ..: expected a plain name"),
    (["--backend", "bogus"], "--backend bogus: unknown backend"),
    (["--plugin", "no_such_plugin_module"], "--plugin no_such_plugin_module: cannot import"),
])
def test_a_bad_option_is_one_line_exit_2_and_no_run_folder(tmp_path, capsys, args, flag):
    store = tmp_path / "runs"
    code, out, err = perfkit_main([*RUN, *args, "--store", str(store)], capsys)
    assert code == 2, out + err
    lines = error_lines(err)
    assert len(lines) == 1 and lines[0].startswith(f"perfkit: error: {flag}"), err
    assert not store.exists(), "a run folder was made for a run that could not start"


def test_an_unreachable_dask_scheduler_is_one_line_exit_2_and_no_run_folder(tmp_path, capsys):
    store, address = tmp_path / "runs", f"tcp://127.0.0.1:{closed_port()}"
    code, out, err = perfkit_main([*RUN, "--backend", "dask", "--scheduler", address, "--store", str(store)], capsys)
    assert code == 2, out + err
    assert error_lines(err) == [f"perfkit: error: --scheduler {address}: cannot reach the Dask scheduler: "
                                "Connection refused"]
    assert not store.exists()


@pytest.fixture
def read_only_store(tmp_path):
    """A store folder this process cannot write: a read-only tmpfs as root (who may write
    anywhere else), a folder without write permission otherwise."""
    store = tmp_path / "ro"
    store.mkdir()
    if os.geteuid() == 0:
        with tmpfs(store, "ro,size=64k", "a read-only tmpfs"):
            yield store
    else:
        store.chmod(0o555)
        yield store
        store.chmod(0o755)


def test_a_read_only_store_is_one_line_and_exit_2(read_only_store, capsys):
    code, out, err = perfkit_main([*RUN, "--store", str(read_only_store)], capsys)
    assert code == 2, out + err
    lines = error_lines(err)
    assert len(lines) == 1 and lines[0].startswith(f"perfkit: error: {read_only_store}: cannot create the run "
                                                   "folder:"), err
    assert not list(read_only_store.iterdir())


def test_a_store_that_is_a_file_is_one_line_and_exit_2(tmp_path, capsys):
    store = tmp_path / "file"
    store.write_text("not a folder")
    code, out, err = perfkit_main([*RUN, "--store", str(store)], capsys)
    assert code == 2, out + err
    assert len(error_lines(err)) == 1 and "cannot create the run folder: Not a directory" in err, err


def test_profile_checks_its_run_before_making_its_folder(tmp_path, capsys):
    out_dir = tmp_path / "profile"
    code, out, err = perfkit_main(["profile", *RUN[1:], "--timeout", "-1", "--out", str(out_dir), "--no-baseline"],
                                  capsys)
    assert code == 2, out + err
    lines = [line for line in error_lines(err) if not line.startswith("profiling with")]
    assert lines == ["perfkit: error: --timeout -1.0: expected a finite positive number of seconds"], err
    assert not out_dir.exists()


def test_compare_checks_every_configuration_before_the_first_run(tmp_path, capsys):
    """An opaque solver cannot run candidate-parallel: found before the sequential runs, not after."""
    store = tmp_path / "runs"
    code, out, err = perfkit_main(["compare", "--solver", "plugins.example_solvers:OpaqueSolver", "--tasks",
                                   "synthetic:1x1+1", "--strategies", "sequential,candidate-parallel", "--backends",
                                   "thread", "--workers", "2", "--repeats", "1", "--store", str(store), "--out",
                                   str(tmp_path / "report")], capsys)
    assert code == 2 and len(error_lines(err)) == 1 and "opaque" in err, out + err
    assert not store.exists()
