"""A third-party workload on CPython's own regular-expression engine (``re``, nobody here wrote
it): regex synthesis as a candidate search.

Each task is a set of labelled strings, written as ARC task files: a sample's input is a 1×L grid
of letters (0 = ``a``, 1 = ``b``, 2 = ``c``), its output ``[[1]]`` when the string belongs to the
task's target language and ``[[0]]`` when it does not. Candidates are patterns enumerated from a
small grammar (pieces ``a b c [ab] [bc] [ac] .`` with ``'' * + ?``, two or three to a pattern, in
a seeded order) plus a few nested-quantifier patterns (``(a+)+b``, ``(a|a)*b``, ``(a*)*b``, …)
spread among them. Unit (sample, candidate) runs ``re.fullmatch(candidate, string)`` and returns
``[[1]]`` or ``[[0]]``: a candidate that labels every demo and test string right solves its task
(each task's target is among the first 100 candidates).

Its quirks are the engine's:

- catastrophic backtracking: every task has a string of ``a`` only (12 to 23 of them); the nested
  patterns backtrack exponentially on it (``(a|a)*b`` on 22 ``a``: ~0.25 s, doubling with each
  ``a``), so eight candidates dominate and units sit at and past any timeout of ~0.1 s;
- the C matcher holds the GIL for the whole match: a thread running one blocks every other thread
  of its process, perfkit's own included, until it returns. (CPython ≥ 3.11's matcher does check
  signals now and then, so the inline backend's SIGALRM does stop it; a thread cannot be stopped);
- compile caching: ``re`` keeps its last 512 compiled patterns (3.11: dropped oldest first). A
  compile costs ~90 µs, a cached match ~0.4 µs, so a unit costs 200× more on a worker that has
  not seen its pattern. Below 512 candidates every worker pays each compile once per process;
  above 512 (``--solver-opt candidates=600``) every unit compiles afresh. Whatever else runs in
  the process shares that cache: importing scipy.stats (numpy.f2py) sets it to 50 patterns.

``--solver-opt atomic=1`` runs each nested pattern as an equivalent one that does not backtrack
(ATOMIC; the candidate ids stay the same, so answers compare): an optimisation step for
``perfkit phases``.

Run it as docs/benchmarks.md, "Session 10: CPython's regex engine", does::

    .venv/bin/python benchmarks/re_work.py tasks /tmp/re-tasks          # writes 6 task files
    PYTHONPATH=benchmarks perfkit compare --solver re_work:RegexSolver --tasks /tmp/re-tasks \\
        --strategies sequential,candidate-parallel,sample-parallel,hybrid \\
        --backends inline,thread,process --workers 2 --repeats 2 --timeout 0.1 --allow-differences
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
from pathlib import Path

import numpy as np

ALPHABET = "abc"
ATOMS = ("a", "b", "c", "[ab]", "[bc]", "[ac]", ".")
QUANTIFIERS = ("", "*", "+", "?")
#: Nested quantifiers: exponential backtracking on a long run of ``a`` that cannot match.
NESTED = ("(a+)+b", "(a|a)*b", "(a*)*b", "([ab]+)+c", "(a+a+)+b", "(.*a){12}b", "(a|aa)*c", "(a?){20}a{20}")
#: The same languages without exponential backtracking (``atomic=1``: phase 1 of docs/benchmarks.md,
#: "Session 10"): atomic groups, or a rewrite where an atomic group would change the language.
ATOMIC = {"(a+)+b": "(?>a+)+b", "(a|a)*b": "(?>a|a)*b", "(a*)*b": "(?>a*)*b", "([ab]+)+c": "(?>[ab]+)+c",
          "(a+a+)+b": "(?>a+a+)+b", "(.*a){12}b": "(?:[^a]*+a){12}(?:.*a)?b", "(a|aa)*c": "(?>a|aa)*c",
          "(a?){20}a{20}": "a{20,40}"}
#: Default candidate count: below ``re``'s cache of 512 compiled patterns.
CANDIDATES = 400
#: Lengths of each task's all-``a`` string, task by task: harmless to ~0.5 s per nested unit.
A_RUNS = (12, 18, 20, 21, 22, 23)
DEMO, TEST = 7, 1


def patterns(count: int = CANDIDATES, seed: int = 0) -> list[str]:
    """``count`` candidate patterns: grammar patterns in a seeded order, NESTED spread evenly."""
    pieces = [atom + q for atom in ATOMS for q in QUANTIFIERS]
    grammar = ["".join(p) for n in (2, 3) for p in itertools.product(pieces, repeat=n)]
    random.Random(seed).shuffle(grammar)
    out = grammar[: max(count - len(NESTED), 0)]
    step = max(len(out) // len(NESTED), 1)
    for i, nested in enumerate(NESTED[: count]):
        out.insert(min(step * i + step // 2 + i, len(out)), nested)
    return out[:count]


def to_string(grid: np.ndarray) -> str:
    """The string a 1×L sample grid spells (0 = a, 1 = b, 2 = c)."""
    return "".join(ALPHABET[int(v) % 3] for v in np.asarray(grid).ravel())


def task_json(index: int, seed: int = 0) -> dict:
    """Task ``index``: a target among the first 100 benign candidates, DEMO + TEST labelled
    strings (about half in the language), one demo string being ``a`` × A_RUNS[index]."""
    rng = random.Random(seed * 7919 + index)
    benign = [p for p in patterns(100, seed) if p not in NESTED]
    target = re.compile(benign[(index * 37 + 11) % len(benign)])
    strings = ["a" * A_RUNS[index % len(A_RUNS)]]
    wanted = [True, False] * DEMO
    while len(strings) < DEMO + TEST:
        s = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 12)))
        if bool(target.fullmatch(s)) == wanted[len(strings)] or rng.random() < 0.02:
            strings.append(s)
    samples = [{"input": [[ALPHABET.index(ch) for ch in s]], "output": [[int(bool(target.fullmatch(s)))]]}
               for s in strings]
    return {"train": samples[:DEMO], "test": samples[DEMO:], "target": target.pattern}


class RegexSolver:
    """perfkit's view: the first ``candidates`` of ``patterns()``; a unit is one fullmatch."""

    def __init__(self, candidates: int = CANDIDATES, seed: int = 0, atomic: int = 0):
        self.ids = patterns(int(candidates), int(seed))
        #: candidate id → the pattern it runs (the id itself unless ``atomic``)
        self.run_as = {c: ATOMIC.get(c, c) if int(atomic) else c for c in self.ids}

    def candidates(self, task):
        return self.ids

    def evaluate(self, task, sample, candidate, deadline):
        # re.fullmatch goes through re's own cache of compiled patterns: that is the quirk.
        return np.array([[1 if re.fullmatch(self.run_as[candidate], to_string(sample.input)) else 0]],
                        dtype=np.uint8)


def write_tasks(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """Write ``count`` task files ``re<index>.json`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"re{i:02d}.json"
        path.write_text(json.dumps(task_json(i, seed)))
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    tasks = sub.add_parser("tasks", help="write the task files")
    tasks.add_argument("folder", type=Path)
    tasks.add_argument("--count", type=int, default=len(A_RUNS))
    tasks.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for path in write_tasks(args.folder, args.count, args.seed):
        print(path)


if __name__ == "__main__":
    main()
