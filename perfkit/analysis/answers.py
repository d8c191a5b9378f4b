"""Answers checked against a reference run, unit by unit (docs/design.md, invariant 3), and
the reference checked against itself.

A unit is identified by :data:`perfkit.model.UNIT_KEY`. Compared with the reference a unit can
be *missing* (no outcome here), *extra* (no outcome in the reference), have its *status
changed* (e.g. ok → timeout) or its *output changed* (ok in both, different output hash).

Each difference also gets a *kind* that says whose it is. The reference runs more than once
(perfkit/orchestration/experiment.py), and :func:`reference_variability` compares its runs with
each other: a unit whose output differs between them (:func:`answer_spread`) makes its candidate
a *nondeterministic candidate* (a solver fault) in every task, and a unit near its timeout — finished (ok or error) in one reference run and
timeout in another, or a reference time of at least :data:`BOUNDARY_SHARE` of the timeout — is
a *boundary unit*. A unit that raises after most of its limit (a search that gives up late)
flips between error and timeout exactly as one that answers late flips between ok and timeout:
both are boundary flips. Differences of those units (:data:`OWN_VARIABILITY_KINDS`) are the
reference's own variability and are reported as such; every other difference (a lost unit, a
changed output of a deterministic unit, a new timeout of a unit far from its limit, a crash) is
a strategy's.
The answers a run is checked against are any reference run's (:func:`expected_answers`): a unit
one reference run did not answer and another did is expected to give that answer.

A later version of the code is judged against its baseline (phases, the gate) the same way:
the baseline's repeats against each other are its variability (:func:`baseline_variability`).
There, an answer the baseline lacked and the code now gives — a unit that timed out, raised,
crashed or was skipped in the baseline and is ok now, or whose output now matches the expected
one where the baseline's did not (:data:`GAINED_KINDS`) — is a *gained* answer: reported as
such, never a failure (``gains``). A strategy, by contrast, must give sequential's answers.
Every repeat of the later code is judged so (:func:`check_repeats`): a unit fails when it fails
in any of them, and one whose outputs differ between those repeats themselves, beyond the
baseline's variability, is *new nondeterminism* (:data:`NEW_NONDETERMINISM`) — unless one of
those repeats gave the baseline's own answer: then the unit still answers as it did, and its
variation, which the baseline's repeats did not show, is named and does not fail
(:data:`VARIES_ACROSS_REPEATS`). A comparison applies that rule to each strategy's repeats
(:func:`varying_candidates`): a candidate that varies there, where the sequential runs happened
to agree, varies from run to run, and its differences under any strategy are named so, not failed.

One more kind of noise: when the reference's own runs time out units *far* from their limit
(ok in one run in well under half the timeout, timeout in another), the timeout sits within
the machine's own noise (scheduling, other processes). A run's new timeouts of far units are
then compared with that rate: up to :data:`NOISE_FACTOR` times the reference's own rate they
are *timeouts within noise*, beyond it each one counts against the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from perfkit.analysis.text import count, possessive
from perfkit.model import SAMPLE_KEY, UNIT_KEY, sample_label

KEY, SAMPLE = list(UNIT_KEY), list(SAMPLE_KEY)

#: A unit whose slowest reference run took at least this share of its timeout is a boundary
#: unit: a 2× slowdown — one other busy process on its core, or the ~2× speed states of a
#: shared machine — takes it over its limit.
BOUNDARY_SHARE = 0.5
#: A run may time out up to this many times as many far-from-limit units as a sequential run
#: times out by itself (the machine's noise) before those timeouts count against it: the load
#: and the speed states of a shared machine change that rate about 2× from run to run.
NOISE_FACTOR = 2.0

# The kinds of difference, as the report names them.
LOST = "lost unit"
EXTRA = "extra unit"
CHANGED_OUTPUT = "changed output"
#: A unit whose output differs between a run's own repeats, beyond the reference's variability,
#: and which gave the reference's answer in none of them: the change made a deterministic
#: candidate nondeterministic (:func:`check_repeats`).
NEW_NONDETERMINISM = "new nondeterministic output"
#: A unit whose output differed from the reference's in some of a run's repeats and was the
#: reference's in another: the unit still gives that answer, and varies in a way the reference's
#: repeats did not show. A rarely varying candidate does so (networkx's unseeded ``asyn_lpa``:
#: a baseline of 2 repeats missed it in 21–30 % of gates of unchanged code, docs/benchmarks.md
#: "Session 14: review"), and so does nondeterminism a change brought; a reference with more
#: repeats tells them apart. Named, never a failure (:func:`check_repeats`).
VARIES_ACROSS_REPEATS = "output varying across repeats"
NEW_TIMEOUT = "new timeout"
CRASH = "crash"
NEW_ERROR = "new error"
STATUS_CHANGED = "status changed"
#: A unit that timed out in the reference and finished ok here (an optimisation step that
#: removed the timeout: regex's nested quantifiers made atomic, docs/benchmarks.md "Session 10").
NOW_FINISHED = "timeout now finished"
#: A unit that raised, crashed or was skipped in the reference and is ok here.
NOW_ANSWERED = "unit now answered"
#: A unit ok in both whose output matches the expected one here and did not in the reference.
NOW_RIGHT = "output now right"
#: The kinds that give an answer the reference lacked: gains against a baseline (``gains``).
GAINED_KINDS = (NOW_FINISHED, NOW_ANSWERED, NOW_RIGHT)
BOUNDARY_FLIP = "boundary flip"
NONDETERMINISTIC = "nondeterministic candidate"
NOISE_TIMEOUT = "timeout within noise"
#: The kinds the reference's own variability explains: reported, never counted against a strategy.
OWN_VARIABILITY_KINDS = (BOUNDARY_FLIP, NOISE_TIMEOUT, NONDETERMINISTIC)
#: The kinds a candidate whose answers vary from run to run explains (:meth:`AnswerCheck.sentence`
#: says where they were seen to vary).
_VARYING_KINDS = (NONDETERMINISTIC, VARIES_ACROSS_REPEATS)
#: The kinds never counted against a run: the reference's own variability, and a variation the
#: reference's repeats did not show of a unit that still gives its answer.
NOISE_KINDS = OWN_VARIABILITY_KINDS + (VARIES_ACROSS_REPEATS,)
#: Every kind, strategy faults first (the order sentences list them in).
KINDS = ((LOST, NEW_NONDETERMINISM, CHANGED_OUTPUT, NEW_TIMEOUT, CRASH, NEW_ERROR, STATUS_CHANGED, EXTRA)
         + GAINED_KINDS + NOISE_KINDS)
#: The statuses of a unit that ran to its end: either one against a timeout is a flip at the limit.
ENDED = ("ok", "error")
#: What a kind of difference is to a run (:func:`role`), in the order sentences give them: a
#: failure, an answer gained, a variation named but not failed, the reference's own variability.
FAILED, GAINED, VARIED, OWN = "failed", "gained", "varied", "own"
ROLES = (FAILED, GAINED, VARIED, OWN)
#: The four tables of an :class:`AnswerCheck`, by the name the report gives them.
DIFFERENCES = ("missing", "extra", "status changed", "output changed")


def role(kind: str, gains: bool) -> str:
    """What a difference of ``kind`` is to a run (:data:`ROLES`): the reference's own variability
    (:data:`OWN_VARIABILITY_KINDS`), a variation named and not failed
    (:data:`VARIES_ACROSS_REPEATS`), with ``gains`` an answer gained (:data:`GAINED_KINDS`), else
    a failure. The one rule the checks, their sentences and the gate's headline read."""
    if kind in OWN_VARIABILITY_KINDS:
        return OWN
    if kind == VARIES_ACROSS_REPEATS:
        return VARIED
    return GAINED if gains and kind in GAINED_KINDS else FAILED


