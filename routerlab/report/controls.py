"""Positive controls: known results an instrument must reproduce before its verdict counts.

A study that asks a new question (does routing beat scale?) first checks that it can see an
effect the literature reports robustly: a dense model four times wider beats the narrow one
on the same tokens; Switch top-1 with 8 experts beats dense at equal active FLOPs (Fedus et
al. 2021). Each control is a *paired* comparison over seeds: seed ``i`` of the arm that should
win against seed ``i`` of the arm that should lose, so what the two share at a seed cancels: in
the LM studies the data order and the evaluation windows (their key streams are per seed, not
per arm); in the fleet, only the seed's task suite and test queries (each model draws its own
initialisation and batches, keyed by its name). The difference is signed so that ``delta > 0``
means the known result holds, whichever direction the metric runs.

A control is *resolved* when at least two pairs exist and the lower end of the 95% (or ``1 - alpha``)
Student-t interval over pairs (:func:`routerlab.report.stats.mean_ci`) is above zero. With
one pair no interval exists: ``ci`` is ``(nan, nan)``, ``to_json`` writes ``null`` bounds,
and the control is never resolved. :func:`gate` turns a failed control into a verdict that
starts with ``underpowered``, so no study states a finding its instrument could not see.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from routerlab.config import check
from routerlab.report.stats import mean_ci

__all__ = ["Control", "format_control", "gate", "level_text", "paired_control"]


@dataclass(frozen=True)
class Control:
    """One positive control: the paired difference, its interval, and whether it resolves."""

    name: str
    delta: float
    ci: tuple[float, float]
    n: int
    resolved: bool
    level: float = 0.95

    def to_json(self) -> dict:
        """``{"delta", "ci": [lo, hi], "resolved", "n"}`` (and ``"level"`` when the interval is not
        95%); an undefined bound (n == 1) is ``None``."""
        lo, hi = (None if not math.isfinite(b) else float(b) for b in self.ci)
        out = {"delta": float(self.delta), "ci": [lo, hi], "resolved": bool(self.resolved), "n": int(self.n)}
        if not math.isclose(self.level, 0.95):
            out["level"] = float(self.level)
        return out


def paired_control(
    name: str,
    better: Sequence[float],
    worse: Sequence[float],
    *,
    lower_is_better: bool,
    alpha: float = 0.05,
) -> Control:
    """The control ``name`` from per-seed metrics of the arm expected to win and the one expected to lose.

    ``better[i]`` and ``worse[i]`` are the same seed's metric for the two arms. With
    ``lower_is_better`` (a loss) the pair's difference is ``worse[i] - better[i]``; otherwise
    ``better[i] - worse[i]``. Either way ``delta > 0`` means the literature's result holds here.
    ``alpha``: the two-sided interval's error rate (0.05: a 95% interval; smaller where a
    design spends its error over several looks, e.g. Pocock's 0.0294 for two).
    """
    b = np.asarray(better, dtype=np.float64)
    w = np.asarray(worse, dtype=np.float64)
    if b.ndim != 1 or b.shape != w.shape or b.size == 0:
        raise ValueError(
            f"control {name!r}: better and worse need the same non-empty 1-d shape (one value per seed); "
            f"got {b.shape} and {w.shape}"
        )
    if not (np.all(np.isfinite(b)) and np.all(np.isfinite(w))):
        raise ValueError(f"control {name!r}: metrics must be finite; got better={b.tolist()} worse={w.tolist()}")
    diffs = (w - b) if lower_is_better else (b - w)
    check(0 < alpha < 1, "alpha", f"must be in (0, 1); got {alpha}")
    if diffs.size == 1:
        return Control(name, float(diffs[0]), (math.nan, math.nan), 1, False, 1 - alpha)
    m = mean_ci(diffs.tolist(), alpha=alpha)
    return Control(name, m.mean, (m.lo, m.hi), m.n, bool(m.lo > 0), 1 - alpha)


def level_text(level: float) -> str:
    """An interval's level as a percentage: ``95%``, ``97.06%``."""
    return f"{100 * level:.2f}".rstrip("0").rstrip(".") + "%"


def format_control(c: Control, digits: int = 3) -> str:
    """``delta +0.120 (95% CI [+0.040, +0.200], n=3)`` (the control's level: ``97.06% CI`` at
    alpha 0.0294); one pair gives ``n/a (1 seed)`` for the interval."""
    level = level_text(c.level) + " CI"
    if c.n < 2:
        return f"delta {c.delta:+.{digits}f} ({level} n/a (1 seed))"
    return f"delta {c.delta:+.{digits}f} ({level} [{c.ci[0]:+.{digits}f}, {c.ci[1]:+.{digits}f}], n={c.n})"


def gate(verdict: str, controls: Iterable[Control]) -> str:
    """``verdict`` if every control resolved, else ``underpowered: <name> control not resolved (...)[; ...]``."""
    failed = [c for c in controls if not c.resolved]
    if not failed:
        return verdict
    return "underpowered: " + "; ".join(f"{c.name} control not resolved ({format_control(c)})" for c in failed)
