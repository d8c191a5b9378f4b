"""How figures read, in findings' sentences and in every report table: written once here."""

from __future__ import annotations

import math
from typing import Any


def is_missing(x: Any) -> bool:
    """True for None and NaN: a figure that could not be computed."""
    return x is None or (isinstance(x, float) and math.isnan(x))


def percent(fraction: Any, digits: int = 0) -> str:
    """A fraction 0..1 as ``42 %`` (``n/a`` when missing). A share that is not zero never reads
    as zero: it keeps one significant digit (5 units of 20 800 read ``0.02 %``, not ``0.0 %``)."""
    if is_missing(fraction):
        return "n/a"
    value = 100 * float(fraction)
    if value and abs(value) < 0.5 * 10 ** -digits:
        digits = -math.floor(math.log10(abs(value)))
    return f"{value:.{digits}f} %"


def count(n: int, noun: str, plural: str = "") -> str:
    """``1 unit``, ``2 units``: a count with its noun (``plural`` when it is not noun + s)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def possessive(name: str) -> str:
    """``c005's``, ``min_conflicts'``: a name (a candidate's, a strategy's) as its owner."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def number(x: Any, spec: str = ".3f") -> str:
    """A number with ``spec``, or an en dash when missing."""
    return "–" if is_missing(x) else format(x, spec)


def signed_percent(pct: Any, digits: int = 1) -> str:
    """A change already in percent as ``+12.3 %`` (an en dash when missing)."""
    return "–" if is_missing(pct) else f"{float(pct):+.{digits}f} %"


#: Time units from the largest down, with their size in seconds (as pyperf and hyperfine print).
TIME_UNITS = (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9))
#: Significant digits of a duration: 3, as pyperf (``12.3 ms``, ``456 µs``).
DURATION_DIGITS = 3


def time_unit(seconds: Any) -> tuple[str, float]:
    """The unit a duration reads best in: the largest whose value is at least 1 (``ns`` below)."""
    x = 0.0 if is_missing(seconds) else abs(float(seconds))
    for unit, size in TIME_UNITS:
        if x >= size:
            return unit, size
    return TIME_UNITS[-1]


def duration(seconds: Any, unit: tuple[str, float] | None = None) -> str:
    """A duration in seconds, auto-scaled to s/ms/µs/ns with 3 significant digits
    (``1.23 s``, ``45.6 ms``, ``789 µs``); ``unit`` forces one (a column sharing its unit).
    An en dash when missing."""
    if is_missing(seconds):
        return "–"
    if float(seconds) == 0:
        return f"0 {unit[0] if unit else 's'}"
    name, size = unit or time_unit(seconds)
    value = float(seconds) / size
    mag = abs(value)
    decimals = 0 if mag >= 100 else 1 if mag >= 10 else 2
    if mag and mag < 1:  # a value forced below 1 of its unit keeps 3 significant digits
        decimals = min(9, DURATION_DIGITS - 1 - math.floor(math.log10(mag)))
    return f"{value:.{decimals}f} {name}"


def durations(values: Any) -> list[str]:
    """Several durations in the unit of the first one that is known and not zero (pyperf's
    rule), so ``median [min–max]`` or a column reads at a glance."""
    known = [v for v in values if not is_missing(v) and float(v) != 0]
    unit = time_unit(known[0]) if known else TIME_UNITS[0]
    return [duration(v, unit) for v in values]


def ratio_interval(point: Any, low: Any, high: Any, digits: int = 2, label: str = "") -> str:
    """A ratio with its interval: ``1.43× (1.23–1.70)``, with ``label`` before the bounds
    (``95 % CI``); an interval that could not be computed (one run) reads as unavailable,
    never as a point: ``1.43× (no interval: one run)``."""
    if is_missing(point):
        return "–"
    head = f"{float(point):.{digits}f}×"
    if is_missing(low) or is_missing(high):
        return f"{head} (no interval: one run)"
    lead = f"{label} " if label else ""
    return f"{head} ({lead}{float(low):.{digits}f}–{float(high):.{digits}f})"
