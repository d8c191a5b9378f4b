"""Measuring for the gate: the current code (and a base revision) as sides
(perfkit/store/baseline.py) that perfkit/analysis/gate.py judges, or that become a baseline.

- Repeats in this process (:func:`measure`): the unpaired wall/CPU figures of a baseline.
- Instruction counts (:func:`count_instructions`): one run per side under valgrind
  (perfkit/orchestration/instructions.py); base and head run side by side, counts do not
  depend on load.
- Timed repeats of a revision rebuilt here (:func:`timed_repeats`): fresh processes outside
  valgrind, alternated with the current code's in a random order, set beside each side's
  counted run (:func:`beside_count`): a side's count comes from its counted run only, its
  timing from timed runs only.
- Paired timing (:func:`measure_pairs`): base and head alternate in randomised interleaved
  pairs (Abedi & Brecht's randomized multiple interleaved trials), each sample a fresh process
  timing the run window, so drift and the machine's speed states hit both alike; looked at
  every few pairs, stopped early when the verdict is clear.
- A base revision (:func:`base_revision`): a temporary git worktree of the ref, run with this
  environment when its dependency declaration is the same as the current tree's (the code is
  then the only difference), else with an environment built for it.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

from perfkit.analysis.gate import PairedTiming, decided, judge_pairs
from perfkit.model import ConfigError, PerfkitError, RunConfig
from perfkit.orchestration.instructions import Target, measure_instructions, start
from perfkit.runner import run
from perfkit.store import load_run
from perfkit.store.baseline import Side, side_of_runs

#: Repeats measured when the caller does not say (and the baseline has fewer).
DEFAULT_REPEATS = 5
#: Paired timing: at least this many pairs before a verdict, at most MAX_PAIRS, a look every
#: LOOK_EVERY pairs. 25 pairs detect +10 % CPU, and +10 % of unqueued wall next to two busy
#: loops, ≥ 95 % of the time here (docs/benchmarks.md §3).
MIN_PAIRS, MAX_PAIRS, LOOK_EVERY = 10, 25, 5
#: Files whose content decides a tree's environment: equal files, equal environment.
DEPENDENCY_FILES = ("pyproject.toml", "uv.lock")


def check_repeats(repeats: int) -> None:
    """How many runs of a side to time, checked before anything is measured (ConfigError naming it)."""
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ConfigError("repeats", repeats, "expected an integer ≥ 1")


def measure(config: RunConfig, repeats: int, store: Path, label: str = "gate-current") -> Side:
    """Run ``config`` ``repeats`` times into ``store`` and summarise the runs as one side."""
    check_repeats(repeats)
    runs = [run(replace(config, label=label, repeat=i), store) for i in range(repeats)]
    return side_of_runs(label, runs)


def beside_count(counted: Side, timed: Side) -> Side:
    """The counted run (one run under valgrind: the instruction count) with the timed repeats
    measured beside it: their wall and CPU are the side's timing, the first of them carries the
    one count (a count copied to every repeat read "(2 vs 5 runs)" for one run counted), and
    their answers are judged after the counted run's (repeat 1, then the timed repeats): the
    same code ran them all, so an answer a timed repeat lost or changed is the code's."""
    first = counted.repeats[0]
    repeats = [replace(r, instructions=first.instructions if i == 0 else None,
                       task_instructions=first.task_instructions if i == 0 else {})
               for i, r in enumerate(timed.repeats)]
    return replace(counted, repeats=repeats, repeat_answers=[*counted.repeat_answers[:1], *timed.repeat_answers])


class TimedRunFailed(PerfkitError):
    """A timed run of :func:`timed_repeats` failed; ``target`` names whose (``base``, ``head``):
    a base revision that cannot be timed is left untimed, the current code's failure is not."""

    def __init__(self, target: str, reason: str):
        super().__init__(reason)
        self.target, self.reason = target, reason


