"""How figures read, in findings' sentences and in every report table: written once here."""

from __future__ import annotations

import math
from typing import Any


def is_missing(x: Any) -> bool:
    """True for None and NaN: a figure that could not be computed."""
    return x is None or (isinstance(x, float) and math.isnan(x))


def percent(fraction: Any, digits: int = 0) -> str:
    """A fraction 0..1 as ``42 %`` (``n/a`` when missing)."""
    return "n/a" if is_missing(fraction) else f"{100 * float(fraction):.{digits}f} %"


def number(x: Any, spec: str = ".3f") -> str:
    """A number with ``spec``, or an en dash when missing."""
    return "–" if is_missing(x) else format(x, spec)


def signed_percent(pct: Any, digits: int = 1) -> str:
    """A change already in percent as ``+12.3 %`` (an en dash when missing)."""
    return "–" if is_missing(pct) else f"{float(pct):+.{digits}f} %"