def count_phrase(kind: str, n: int) -> str:
    """``2 lost units``, ``1 new nondeterministic output``: a kind of difference and how many."""
    if kind == NONDETERMINISTIC:
        return f"{n} {'unit of a nondeterministic candidate' if n == 1 else _PLURAL[kind]}"
    return f"{n} {kind if n == 1 else _PLURAL.get(kind, kind + 's')}"


def tally(counts: Mapping[str, int], reference_name: str = "the baseline", gains: bool = True) -> str:
    """A check's differences in a few words, by kind and without samples (the gate's headline;
    ``counts``: :meth:`AnswerCheck.kind_counts`). The failures when there are any (``2 lost
    units, 1 new nondeterministic output``), then the variations not failed; else what the
    answers kept (``no answer lost or changed beyond the baseline's own variability``), the
    variations named and the answers gained."""
    if not counts:
        return f"answers identical to {reference_name}"
    by = {r: [count_phrase(k, n) for k, n in counts.items() if role(k, gains) == r] for r in ROLES}
    if by[FAILED]:
        return ", ".join(by[FAILED]) + ("; not failed: " + ", ".join(by[VARIED]) if by[VARIED] else "")
    # a varying unit gave another output in some repeat: lost, no; changed there, yes
    kept = "no answer lost" + ("" if by[VARIED] else " or changed")
    kept += f" beyond {_own(reference_name)} variability" if by[OWN] else ""
    gained = sum(n for k, n in counts.items() if role(k, gains) == GAINED)
    return ", ".join([kept, *by[VARIED]] + ([f"gained: {_units(gained)}"] if gained else []))


def _own(reference_name: str) -> str:
    # a phase report's reference is "the baseline", whose repeats are its variability
    return "the reference's own" if reference_name == "sequential" else f"{reference_name}'s own"


def _key_index(df: pd.DataFrame, cols: Sequence[str] = KEY) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(df[list(cols)].astype({"index": "int64"}) if "index" in cols else df[list(cols)])


