"""The statistics every verdict uses, written once: a ratio of medians with its bootstrap
interval (unpaired), a ratio of sums with a paired bootstrap interval, percent change, and the
spread of one figure over repeats (:func:`spread`: n, median, mean ± standard deviation, IQR,
min–max, outliers and an "unstable" flag, as pyperf reports them), and the paired timing test
of the gate (one-sided Wilcoxon signed-rank on log ratios, a Hodges–Lehmann estimate with its
distribution-free interval, Holm's correction across tests).

Bootstraps are seeded, so the same figures give the same report every time.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

import numpy as np

# scipy.stats is imported where it is used, not here: importing it imports numpy.f2py, whose
# crackfortran sets re._MAXCACHE = 50 for the whole process, and perfkit imports this module
# before it runs a solver in its own process (inline and thread backends). A solver of 400
# regular expressions then compiled every pattern afresh: 12× its units' CPU
# (docs/benchmarks.md, "Session 10").

#: Resamples per bootstrap interval: the quantiles of 4 000 resamples move by < 0.5 % between seeds.
BOOTSTRAP_SAMPLES = 4000
BOOTSTRAP_SEED = 20261128
NAN3 = (math.nan, math.nan, math.nan)
#: A figure is *unstable* when its standard deviation reaches this share of its mean, or when its
#: minimum or maximum lies this far (``UNSTABLE_EXTREME``) from the mean: pyperf's two checks
#: (pyperf/_cli.py ``format_checks``: "the benchmark result may be unstable").
UNSTABLE_CV = 0.10
UNSTABLE_EXTREME = 0.50
#: Outliers lie outside [Q1 − k·IQR, Q3 + k·IQR] (Tukey's fences, as pyperf counts them).
OUTLIER_IQR = 1.5


def interval_excludes(low: float, high: float, value: float = 1.0) -> bool:
    """True when the interval ``[low, high]`` is known and lies wholly above or below
    ``value`` (1.0 for a ratio: "no change")."""
    return bool(np.isfinite(low) and np.isfinite(high) and (low > value or high < value))


def pct_change(new: float, old: float) -> float:
    """``new`` relative to ``old`` in percent (+10.0 means 10 % more); NaN when ``old`` is 0."""
    return (new / old - 1.0) * 100.0 if old else math.nan


def ratio_of_medians(numerator: Sequence[float], denominator: Sequence[float],
                     confidence: float = 0.95) -> tuple[float, float, float]:
    """``(ratio, low, high)``: median(numerator) / median(denominator) and its bootstrap
    interval at ``confidence``, both samples resampled independently (unpaired repeats).

    Non-positive and NaN values are dropped (a run without a wall). With a single value on
    either side there is no interval: ``low`` and ``high`` are NaN, never the point itself (a
    resampled single run would pretend that side never varies).
    """
    num, den = _positive(numerator), _positive(denominator)
    if not len(num) or not len(den):
        return NAN3
    point = float(np.median(num) / np.median(den))
    if len(num) < 2 or len(den) < 2:
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


@dataclass(frozen=True)
class Spread:
    """One figure over repeats (in the figure's own unit, e.g. seconds).

    ``sd`` is the sample standard deviation (n − 1), ``q1``/``q3`` the quartiles by linear
    interpolation, ``outliers`` how many values lie outside Tukey's fences
    (:data:`OUTLIER_IQR`), ``cv = sd / mean``. With one value ``sd``, ``cv`` are NaN and the
    figure is never flagged. ``unstable`` follows pyperf; ``why`` says which check fired.
    """

    n: int
    median: float
    mean: float
    sd: float
    q1: float
    q3: float
    iqr: float
    min: float
    max: float
    outliers: int
    cv: float
    unstable: bool
    why: str = ""

    def to_record(self) -> dict[str, Any]:
        """JSON-ready (NaN as None)."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def spread(values: Sequence[float]) -> Spread:
    """The :class:`Spread` of ``values`` (NaN values dropped; none left: every figure NaN)."""
    a = np.asarray(values, float)
    a = a[np.isfinite(a)]
    n = int(len(a))
    if not n:
        return Spread(0, *([math.nan] * 8), 0, math.nan, False)
    q1, median, q3 = (float(q) for q in np.quantile(a, [0.25, 0.5, 0.75]))
    iqr = q3 - q1
    mean = float(a.mean())
    sd = float(a.std(ddof=1)) if n >= 2 else math.nan
    low, high = q1 - OUTLIER_IQR * iqr, q3 + OUTLIER_IQR * iqr
    outliers = int(((a < low) | (a > high)).sum())
    cv = sd / mean if n >= 2 and mean else math.nan
    why = []
    if n >= 2 and cv >= UNSTABLE_CV:
        why.append(f"standard deviation {100 * cv:.0f} % of the mean")
    if n >= 2 and mean:
        for name, v in (("minimum", float(a.min())), ("maximum", float(a.max()))):
            if abs(v - mean) >= UNSTABLE_EXTREME * abs(mean):
                why.append(f"{name} {100 * (v - mean) / mean:+.0f} % from the mean")
    return Spread(n, median, mean, sd, q1, q3, iqr, float(a.min()), float(a.max()), outliers, cv,
                  bool(why), "; ".join(why))


@dataclass(frozen=True)
class PairedShift:
    """A paired comparison of ``head`` against ``base`` (e.g. CPU seconds of interleaved pairs).

    ``ratio`` is the Hodges–Lehmann estimate of head / base (exp of the median of the Walsh
    averages of the log ratios), ``low``/``high`` its distribution-free interval at the
    confidence asked; ``p_slower``/``p_faster`` the one-sided Wilcoxon signed-rank p-values
    (H1: head slower / head faster).
    """

    n: int
    ratio: float
    low: float
    high: float
    p_slower: float
    p_faster: float


def paired_shift(head: Sequence[float], base: Sequence[float], confidence: float = 0.99) -> PairedShift:
    """The paired test of the gate: Wilcoxon signed-rank (scipy) on ``log(head / base)`` per
    pair, one-sided both ways, and the Hodges–Lehmann ratio with its interval. Pairs with a
    non-positive or missing value are dropped; fewer than two pairs give NaN figures."""
    h, b = np.asarray(head, float), np.asarray(base, float)
    keep = np.isfinite(h) & np.isfinite(b) & (h > 0) & (b > 0)
    d = np.log(h[keep] / b[keep])
    if len(d) < 2:
        return PairedShift(len(d), math.nan, math.nan, math.nan, math.nan, math.nan)
    if not np.any(d):  # identical pairs: no evidence either way (scipy warns and returns NaN)
        return PairedShift(len(d), 1.0, 1.0, 1.0, 1.0, 1.0)
    from scipy import stats  # see the note at the imports

    slower = stats.wilcoxon(d, alternative="greater", zero_method="zsplit").pvalue
    faster = stats.wilcoxon(d, alternative="less", zero_method="zsplit").pvalue
    walsh = _walsh_averages(d)
    low, high = _signed_rank_interval(walsh, len(d), confidence)
    return PairedShift(len(d), float(np.exp(np.median(walsh))), float(np.exp(low)), float(np.exp(high)),
                       float(slower), float(faster))


def _walsh_averages(d: np.ndarray) -> np.ndarray:
    # scipy has no Hodges–Lehmann estimator: the median of the n(n+1)/2 pairwise means (i <= j)
    i, j = np.triu_indices(len(d))
    return np.sort((d[i] + d[j]) / 2.0)


def _signed_rank_interval(walsh: np.ndarray, n: int, confidence: float) -> tuple[float, float]:
    """The interval of the Hodges–Lehmann estimate that inverts the two-sided signed-rank
    test: the k-th smallest and largest Walsh averages, k from the normal approximation of the
    signed-rank statistic (within one rank of the exact value from n = 10 on)."""
    from scipy import stats  # see the note at the imports

    m = len(walsh)
    z = stats.norm.ppf(0.5 + confidence / 2.0)
    k = int(math.floor(n * (n + 1) / 4.0 - z * math.sqrt(n * (n + 1) * (2 * n + 1) / 24.0)))
    k = min(max(k, 0), (m - 1) // 2)
    return float(walsh[k]), float(walsh[m - 1 - k])


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order as given; NaN stays NaN). Written here
    because scipy has none (only Benjamini–Hochberg) and statsmodels is a large dependency for
    these few lines: sort ascending, multiply the i-th smallest by (m − i), keep it monotone."""
    p = np.asarray(p_values, float)
    finite = np.flatnonzero(np.isfinite(p))
    adjusted = np.full(len(p), math.nan)
    order = finite[np.argsort(p[finite])]
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[idx]))
        adjusted[idx] = running
    return adjusted.tolist()
