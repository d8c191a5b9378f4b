"""The public API: one function per verb, typed results, errors that name the field."""

from __future__ import annotations

import pydoc

import pytest
from builders import make_task, synthetic_config

import perfkit
from perfkit.analysis.metrics.bound import ideal_bound
from perfkit.analysis.metrics.run import run_figures
from perfkit.model import ConfigError, RunConfig, TimeoutPolicy


@pytest.mark.parametrize("verb", ["run", "resume", "compare", "report", "gate", "phases", "save_baseline",
                                  "profile", "validate_tasks", "load_tasks", "load_run"])
def test_every_verb_is_a_documented_top_level_function(verb):
    function = getattr(perfkit, verb)
    assert callable(function) and function.__doc__
    assert verb in dir(perfkit) and verb in perfkit.__all__
    assert function.__name__ in pydoc.render_doc(function)  # what help() shows


def test_run_returns_a_typed_run(tmp_path):
    run = perfkit.run(synthetic_config(candidates=3), tmp_path, tasks=[make_task("t", n_demo=1)])
    assert isinstance(run, perfkit.Run) and isinstance(run.config, RunConfig)
    assert run.config.solver == "synthetic" and run.summary.state == "complete"
    assert len(run.units) == run.summary.units == 2 * 3


@pytest.mark.parametrize("change, field", [
    ({"workers": 0}, "workers"),
    ({"chunk_size": -1}, "chunk_size"),
    ({"timeout": TimeoutPolicy(float("nan"))}, "timeout.unit_timeout_s"),
    ({"timeout": TimeoutPolicy(1.0, sample_budget_s=-2.0)}, "timeout.sample_budget_s"),
    ({"label": "a/b"}, "label"),
    ({"strategy": "no-such-strategy"}, "strategy"),
    ({"backend": "no-such-backend"}, "backend"),
    ({"solver": "no_such_module:Solver"}, "solver"),
])
def test_a_bad_config_names_its_field_and_writes_nothing(tmp_path, change, field):
    config = RunConfig(**{**synthetic_config().__dict__, **change})
    with pytest.raises(ConfigError) as err:
        perfkit.run(config, tmp_path / "runs", tasks=[make_task("t")])
    assert err.value.field == field
    assert "--" not in str(err.value)  # the Python caller is not told about flags
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.slow  # > 0.4 s: the quick subset stays under 30 s (docs/testing.md)
def test_a_user_strategy_gets_the_ideal_bound_of_its_plan(tmp_path):
    """A user's strategy with a stage per sample (two stages here) gets the same ideal bound as
    the built-in hybrid, which has the same shape: the bound comes from the recorded stages."""
    tasks = [make_task("t", n_demo=1, n_test=1)]  # two samples: two stages
    options = {"candidates": 8, "cpu_ms": 1.0}
    ref = perfkit.run(synthetic_config(**options), tmp_path, tasks=tasks)
    bounds = {}
    for strategy, plugins in (("hybrid", ()), ("stage-per-sample", ("plugins.two_stage_strategy",))):
        config = RunConfig(**{**synthetic_config(strategy, "inline", 2, **options).__dict__, "chunk_size": 2,
                              "plugins": plugins})
        run = perfkit.run(config, tmp_path, tasks=tasks)
        assert sorted(run.units["stage"].unique()) == [0, 1]
        # each unit's work from the reference alone (a run's own CPU, when less, would count: it
        # differs from run to run by the machine's noise, while the plans' shapes are the same;
        # so would its own wall, below the work, as a unit's time on its worker)
        units = run.units.assign(cpu_s=float("inf"), wall_s=float("inf"))
        bounds[strategy] = ideal_bound(units, run_figures(run, ref).slots, ref.units)
    (_, hybrid_path, hybrid_ideal), (_, user_path, user_ideal) = bounds["hybrid"], bounds["stage-per-sample"]
    assert user_ideal == pytest.approx(hybrid_ideal)
    assert user_path == pytest.approx(hybrid_path)
