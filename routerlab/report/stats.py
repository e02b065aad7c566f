"""Intervals over seeds.

Results are reported as the mean over seeds with a two-sided Student-t interval,
``mean ± t_{n-1, 1-alpha/2} * s / sqrt(n)``, where ``s`` is the sample standard deviation
(ddof=1). With 3 seeds and alpha=0.05 the multiplier is t_{2, 0.975} = 4.303, so intervals
are honest about how little 3 seeds pin down.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy import stats

__all__ = ["MeanCI", "mean_ci"]


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
