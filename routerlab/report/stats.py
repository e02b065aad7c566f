"""Intervals over seeds.

Results are reported as the mean over seeds with a two-sided Student-t interval,
``mean ± t_{n-1, 1-alpha/2} * s / sqrt(n)``, where ``s`` is the sample standard deviation
(ddof=1). With 3 seeds and alpha=0.05 the multiplier is t_{2, 0.975} = 4.303, so intervals
are honest about how little 3 seeds pin down.

A study that makes several comparisons controls the family-wise error with Holm's step-down
correction (:func:`holm`) over the two-sided one-sample t-test p-values of its paired
differences (:func:`paired_t_pvalue`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy import stats

__all__ = ["MeanCI", "holm", "mean_ci", "paired_t_pvalue"]


class MeanCI(NamedTuple):
    mean: float
    lo: float
    hi: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2


def mean_ci(values: Sequence[float], alpha: float = 0.05) -> MeanCI:
    """Mean and Student-t interval of ``values`` (one per seed); a single value gives a zero-width interval."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"mean_ci needs a non-empty 1-d sequence; got shape {x.shape}")
    mean = float(x.mean())
    if x.size == 1:
        return MeanCI(mean, mean, mean, 1)
    half = float(stats.t.ppf(1 - alpha / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return MeanCI(mean, mean - half, mean + half, int(x.size))


def paired_t_pvalue(diffs: Sequence[float]) -> float:
    """Two-sided p-value of a one-sample t-test that the mean of the paired ``diffs`` is 0.

    ``nan`` with fewer than two pairs (no variance estimate). All-equal nonzero differences
    have zero variance: the p-value is 0 (the test statistic is infinite), all-zero ones give 1.
    """
    x = np.asarray(diffs, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"paired_t_pvalue needs a non-empty 1-d sequence; got shape {x.shape}")
    if x.size < 2:
        return float("nan")
    sd = x.std(ddof=1)
    if sd == 0:
        return 1.0 if x.mean() == 0 else 0.0
    t = x.mean() / (sd / np.sqrt(x.size))
    return float(2 * stats.t.sf(abs(t), x.size - 1))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order; ``nan`` entries stay ``nan`` and do not count.

    Sort the m defined p-values ascending, multiply the j-th (1-based) by ``m - j + 1``, take
    the running maximum so the adjusted values keep their order, and cap at 1. A comparison
    is significant at family-wise level alpha when its adjusted p-value is below alpha.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"holm needs a 1-d sequence of p-values; got shape {p.shape}")
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    if idx.size == 0:
        return out.tolist()
    if np.any((p[idx] < 0) | (p[idx] > 1)):
        raise ValueError(f"holm: p-values must lie in [0, 1]; got {p.tolist()}")
    order = idx[np.argsort(p[idx], kind="stable")]
    m = order.size
    running = 0.0
    for j, i in enumerate(order):
        running = max(running, min(1.0, (m - j) * p[i]))
        out[i] = running
    return out.tolist()