@dataclass(frozen=True)
class ReferenceVariability:
    """How the reference varies by itself, over its ``run_ids`` (seconds).

    ``boundary``: the boundary units, one row each: the key, ``statuses`` (the reference runs'
    statuses joined by ``/``), ``wall_min_s``, ``wall_max_s``, ``flipped`` (finished, ok or
    error, in one reference run and timeout in another) and ``far`` (flipped although its
    finished run took less than :data:`BOUNDARY_SHARE` of the timeout: the machine's noise, not
    the unit's cost).
    ``nondeterministic``: the units whose reference runs disagree on the output (or on ok
    versus error): the key, ``statuses`` and ``outputs`` (the number of distinct ok outputs).
    ``units``: how many units the reference has; ``noise_timeouts_per_run``: timeouts of far
    units per reference run.
    ``elsewhere``: the candidates whose answers varied between the repeats of another
    configuration (:func:`varying_candidates`; a comparison's strategies), not between the
    reference's runs.
    """

    run_ids: tuple[str, ...]
    timeout_s: float
    boundary: pd.DataFrame
    nondeterministic: pd.DataFrame
    units: int = 0
    noise_timeouts_per_run: float = 0.0
    elsewhere: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["candidate", "configuration",
                                                                                  *SAMPLE]))

    @property
    def noise_rate(self) -> float:
        """Timeouts of far units per unit and reference run (0 on a machine quiet enough)."""
        return self.noise_timeouts_per_run / self.units if self.units else 0.0

    @property
    def runs(self) -> int:
        """How many reference runs the variability rests on."""
        return len(self.run_ids)

    @property
    def flips(self) -> pd.DataFrame:
        """The boundary units that flipped between an end (ok, error) and timeout between
        reference runs."""
        return self.boundary[self.boundary["flipped"]]

    def candidates(self) -> list[tuple[str, str]]:
        """The nondeterministic ``(task_id, candidate)`` pairs, in order of appearance."""
        pairs = self.nondeterministic[["task_id", "candidate"]].itertuples(index=False, name=None)
        return list(dict.fromkeys(pairs))

    def is_boundary(self, df: pd.DataFrame) -> np.ndarray:
        """A mask over ``df``'s rows: the unit is a boundary unit."""
        if df.empty or self.boundary.empty:
            return np.zeros(len(df), bool)
        return _key_index(df).isin(_key_index(self.boundary))

    def is_nondeterministic(self, df: pd.DataFrame, ends: bool = False) -> np.ndarray:
        """A mask over ``df``'s rows: the unit's candidate is nondeterministic — its answers
        differed between the reference's runs in any task: code that draws unseeded random
        numbers draws in every task, also where its answer happened to stay the same
        (python-constraint2's ``min_conflicts``); with ``ends``, one whose units ended
        differently (ok, error) between reference runs — an output that varied explains another
        output, not an exception or a timeout."""
        nondet = self.nondeterministic
        if ends and not nondet.empty:
            nondet = nondet[[len(set(s.split("/")) & set(ENDED)) > 1 for s in nondet["statuses"]]]
        return df["candidate"].isin(set(nondet["candidate"])).to_numpy() if len(df) else np.zeros(0, bool)

    def varies_elsewhere(self, df: pd.DataFrame) -> np.ndarray:
        """A mask over ``df``'s rows: the unit itself varied between a configuration's repeats
        (``elsewhere``). The unit, not its candidate: two sequential runs that differ are the
        solver's own, in every task (:meth:`is_nondeterministic`), but a strategy whose repeats
        differ on one unit may be a race of its own, and must not excuse another strategy's
        consistent change of the candidate elsewhere (review17's test in tests/test_verdicts.py)."""
        if not len(df) or self.elsewhere.empty:
            return np.zeros(len(df), bool)
        return _key_index(df).isin(_key_index(self.elsewhere))

    def varying(self) -> list[str]:
        """Every candidate whose answers vary from run to run: between the reference's runs or
        another configuration's repeats, in any task (in that order)."""
        return list(dict.fromkeys([*self.nondeterministic["candidate"], *self.elsewhere["candidate"]]))

    def seen_varying(self, candidate: str, reference_name: str = "sequential") -> str:
        """Where ``candidate``'s answers were seen to vary: ``sequential's runs on queens/demo[3]``,
        ``candidate-parallel/process×2's repeats on place/demo[2]`` (the reference's runs first)."""
        mine = self.nondeterministic[self.nondeterministic["candidate"] == candidate]
        where = f"{possessive(reference_name)} runs"
        if mine.empty:
            mine = self.elsewhere[self.elsewhere["candidate"] == candidate]
            where = f"{possessive(mine['configuration'].iloc[0])} repeats"
        first = mine.iloc[0]
        return f"{where} on {sample_label(first['split'], first['index'], first['task_id'])}"


