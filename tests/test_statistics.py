"""The spread of a figure over repeats (pyperf's statistics) and how durations read, on
hand-made values whose answers are known."""

from __future__ import annotations

import math

import pytest

from perfkit.analysis.statistics import spread
from perfkit.analysis.text import duration, durations


def test_spread_of_known_values():
    # 2, 4, 4, 4, 5, 5, 7, 9: mean 5, sample variance 32/7, quartiles 4 and 5.5 (linear)
    s = spread([2, 4, 4, 4, 5, 5, 7, 9])
    assert s.n == 8 and s.mean == 5 and s.median == 4.5
    assert s.sd == pytest.approx(math.sqrt(32 / 7))
    assert (s.q1, s.q3, s.iqr) == (4.0, 5.5, 1.5)
    # fences 4 − 2.25 = 1.75 and 5.5 + 2.25 = 7.75: only 9 lies outside
    assert s.outliers == 1 and (s.min, s.max) == (2, 9)
    assert s.cv == pytest.approx(math.sqrt(32 / 7) / 5)
    assert s.unstable and "standard deviation 43 % of the mean" in s.why


def test_a_steady_figure_is_stable_and_an_extreme_one_is_not():
    steady = spread([1.00, 1.02, 0.98, 1.01, 0.99])
    assert not steady.unstable and steady.outliers == 0 and steady.cv < 0.10
    # sd < 10 % of the mean, but the maximum is 50 % above it: pyperf's second check
    extreme = spread([1.0] * 30 + [16.0])
    assert extreme.outliers == 1 and extreme.unstable and "maximum" in extreme.why


def test_one_value_has_no_spread_and_nan_is_dropped():
    s = spread([3.0, float("nan")])
    assert s.n == 1 and s.median == 3.0 and math.isnan(s.sd) and not s.unstable and s.outliers == 0
    assert spread([]).n == 0
    assert spread([3.0]).to_record()["sd"] is None


@pytest.mark.parametrize("seconds, text", [
    (2.5, "2.50 s"), (12.345, "12.3 s"), (123.4, "123 s"), (0.0123, "12.3 ms"), (0.000999, "999 µs"),
    (4.567e-5, "45.7 µs"), (3.2e-9, "3.20 ns"), (0, "0 s"), (float("nan"), "–"), (None, "–"),
])
def test_durations_are_auto_scaled(seconds, text):
    assert duration(seconds) == text


def test_a_set_of_durations_shares_the_first_ones_unit():
    assert durations([0.0123, 0.0098, 0.11]) == ["12.3 ms", "9.80 ms", "110 ms"]
    assert durations([2.6, 0.012]) == ["2.60 s", "0.0120 s"]
