"""The statistics every verdict uses, written once: a ratio of medians with its bootstrap
interval (unpaired), a ratio of sums with a paired bootstrap interval, and percent change.

Bootstraps are seeded, so the same figures give the same report every time.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

#: Resamples per bootstrap interval: the quantiles of 4 000 resamples move by < 0.5 % between seeds.
BOOTSTRAP_SAMPLES = 4000
BOOTSTRAP_SEED = 20261128
NAN3 = (math.nan, math.nan, math.nan)


def pct_change(new: float, old: float) -> float:
    """``new`` relative to ``old`` in percent (+10.0 means 10 % more); NaN when ``old`` is 0."""
    return (new / old - 1.0) * 100.0 if old else math.nan


def ratio_of_medians(numerator: Sequence[float], denominator: Sequence[float],
                     confidence: float = 0.95) -> tuple[float, float, float]:
    """``(ratio, low, high)``: median(numerator) / median(denominator) and its bootstrap
    interval at ``confidence``, both samples resampled independently (unpaired repeats).

    Non-positive and NaN values are dropped (a run without a wall). With a single value on both
    sides there is no interval: ``low`` and ``high`` are NaN, never the point itself.
    """
    num, den = _positive(numerator), _positive(denominator)
    if not len(num) or not len(den):
        return NAN3
    point = float(np.median(num) / np.median(den))
    if len(num) < 2 and len(den) < 2:
        return point, math.nan, math.nan
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    ns = np.median(rng.choice(num, size=(BOOTSTRAP_SAMPLES, len(num))), axis=1)
    ds = np.median(rng.choice(den, size=(BOOTSTRAP_SAMPLES, len(den))), axis=1)
    low, high = _interval(ns / ds, confidence)
    return point, low, high


def paired_ratio_of_sums(numerator: Mapping[str, float], denominator: Mapping[str, float],
                         confidence: float = 0.95) -> tuple[float, float, float]:
    """``(ratio, low, high)``: Σ numerator / Σ denominator over the keys both sides have (e.g.
    tasks measured on both sides), with a bootstrap over keys that keeps pairs together. Fewer
    than two common keys: no interval (NaN)."""
    keys = sorted(set(numerator) & set(denominator))
    if not keys:
        return NAN3
    num = np.array([numerator[k] for k in keys], float)
    den = np.array([denominator[k] for k in keys], float)
    point = float(num.sum() / den.sum()) if den.sum() > 0 else math.nan
    if len(keys) < 2:
        return point, math.nan, math.nan
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    idx = rng.integers(0, len(keys), size=(BOOTSTRAP_SAMPLES, len(keys)))
    low, high = _interval(num[idx].sum(axis=1) / den[idx].sum(axis=1), confidence)
    return point, low, high


def _positive(values: Sequence[float]) -> np.ndarray:
    a = np.asarray(values, float)
    return a[np.isfinite(a) & (a > 0)]


def _interval(resampled: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1.0 - confidence) / 2.0
    return float(np.quantile(resampled, alpha)), float(np.quantile(resampled, 1.0 - alpha))