def timed_repeats(config: RunConfig, targets: Sequence[Target], repeats: int, store: Path,
                  seed: Optional[int] = None) -> list[Side]:
    """``repeats`` timed runs of each target, each a fresh process outside valgrind, in rounds
    whose order is drawn afresh (by ``seed``) so drift and the machine's speed states hit every
    target alike; each target's runs as one side. What times a revision rebuilt here: its
    counted run ran under valgrind, 60-100x slower, so its wall and CPU measure valgrind."""
    check_repeats(repeats)
    rng = random.Random(seed)
    runs: dict[str, list] = {t.name: [] for t in targets}
    with tempfile.TemporaryDirectory(prefix="perfkit-timed-") as tmp:
        for i in range(repeats):
            for target in rng.sample(list(targets), len(targets)):
                try:
                    result = start(target, replace(config, label=f"gate-{target.name}", repeat=i), store,
                                   Path(tmp) / f"{i}-{target.name}", valgrind=False).wait()
                    runs[target.name].append(load_run(Path(result["run_dir"])))
                except PerfkitError as err:
                    raise TimedRunFailed(target.name, str(err)) from err
    return [side_of_runs(t.name, runs[t.name]) for t in targets]


def check_instruction_config(config: RunConfig) -> None:
    """Instruction counts follow one process: the inline backend only."""
    if config.backend != "inline":
        raise ConfigError("backend", config.backend, "instruction counts need the inline backend (one process)")


def count_instructions(config: RunConfig, store: Path, targets: Sequence[Target]) -> list[Side]:
    """One run per target under valgrind; each as a side (answers, instruction count, build)."""
    check_instruction_config(config)
    measured = measure_instructions(replace(config, label="gate-instructions"), Path(store), targets)
    return [side_of_runs(t.name, [load_run(path)]) for t, (path, _) in zip(targets, measured)]


def looks(max_pairs: int = MAX_PAIRS) -> list[int]:
    """The pair counts at which the paired verdict is looked at: MIN_PAIRS, then every LOOK_EVERY."""
    return sorted({*range(min(MIN_PAIRS, max_pairs), max_pairs + 1, LOOK_EVERY), max_pairs})


def sample_seconds(result: dict, metric: str) -> float:
    """A timing sample's figure (perfkit/orchestration/timed_run.py's result) for a paired
    metric, in seconds: ``unqueued`` is the wall less the run's wait for a core."""
    if metric == "unqueued":
        return float(result["wall_s"]) - float(result.get("queued_s", float("nan")))
    return float(result[f"{metric}_s"])


def check_pairs(max_pairs: int) -> None:
    """The most pairs to measure, checked before anything is checked out (ConfigError naming it)."""
    if isinstance(max_pairs, bool) or not isinstance(max_pairs, int) or max_pairs < 2:
        raise ConfigError("pairs", max_pairs, "expected an integer ≥ 2")


def measure_pairs(config: RunConfig, base: Target, head: Target, store: Path, metrics: Sequence[str],
                  threshold: float, max_pairs: int = MAX_PAIRS, seed: Optional[int] = None,
                  on_pair: Optional[Callable[[int], None]] = None) -> PairedTiming:
    """Randomised interleaved pairs of base and head samples (the order inside each pair drawn
    by ``seed``), judged at every look and stopped early once the verdict is clear."""
    check_pairs(max_pairs)
    rng = random.Random(seed)
    planned = looks(max_pairs)
    pairs = PairedTiming({m: [] for m in metrics}, {m: [] for m in metrics}, looks=len(planned))
    with tempfile.TemporaryDirectory(prefix="perfkit-pairs-") as tmp:
        for i in range(max_pairs):
            order = [("base", base), ("head", head)]
            rng.shuffle(order)
            for name, target in order:
                result = start(target, replace(config, label=f"gate-{name}", repeat=i), store,
                               Path(tmp) / f"{i}-{name}", valgrind=False).wait()
                side = pairs.base if name == "base" else pairs.head
                for m in metrics:
                    side[m].append(sample_seconds(result, m))
            if on_pair is not None:
                on_pair(i + 1)
            if i + 1 in planned and i + 1 < max_pairs and metrics and decided(judge_pairs(pairs, metrics, threshold)):
                break
    return pairs


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=300)
    if out.returncode != 0:  # git's "fatal:" line says why; hints follow it (a safe.directory command)
        lines = out.stderr.strip().splitlines()
        reason = next((line for line in lines if line.startswith(("fatal:", "error:"))), lines[-1] if lines else "failed")
        raise PerfkitError(f"git {' '.join(args)}: {reason}")
    return out.stdout.strip()