def answer_spread(runs: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """How the answers of runs of one configuration (unit tables: the reference's runs, a
    baseline's repeats, a strategy's repeats) spread, unit by unit. Index: the unit key;
    ``outputs``: distinct ok outputs; ``kinds``: distinct ends, ok and error (in different runs:
    not a matter of time; a timeout beside an end is a boundary flip, and a unit crashed or
    skipped gave no answer to vary: its worker died, its budget ran out);
    ``varies``: either is above one, the unit's answer varies from run to run. The one rule of
    "varies across repeats" (:func:`reference_variability`, :func:`check_repeats` and through it
    :func:`varying_candidates`)."""
    return _spread(pd.concat([r[KEY + ["status", "output_hash"]].drop_duplicates(KEY) for r in runs],
                             ignore_index=True))


def _spread(rows: pd.DataFrame) -> pd.DataFrame:
    # rows: every run's rows of each unit, one per run (see answer_spread)
    index = rows.groupby(KEY, sort=False).size().index
    ok, ended = rows[rows["status"] == "ok"], rows[rows["status"].isin(ENDED)]
    out = pd.DataFrame({"outputs": ok.groupby(KEY, sort=False)["output_hash"].nunique().reindex(index, fill_value=0),
                        "kinds": ended.groupby(KEY, sort=False)["status"].nunique().reindex(index, fill_value=0)},
                       index=index)
    out["varies"] = (out["outputs"] > 1) | (out["kinds"] > 1)
    return out


def varying_candidates(expected: pd.DataFrame, configurations: Mapping[str, Sequence[pd.DataFrame]],
                       variability: Optional[ReferenceVariability] = None) -> pd.DataFrame:
    """The units whose answers vary from run to run within a configuration, by the gate's
    rule (:func:`check_repeats` against the ``expected`` answers, beyond ``variability``): for
    each configuration name with at least two runs (unit tables), every candidate with a unit
    whose outputs differ between those runs and that gave the expected answer in one of them
    (:data:`VARIES_ACROSS_REPEATS`). Outputs that differ with none of them the expected one are
    the configuration's own new nondeterminism (a race on shared state), and name no candidate.
    One row per such unit and configuration, in the order given: ``candidate``,
    ``configuration``, ``task_id``, ``split``, ``index``."""
    cols = ["candidate", "configuration", *SAMPLE]
    rows = []
    for name, runs in configurations.items():
        if len(runs) < 2:
            continue
        t = check_repeats(expected, runs, variability=variability).table
        varies = t[t["kind"] == VARIES_ACROSS_REPEATS].drop_duplicates(KEY) if len(t) else t
        rows += [(r.candidate, name, *(getattr(r, k) for k in SAMPLE)) for r in varies.itertuples()]
    return pd.DataFrame(rows, columns=cols)


def reference_variability(references: Sequence[pd.DataFrame], run_ids: Sequence[str],
                          timeout_s: float) -> ReferenceVariability:
    """Compare the reference's runs (unit tables) with each other; see the module docstring.
    With one run there is no nondeterminism to see, and boundary units are those near the
    limit."""
    cols = KEY + ["status", "output_hash", "wall_s"]
    both = pd.concat([r[cols].drop_duplicates(KEY) for r in references], ignore_index=True)
    both["is_ok"], both["is_timeout"] = both["status"].eq("ok"), both["status"].eq("timeout")
    both["is_ended"] = both["status"].isin(ENDED)
    g = both.groupby(KEY, sort=False)
    per = g.agg(wall_min_s=("wall_s", "min"), wall_max_s=("wall_s", "max"),
                has_ended=("is_ended", "any"), has_timeout=("is_timeout", "any"), timeouts=("is_timeout", "sum"))
    per = per.join(_spread(both))
    per["flipped"] = per["has_ended"] & per["has_timeout"]
    per["far"] = per["flipped"] & (per["wall_min_s"] < BOUNDARY_SHARE * timeout_s)
    near = per["has_timeout"] | (per["wall_max_s"] >= BOUNDARY_SHARE * timeout_s)
    varying = per["varies"]
    picked = per[near | varying].copy()
    statuses = both.set_index(KEY)["status"]
    statuses = statuses[statuses.index.isin(picked.index)]
    picked["statuses"] = statuses.groupby(level=list(range(len(KEY))), sort=False).agg(
        lambda s: "/".join(sorted(set(s)))).reindex(picked.index)
    boundary = picked[near[picked.index]].reset_index()[KEY + ["statuses", "wall_min_s", "wall_max_s", "flipped",
                                                               "far"]]
    nondet = picked[varying[picked.index]].reset_index()[KEY + ["statuses", "outputs"]]
    noise = float(per.loc[per["far"], "timeouts"].sum()) / max(1, len(references))
    return ReferenceVariability(tuple(run_ids), float(timeout_s), boundary, nondet, len(per), noise)


def baseline_variability(repeats: Sequence[pd.DataFrame], run_ids: Sequence[str],
                         timeout_s: float) -> Optional[ReferenceVariability]:
    """A baseline's repeats (their answers, with ``wall_s``) against each other: what a later
    version of the code is judged against (phases, the gate). As :func:`reference_variability`,
    except that a unit that timed out in every repeat is no boundary unit: when it finishes now
    the change did it (regex's atomic patterns: "13 timeouts now finished"), not its limit.
    None without repeats' answers (a baseline file that kept one repeat's answers only)."""
    if not len(repeats):
        return None
    # networkx: an unseeded colouring strategy and a unit at 0.92–0.98 s of its 1 s limit read
    # "✗ answers" for a step that touched neither; the baseline's repeats tell them apart
    v = reference_variability(repeats, run_ids, timeout_s)
    return replace(v, boundary=v.boundary[v.boundary["statuses"] != "timeout"])


def expected_answers(repeats: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The answers a run is judged against, from the reference's repeats (a strategy's against
    sequential's, a later version of the code's against its baseline's): the first repeat's,
    except that a unit it did not answer (a timeout, an error) and a later repeat answered takes
    that answer. A unit at its limit, timed out in the first repeat and ok in the second,
    otherwise let any output pass as a boundary flip: its answer is known, another one is a
    changed answer. Repeats that answered differently stay the reference's own variability."""
    out = repeats[0].drop_duplicates(KEY).set_index(KEY)
    for later in repeats[1:]:
        ok = later[later["status"] == "ok"].drop_duplicates(KEY).set_index(KEY)
        take = out.index[out["status"].ne("ok").to_numpy() & out.index.isin(ok.index)]
        cols = list(out.columns.intersection(ok.columns))
        out.loc[take, cols] = ok.loc[take, cols].to_numpy()
    return out.reset_index()


@dataclass(frozen=True)
class AnswerCheck:
    """Differences of one run from the reference; each table holds the unit keys, the
    reference's and this run's ``status``/``output_hash`` (``_ref`` and ``_run`` suffixes) and
    the ``kind`` of each difference (:data:`KINDS`); a check of several repeats
    (:func:`check_repeats`) also ``repeats``, the repeats (from 1) the difference was seen in."""

    run_id: str
    group: str
    reference_id: str
    missing: pd.DataFrame
    extra: pd.DataFrame
    status_changed: pd.DataFrame
    output_changed: pd.DataFrame
    #: How sentences name the reference ("sequential", "the baseline").
    reference_name: str = "sequential"
    #: How many tasks the reference ran: above one, every sample a sentence names says its task
    #: (networkx's three tasks read "demo[3]×1": whose demo[3], the line did not say).
    tasks: int = 1
    #: Answers the reference lacked are gains, not differences (:data:`GAINED_KINDS`): a later
    #: version of the code against its baseline; a strategy must give sequential's answers.
    gains: bool = False
    #: How many repeats of the run were checked (:func:`check_repeats`); sentences name the
    #: repeats a difference was seen in when there are several.
    repeats: int = 1
    #: Candidate → where its answers were seen to vary (:meth:`ReferenceVariability.seen_varying`),
    #: for the candidates of the differences a varying candidate explains.
    seen_varying: Mapping[str, str] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        """True when every unit agrees with the reference."""
        return not (len(self.missing) or len(self.extra) or len(self.status_changed) or len(self.output_changed))

    @property
    def n_differences(self) -> int:
        """How many units differ, of every kind."""
        return len(self.missing) + len(self.extra) + len(self.status_changed) + len(self.output_changed)

    @property
    def table(self) -> pd.DataFrame:
        """Every difference in one table, with a ``difference`` column (:data:`DIFFERENCES`)."""
        parts = [df.assign(difference=name) for name, df in zip(DIFFERENCES, (
            self.missing, self.extra, self.status_changed, self.output_changed)) if len(df)]
        return pd.concat(parts, ignore_index=True) if parts else self.missing.assign(difference=[])

    def _of_role(self, which: str) -> pd.DataFrame:
        t = self.table
        return t[[role(k, self.gains) == which for k in t["kind"]]] if len(t) else t

    @property
    def real(self) -> pd.DataFrame:
        """The differences that fail the run (:func:`role`): beyond the reference's own
        variability (kind not in NOISE_KINDS), and no gains (with ``gains``, kind not in
        GAINED_KINDS either)."""
        return self._of_role(FAILED)

    @property
    def gained(self) -> pd.DataFrame:
        """With ``gains``: the units answered here that the reference had no answer for (kind in
        GAINED_KINDS); empty otherwise."""
        return self._of_role(GAINED)

    @property
    def agrees(self) -> bool:
        """True when nothing differs beyond the reference's own variability."""
        return not len(self.real)

    def kind_counts(self) -> dict[str, int]:
        """How many differences of each kind, in the order of :data:`KINDS`."""
        t = self.table
        counts = t["kind"].value_counts() if len(t) else pd.Series(dtype=int)
        return {k: int(counts[k]) for k in KINDS if k in counts.index}

    def sentence(self) -> str:
        """One line: what differs, by kind, with the samples it hits; the failures, the answers
        gained, the variations named and not failed and the reference's own variability told
        apart (:func:`role`)."""
        if self.clean:
            return f"{self.group} ({self.run_id}): answers identical to {self.reference_name}."
        t = self.table
        counts = self.kind_counts()
        named = self.tasks > 1 or t["task_id"].nunique() > 1
        real, gained, varied, noise = ([_kind_phrase(k, n, t, named, self.repeats, self.seen_varying)
                                        for k, n in counts.items() if role(k, self.gains) == r] for r in ROLES)
        n_noise = sum(n for k, n in counts.items() if role(k, self.gains) == OWN)
        own, were = _own(self.reference_name), "is" if n_noise == 1 else "are"
        gain = f"gained: {_units(len(self.gained))} (" + ", ".join(gained) + ")" if gained else ""
        # not the reference's own variability: its repeats did not show it (VARIES_ACROSS_REPEATS);
        # another configuration's repeats did, or the run's own repeats, one giving the answer
        elsewhere = set(t.loc[t["kind"] == VARIES_ACROSS_REPEATS, "candidate"]) <= set(self.seen_varying)
        vary = ", ".join(varied) + (": not evidence that a strategy changed them (not failed)" if elsewhere else
                                    f": {self.reference_name}'s answer in another repeat, a variation its repeats "
                                    "did not show (not failed)")
        if not real and not gained and not varied:
            return (f"{self.group} ({self.run_id}) agrees with {self.reference_name} beyond {own} "
                    f"variability: its {count(n_noise, 'difference')} {were} " + ", ".join(noise) + ".")
        if not real:  # gains or variations, perhaps beside the reference's own variability
            text = f"{self.group} ({self.run_id}) keeps every answer of {self.reference_name}"
            text += "".join(f"; {part}" for part, shown in ((gain, gained), (vary, varied)) if shown)
            if noise:
                text += f"; its {count(n_noise, 'other difference')} {were} {own} variability: " + ", ".join(noise)
            return text + "."
        text = (f"{self.group} ({self.run_id}) differs from {self.reference_name} in {_units(len(self.real))}: "
                + ", ".join(real))
        text += "".join(f"; {part}" for part, shown in ((gain, gained), (vary, varied)) if shown)
        if noise:
            text += f"; {n_noise} more {were} {own} variability (" + ", ".join(noise) + ")"
        return text + "."


def _units(n: int) -> str:
    return count(n, "unit")


_PLURAL = {NOISE_TIMEOUT: "timeouts within noise", NOW_FINISHED: "timeouts now finished", CRASH: "crashes",
           STATUS_CHANGED: "status changes", NONDETERMINISTIC: "units of nondeterministic candidates",
           CHANGED_OUTPUT: "changed outputs", NOW_ANSWERED: "units now answered", NOW_RIGHT: "outputs now right",
           NEW_NONDETERMINISM: "new nondeterministic outputs", VARIES_ACROSS_REPEATS: "outputs varying across repeats"}


def _kind_phrase(kind: str, n: int, table: pd.DataFrame, named: bool, repeats: int = 1,
                 seen_varying: Optional[Mapping[str, str]] = None) -> str:
    """``2 lost units (demo[0]×2)``; ``t1/demo[0]×2`` when ``named`` (several tasks); over
    several ``repeats``, the repeats each sample's differences were seen in (unless all), and a new
    nondeterministic output by its unit (``t1/demo[1] c003 in repeat 2 of 2``). Differences a
    varying candidate explains name it and where it was seen to vary (``seen_varying``)."""
    by_unit = kind in (NEW_NONDETERMINISM, VARIES_ACROSS_REPEATS) and repeats > 1
    rows = table[table["kind"] == kind]
    # samples alone hide that one candidate made them all (python-constraint2's 16 new errors
    # were one solver's, on every sample)
    (one,) = set(rows["candidate"]) if n > 1 and not by_unit and rows["candidate"].nunique() == 1 else (None,)
    where = _where(rows, named, repeats, by_unit=by_unit)
    text = f"{count_phrase(kind, n)}{f', all of {one}' if one else ''} ({where})"
    seen = seen_varying or {}
    varying = [c for c in dict.fromkeys(rows["candidate"]) if c in seen] if kind in _VARYING_KINDS else []
    return text + (f": {_varying(varying, seen)}" if varying else "")


def _varying(candidates: Sequence[str], seen_varying: Mapping[str, str], limit: int = 3) -> str:
    """``min_conflicts' answers vary from run to run (seen in sequential's runs on
    queens/demo[3])``; several candidates in one clause."""
    if len(candidates) == 1:
        return f"{possessive(candidates[0])} answers vary from run to run (seen in {seen_varying[candidates[0]]})"
    named = ", ".join(f"{c} (seen in {seen_varying[c]})" for c in candidates[:limit])
    more = f", … {count(len(candidates) - limit, 'more candidate')}" if len(candidates) > limit else ""
    return f"the answers of {named}{more} vary from run to run"


def _where(df: pd.DataFrame, named: bool, repeats: int = 1, by_unit: bool = False, limit: int = 4) -> str:
    """The samples (or, ``by_unit``, the units) of ``df``'s differences, and over several
    ``repeats`` the repeats they were seen in: always for a unit, for a sample when not in all."""
    def seen(rows: pd.DataFrame) -> str:
        which = sorted({r for rs in rows["repeats"] for r in rs}) if repeats > 1 else []
        if not which or (len(which) == repeats and not by_unit):
            return ""
        return f" in repeat{'s' if len(which) > 1 else ''} {', '.join(map(str, which))} of {repeats}"

    groups = df.groupby(SAMPLE + (["candidate"] if by_unit else []), sort=False)
    # a unit named by itself says its task even when there is one
    items = [f"{sample_label(key[1], key[2], key[0] if named or by_unit else None)}"
             f"{f' {key[3]}' if by_unit else f'×{len(rows)}'}{seen(rows)}" for key, rows in groups]
    noun = "more unit" if by_unit else "more sample"
    return ", ".join(items[:limit]) + (f", … {count(len(items) - limit, noun)}" if len(items) > limit else "")


def check_answers(reference: pd.DataFrame, units: pd.DataFrame, run_id: str = "", group: str = "",
                  reference_id: str = "", reference_name: str = "sequential",
                  variability: Optional[ReferenceVariability] = None, gains: bool = False) -> AnswerCheck:
    """Compare ``units`` with the ``reference`` units (both tidy unit tables); ``variability``
    (the reference against itself) decides which differences are its own noise; ``gains``:
    answers the reference lacked are gains, not differences (see the module docstring)."""
    # ``match`` (when both sides have it) tells an output now right from a changed one
    cols = KEY + ["status", "output_hash"] + (["match"] if "match" in reference and "match" in units else [])
    ref = reference[cols].drop_duplicates(KEY)
    run = units[cols].drop_duplicates(KEY)
    both = ref.merge(run, on=KEY, how="outer", suffixes=("_ref", "_run"), indicator=True)
    missing = both[both["_merge"] == "left_only"].drop(columns="_merge").reset_index(drop=True)
    extra = both[both["_merge"] == "right_only"].drop(columns="_merge").reset_index(drop=True)
    common = both[both["_merge"] == "both"].drop(columns="_merge")
    status = common[common["status_ref"] != common["status_run"]].reset_index(drop=True)
    ok = common[(common["status_ref"] == "ok") & (common["status_run"] == "ok")]
    output = ok[ok["output_hash_ref"].fillna("") != ok["output_hash_run"].fillna("")].reset_index(drop=True)
    kinds = _status_kinds(status, variability)
    if variability is not None and variability.noise_rate > 0:
        kinds = _within_noise(status, kinds, variability.noise_rate * len(common))
    output = output.assign(kind=_output_kinds(output, variability))
    tables = [df.drop(columns=["match_ref", "match_run"], errors="ignore")  # the documented columns only
              for df in (missing.assign(kind=LOST), extra.assign(kind=EXTRA), status.assign(kind=kinds), output)]
    varied = {c for t in tables for c in t.loc[t["kind"].isin(_VARYING_KINDS), "candidate"]}
    seen = {c: variability.seen_varying(c, reference_name) for c in sorted(varied)} if variability is not None else {}
    return AnswerCheck(run_id, group, reference_id, *tables, reference_name, int(ref["task_id"].nunique()), gains,
                       seen_varying=seen)


def check_repeats(reference: pd.DataFrame, repeats: Sequence[pd.DataFrame], run_id: str = "", group: str = "",
                  reference_id: str = "", reference_name: str = "sequential",
                  variability: Optional[ReferenceVariability] = None, gains: bool = False) -> AnswerCheck:
    """Every repeat of a run (its unit tables) checked against the ``reference`` by
    :func:`check_answers`'s one rule, merged unit by unit into one check: a unit fails when it
    fails in any repeat, and its ``repeats`` say which. A failing unit whose ok outputs differ
    between the repeats themselves is a :data:`NEW_NONDETERMINISM`: the run disagrees with
    itself where the reference did not; when it gave the reference's own answer in another
    repeat, it still gives that answer (:data:`VARIES_ACROSS_REPEATS`, not a failure). A unit that fails in no repeat keeps its first gain,
    else its first difference within the reference's variability. One repeat: its check."""
    checks = [check_answers(reference, r, run_id, group, reference_id, reference_name, variability, gains)
              for r in repeats]
    first = checks[0]
    rows = pd.concat([c.table.assign(repeat=i) for i, c in enumerate(checks, 1)], ignore_index=True)
    if len(checks) == 1 or rows.empty:
        return replace(first, repeats=len(checks))
    spread = answer_spread(repeats)
    differ = spread.index[spread["outputs"] > 1]  # two ok outputs: an exception is told as itself
    varies = _key_index(rows).isin(differ)
    # the worst way a unit differed (a failure, a gain, the reference's own variability) and the
    # repeats it differed so in; a varying unit is told by its changed output
    rank = rows["kind"].map(lambda k: {FAILED: 0, GAINED: 1}.get(role(k, gains), 2)).to_numpy()
    told = ~(varies & (rows["difference"] == "output changed").to_numpy())
    rows = rows.assign(rank=rank, told=told).sort_values(["rank", "told", "repeat"], kind="stable")
    differed_in = rows.groupby(KEY, sort=False)["repeat"].nunique()  # by any kind of difference
    rows = rows[rows["rank"] == rows.groupby(KEY, sort=False)["rank"].transform("min")]
    seen = rows.groupby(KEY, sort=False)["repeat"].agg(tuple)
    chosen = rows.drop_duplicates(KEY).copy()
    chosen["repeats"] = seen.reindex(_key_index(chosen)).to_numpy()
    varying = (chosen["rank"] == 0).to_numpy() & _key_index(chosen).isin(differ)
    # a unit that differed in no way in some repeat gave the reference's answer there
    matched = (differed_in.reindex(_key_index(chosen)).to_numpy() < len(checks))
    still_answers = varying & matched & (chosen["difference"] == "output changed").to_numpy()
    chosen.loc[varying & ~still_answers, "kind"] = NEW_NONDETERMINISM
    chosen.loc[still_answers, "kind"] = VARIES_ACROSS_REPEATS
    chosen = chosen.drop(columns=["repeat", "rank", "told"]).sort_index()  # in the repeats' order again
    tables = [chosen[chosen["difference"] == name].drop(columns="difference").reset_index(drop=True)
              for name in DIFFERENCES]
    seen = {c: w for check in checks for c, w in check.seen_varying.items()}
    return AnswerCheck(run_id, group, reference_id, *tables, reference_name, first.tasks, gains, len(checks), seen)


def _within_noise(df: pd.DataFrame, kinds: np.ndarray, expected: float) -> np.ndarray:
    """New timeouts become timeouts within noise when all the run's ok/error → timeout changes
    stay within :data:`NOISE_FACTOR` × ``expected`` (the reference's own far timeouts per run)."""
    went_out = np.isin(df["status_ref"].to_numpy(), ENDED) & (df["status_run"].to_numpy() == "timeout")
    if went_out.sum() > NOISE_FACTOR * expected:
        return kinds
    return np.where(kinds == NEW_TIMEOUT, NOISE_TIMEOUT, kinds)


def _status_kinds(df: pd.DataFrame, v: Optional[ReferenceVariability]) -> np.ndarray:
    """The kind of each status change (see :data:`KINDS`)."""
    run, ref = df["status_run"].to_numpy(), df["status_ref"].to_numpy()
    flip = (np.isin(ref, ENDED) & (run == "timeout")) | ((ref == "timeout") & np.isin(run, ENDED))
    boundary = v.is_boundary(df) if v is not None else np.zeros(len(df), bool)
    # a candidate whose outputs varied explains no new error nor timeout: only one whose units
    # ended differently does, and only between ends (a random colouring raising now is a fault)
    ended = np.isin(ref, ENDED) & np.isin(run, ENDED)
    nondet = (v.is_nondeterministic(df, ends=True) & ended) if v is not None else np.zeros(len(df), bool)
    return np.select([flip & boundary, run == "crashed", nondet, run == "timeout", run == "error",
                      (ref == "timeout") & (run == "ok"), run == "ok"],
                     [BOUNDARY_FLIP, CRASH, NONDETERMINISTIC, NEW_TIMEOUT, NEW_ERROR, NOW_FINISHED, NOW_ANSWERED],
                     STATUS_CHANGED)


def _output_kinds(df: pd.DataFrame, v: Optional[ReferenceVariability]) -> np.ndarray:
    none = np.zeros(len(df), bool)
    nondet = v.is_nondeterministic(df) if v is not None else none
    # varied between another configuration's repeats, one of them giving the expected answer: its
    # output here says nothing of the strategy (an exception or a timeout is not such a variation)
    varies = v.varies_elsewhere(df) if v is not None else none
    right = (df["match_ref"].eq(False) & df["match_run"].eq(True)).to_numpy() if "match_ref" in df else none
    return np.select([nondet, varies, right], [NONDETERMINISTIC, VARIES_ACROSS_REPEATS, NOW_RIGHT], CHANGED_OUTPUT)


def new_timeouts(units: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """The units that timed out in ``units`` but not in ``reference`` ("timed out here, not in
    the reference"): the one definition every finding and verdict uses."""
    t = units[units["status"] == "timeout"]
    if t.empty:
        return t
    ref_status = reference.drop_duplicates(KEY).set_index(KEY)["status"]
    looked = ref_status.reindex(pd.MultiIndex.from_frame(t[KEY])).to_numpy()
    return t[looked != "timeout"]


def candidate_counts(units_by_name: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The seed's "149 vs 126" table: per sample (rows, plus a ``total`` row), the number of
    candidates with an ``ok`` outcome under each named run (columns)."""
    cols = {}
    for name, units in units_by_name.items():
        ok = units[units["status"] == "ok"]
        counts = ok.groupby(SAMPLE, sort=False).size()
        allsamples = units.groupby(SAMPLE, sort=False).size()
        cols[name] = counts.reindex(allsamples.index, fill_value=0)
    table = pd.DataFrame(cols).fillna(0).astype(int)
    many_tasks = table.index.get_level_values(0).nunique() > 1
    table.index = [sample_label(s, i, t if many_tasks else None) for t, s, i in table.index]
    table.loc["total"] = table.sum()
    table.index.name = "sample"
    return table
