"""The recommendation: the fastest strategy that kept the sequential answers, when it is
faster beyond the runs' noise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from perfkit.analysis.answers import NEW_TIMEOUT
from perfkit.analysis.findings.finding import Finding
from perfkit.analysis.findings.machine import busy_during, busy_runs, quiet_again
from perfkit.analysis.statistics import interval_excludes
from perfkit.analysis.text import count, is_missing, percent, ratio_interval

if TYPE_CHECKING:  # pragma: no cover
    from perfkit.analysis.comparison import Comparison


#: A strategy must beat sequential by this factor to be recommended (and its interval must
#: exclude 1.0, "no gain").
MIN_SPEEDUP = 1.05


def recommendation(c: "Comparison") -> Optional[Finding]:
    """The fastest group (median wall) whose answers agree with sequential beyond its own
    variability, recommended only when its speedup's interval excludes 1.0 ("no gain") and
    the speedup reaches :data:`MIN_SPEEDUP`; otherwise "no significant difference" with the
    interval, or no verdict when one run gives no interval. Marked when measured on a busy
    machine."""
    g = c.groups
    if g.empty:
        return None
    if c.reference is None:  # no speedup to rank by ("nan×"), no answers checked
        return Finding("recommendation", "recommendation", "",
                       "No recommendation: no sequential run to measure speedups and check answers against.")
    bad = {a.group for a in c.answers if not a.agrees}
    excluded = tuple(f"{r['group']} ({r['speedup']:.2f}×) changed answers: not considered"
                     for _, r in g[g["group"].isin(bad)].iterrows())
    ok = g[~g["group"].isin(bad) & (g["strategy"] != "sequential")].sort_values("wall_s_median")
    if ok.empty:
        text = ("No strategy kept the sequential answers: fix the differences before tuning speed." if bad else
                "Only sequential ran: nothing to recommend.")
        # answers lost to timeouts beside other work may be that work's, not the strategy's; a new
        # error or a changed output is not, and a quiet machine would not bring it back
        timed_out = {a.group for a in c.answers if not a.agrees and set(a.real["kind"]) <= {NEW_TIMEOUT}}
        busy = busy_runs(c, [f for f in c.figures if f.name in timed_out])
        if busy:
            text += (f" The runs that changed them were measured on a busy machine ({busy_during(busy, 'them')}): "
                     f"{quiet_again(busy, 'compare again')} before changing the solver.")
        return Finding("recommendation", "recommendation", "", text, excluded)
    best = ok.iloc[0]
    speed = ratio_interval(best["speedup"], best["speedup_low"], best["speedup_high"], label="95 % CI")
    basis = (f"median wall {best['wall_s_median']:.3f} s over {count(int(best['repeats']), 'run')} "
             f"(min {best['wall_s_min']:.3f}, max {best['wall_s_max']:.3f}); "
             f"sequential over {count(_reference_runs(c), 'run')}",)
    where = f"{best['strategy']} on the {best['backend']} backend with {best['workers']} workers"
    if is_missing(best["speedup_low"]):
        text = (f"No verdict: {best['group']} ran {speed} as fast as sequential; one run gives no interval, so "
                f"repeat every configuration (at least 2 runs each) before choosing.")
    elif interval_excludes(best["speedup_low"], best["speedup_high"]) and best["speedup_low"] > 1.0 \
            and best["speedup"] >= MIN_SPEEDUP:
        text = (f"Use {where}: {speed} faster than sequential, "
                f"{percent(best['efficiency_median'])} of the physical limit.")
    elif interval_excludes(best["speedup_low"], best["speedup_high"]) and best["speedup_high"] < 1.0:
        text = (f"Stay sequential: every strategy that kept the answers was slower; the fastest, {best['group']}, "
                f"ran {speed} as fast.")
    else:
        why = ("an interval that includes 1.0 (no gain)" if not best["speedup_low"] > 1.0 else
               f"less than the {MIN_SPEEDUP:.2f}× worth switching for")
        text = (f"No significant difference: the fastest strategy that kept the answers, {best['group']}, ran "
                f"{speed} as fast as sequential, {why}: stay sequential, or measure more repeats.")
    busy = busy_runs(c, [f for f in c.figures if f.name in (best["group"], _reference_name(c))])
    if busy:
        text += f" Measured on a busy machine ({busy_during(busy, 'these runs')}): {quiet_again(busy, 'confirm')}."
    return Finding("recommendation", "recommendation", best["group"], text, basis + excluded)


def _reference_runs(c: "Comparison") -> int:
    return c.variability.runs if c.variability is not None else 0


def _reference_name(c: "Comparison") -> str:
    return c.figure_of(c.reference).name if c.reference is not None else ""
