"""Paired significance test across seeds, with Student's t distribution computed from ``math`` alone.

The t CDF uses the regularised incomplete beta function ``I_x(a, b)`` evaluated by its continued fraction
(modified Lentz iteration): for ``df`` degrees of freedom and ``x = df / (df + t**2)``, the two-sided tail
probability ``P(|T| > |t|)`` equals ``I_x(df / 2, 1 / 2)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_TINY = 1e-300
_EPS = 1e-15
_MAX_ITER = 10_000


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of ``I_x(a, b)`` (converges fast for ``x < (a + 1) / (a + b + 2)``)."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_ITER):
        # even step, then odd step of the fraction
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + num / c
            c = c if abs(c) > _TINY else _TINY
            h *= c * d
        if abs(c * d - 1.0) < _EPS:
            return h
    raise ArithmeticError(f"incomplete beta did not converge for a={a}, b={b}, x={x}")


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function ``I_x(a, b)`` for ``a, b > 0`` and ``0 <= x <= 1``."""
    if not (a > 0 and b > 0):
        raise ValueError(f"betainc needs a, b > 0 (got a={a}, b={b})")
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"betainc needs 0 <= x <= 1 (got {x})")
    if x == 0.0 or x == 1.0:
        return x
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """``P(|T| >= |t|)`` for Student's t with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be > 0 (got {df})")
    if math.isnan(t):
        return math.nan
    if math.isinf(t):
        return 0.0
    return betainc(df / 2.0, 0.5, df / (df + t * t))


def t_cdf(t: float, df: float) -> float:
    """``P(T <= t)`` for Student's t with ``df`` degrees of freedom."""
    tail = t_two_sided_p(t, df) / 2.0
    return 1.0 - tail if t > 0 else tail


@dataclass(frozen=True)
class PairedTest:
    """A two-sided paired t-test of ``a - b``: ``n`` pairs, ``df = n - 1``. ``t`` and ``p`` are NaN when the
    test is undefined (fewer than 2 pairs, or every difference equal up to rounding)."""

    n: int
    mean_diff: float
    t: float
    p: float

    @property
    def df(self) -> int:
        return max(self.n - 1, 0)


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> PairedTest:
    """Paired t-test of two equally long sequences (pair ``i`` is ``a[i], b[i]``)."""
    if len(a) != len(b):
        raise ValueError(f"paired test needs equally many values (got {len(a)} and {len(b)})")
    diffs = [float(x) - float(y) for x, y in zip(a, b, strict=True)]
    n = len(diffs)
    if n == 0:
        return PairedTest(0, math.nan, math.nan, math.nan)
    mean = math.fsum(diffs) / n
    if n < 2:
        return PairedTest(n, mean, math.nan, math.nan)
    sd = math.sqrt(math.fsum((d - mean) ** 2 for d in diffs) / (n - 1))
    if sd <= 1e-12 * max(abs(d) for d in diffs):  # every difference equal (up to rounding): t undefined
        return PairedTest(n, mean, math.nan, math.nan)
    t = mean / (sd / math.sqrt(n))
    return PairedTest(n, mean, t, t_two_sided_p(t, n - 1))


def paired_t_test_by_seed(a: Mapping[int, float], b: Mapping[int, float]) -> PairedTest:
    """Paired t-test of per-seed values matched by seed (seeds present in both; NaN values dropped)."""
    seeds = sorted(s for s in set(a) & set(b) if not (math.isnan(a[s]) or math.isnan(b[s])))
    return paired_t_test([a[s] for s in seeds], [b[s] for s in seeds])


@dataclass(frozen=True)
class WelchTest:
    """A two-sided Welch t-test of ``mean(a) - mean(b)`` for independent samples (unequal variances, Welch-
    Satterthwaite ``df``). ``t``, ``df`` and ``p`` are NaN with fewer than 2 values on a side or no variance."""

    n_a: int
    n_b: int
    mean_diff: float
    t: float
    df: float
    p: float


def welch_t_test(a: Sequence[float], b: Sequence[float]) -> WelchTest:
    """Welch's t-test: for runs that share no randomness seed for seed (e.g. two code paths whose dropout masks
    differ), where pairing by seed would pair unrelated draws."""
    a, b = [float(x) for x in a], [float(x) for x in b]
    n_a, n_b = len(a), len(b)
    mean_a = math.fsum(a) / n_a if n_a else math.nan
    mean_b = math.fsum(b) / n_b if n_b else math.nan
    diff = mean_a - mean_b
    if n_a < 2 or n_b < 2:
        return WelchTest(n_a, n_b, diff, math.nan, math.nan, math.nan)
    va = math.fsum((x - mean_a) ** 2 for x in a) / (n_a - 1) / n_a  # squared standard errors of the means
    vb = math.fsum((x - mean_b) ** 2 for x in b) / (n_b - 1) / n_b
    if va + vb <= 0:
        return WelchTest(n_a, n_b, diff, math.nan, math.nan, math.nan)
    t = diff / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (n_a - 1) + vb ** 2 / (n_b - 1))
    return WelchTest(n_a, n_b, diff, t, df, t_two_sided_p(t, df))