def repository(start_dir: Path = Path(".")) -> Path:
    """The git repository the current code is in (a ConfigError outside one)."""
    try:
        return Path(_git(start_dir, "rev-parse", "--show-toplevel"))
    except PerfkitError as exc:  # git's reason: no repository, or one it refuses (another user's)
        raise ConfigError("base", str(start_dir), f"not inside a git repository git will use ({exc})") from None


def commit_of(ref: str, repo: Path) -> str:
    """The commit a ref names (a ConfigError when it names none)."""
    try:
        return _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except PerfkitError:
        raise ConfigError("base", ref, "no such commit in this repository") from None


def last_commit_of(path: Path, repo: Path) -> str:
    """The last commit that changed ``path`` (a baseline file: the code it was recorded with)."""
    sha = _git(repo, "log", "-1", "--format=%H", "--", str(Path(path).resolve().relative_to(repo)))
    if not sha:
        raise ConfigError("baseline", str(path), "not committed: no revision recorded it")
    return sha


def _same_dependencies(a: Path, b: Path) -> bool:
    return all((a / f).exists() == (b / f).exists() and (not (a / f).exists() or
               _declared((a / f).read_text(encoding="utf-8")) == _declared((b / f).read_text(encoding="utf-8")))
               for f in DEPENDENCY_FILES)


def _declared(text: str) -> str:
    """A dependency file without what cannot change an environment (perfkit's own tooling
    sections: import-linter contracts, pytest options)."""
    return text.split("[tool.", 1)[0]


def _environment_for(tree: Path, here: Path, shared: bool) -> tuple[Target, str]:
    """The interpreter for a base tree, and a sentence saying which and why."""
    if shared:
        return Target("base", pythonpath=str(tree)), "run with this environment (its code on this build)"
    if _same_dependencies(tree, here):
        return Target("base", pythonpath=str(tree)), "run with this environment (same dependency declaration)"
    venv = tree / ".venv"
    if (tree / "Makefile").exists() and "install:" in (tree / "Makefile").read_text(encoding="utf-8"):
        step = subprocess.run(["make", "-C", str(tree), "install"], capture_output=True, text=True, timeout=1800)
    else:
        step = subprocess.run(["python3", "-m", "venv", str(venv)], capture_output=True, text=True, timeout=600)
        if step.returncode == 0:
            step = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(tree)],
                                  capture_output=True, text=True, timeout=1800)
    if step.returncode != 0 or not (venv / "bin" / "python").exists():
        raise PerfkitError(f"{tree}: could not build the base revision's environment: "
                           f"{(step.stderr or step.stdout).strip().splitlines()[-1:]}")
    return Target("base", python=str(venv / "bin" / "python"), pythonpath=str(tree)), \
        "run with its own environment (its dependency declaration differs)"


@contextmanager
def base_revision(ref: str, repo: Optional[Path] = None, shared: bool = False) -> Iterator[tuple[Target, str]]:
    """A temporary worktree of ``ref`` and the target that runs it; the worktree is removed
    afterwards. ``shared``: always run it with this environment (to compare code on one build).
    Yields (target, a sentence on the revision and its environment)."""
    repo = repo or repository()
    sha = commit_of(ref, repo)
    tmp = Path(tempfile.mkdtemp(prefix="perfkit-base-"))
    tree = tmp / "tree"
    try:
        _git(repo, "worktree", "add", "--detach", "--quiet", str(tree), sha)
        target, how = _environment_for(tree, repo, shared)
        yield target, f"base {ref} ({sha[:10]}) from a temporary worktree, {how}"
    finally:
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)], capture_output=True,
                       timeout=300)
        shutil.rmtree(tmp, ignore_errors=True)


def head_target() -> Target:
    """The code this process imports (the current tree)."""
    import perfkit

    return Target("head", pythonpath=str(Path(perfkit.__file__).resolve().parents[1]))


def measure_side(config: RunConfig, store: Path, target: Target) -> Side:
    """One plain run of ``config`` by ``target`` (a fresh process) as a side, for its answers."""
    with tempfile.TemporaryDirectory(prefix="perfkit-answers-") as tmp:
        result = start(target, replace(config, label=f"gate-{target.name}"), store, Path(tmp), valgrind=False).wait()
    return side_of_runs(target.name, [load_run(Path(result["run_dir"]))])
