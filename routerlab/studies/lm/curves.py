"""Reading loss curves: the cost to reach a loss, compute ratios, step speed-ups, censoring.

A curve is a set of ``(cost, loss)`` points: a dense frontier (one point per dense width or
budget) or one model's validation curve (one point per evaluation). Every reading is the
cost at which the curve's running minimum first reaches a target loss, with a *censor* flag
when the target lies outside the curve, so bounds are never averaged with values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from routerlab.report import fmt_ci, mean_ci

__all__ = ["cost_to_reach", "compute_ratio", "steps_to_reach", "dense_equivalent_ratio", "ci_or_censored"]


def cost_to_reach(costs: Sequence[float], losses: Sequence[float], target: float, *,
                  log: bool = True) -> tuple[float, int]:
    """The cost at which a loss curve first reaches ``target``, and whether that is censored.

    The curve is the points ``(costs[i], losses[i])`` sorted by cost, replaced by its running
    minimum (a model has reached every loss it once reached), and interpolated linearly between
    consecutive points, in ``log(cost)`` when ``log`` else in ``cost``.

    Returns ``(cost, censor)``: ``censor = 0`` an interpolated value; ``-1`` the target is
    reached already at the first point (``cost`` is an upper bound, ``costs[0]``); ``+1`` never
    reached (``cost`` is a lower bound, ``costs[-1]``).
    """
    c = np.asarray(costs, np.float64)
    order = np.argsort(c)
    c = c[order]
    env = np.minimum.accumulate(np.asarray(losses, np.float64)[order])
    if env[0] <= target:
        return float(c[0]), -1
    if env[-1] > target:
        return float(c[-1]), 1
    i = int(np.argmax(env <= target))
    frac = (env[i - 1] - target) / (env[i - 1] - env[i])
    x = np.log(c) if log else c
    value = x[i - 1] + frac * (x[i] - x[i - 1])
    return float(np.exp(value) if log else value), 0


def compute_ratio(frontier_flops: Sequence[float], frontier_losses: Sequence[float], flops: float,
                  loss: float) -> tuple[float, int]:
    """How many times more training FLOPs the frontier needs than ``flops`` to reach ``loss``.

    ``(C_frontier(loss) / flops, censor)`` with :func:`cost_to_reach` in log FLOPs; censor
    ``+1``: the frontier never reaches ``loss``, so the ratio is at least the value; ``-1``:
    it reaches it at its cheapest point, so the ratio is at most the value. A ratio ``r``
    means a compute saving of ``1 - 1/r`` (the seed's "80% less compute" is ``r = 5``).
    """
    cost, censor = cost_to_reach(frontier_flops, frontier_losses, loss, log=True)
    return cost / flops, censor


def steps_to_reach(steps: Sequence[int], losses: Sequence[float], target: float) -> tuple[float, int]:
    """Steps at which a validation curve first reaches ``target`` (linear in steps; see :func:`cost_to_reach`)."""
    return cost_to_reach(steps, losses, target, log=False)


def dense_equivalent_ratio(frontier_flops_per_token: Sequence[float], frontier_losses: Sequence[float],
                           flops_per_token: float, loss: float) -> tuple[float, int]:
    """The MoE's dense-equivalent FLOPs per token over its own active FLOPs per token.

    The dense frontier is one point per dense width trained on the same tokens: ``(active
    FLOPs per token, final loss)``. The dense-equivalent cost of ``loss`` is where the frontier
    (running minimum, piecewise linear in log FLOPs: :func:`cost_to_reach`) reaches it; the
    ratio divides it by the MoE's own active FLOPs per token. ``r > 1``: the MoE does as well
    as a dense model ``r`` times costlier per token. Censoring as in :func:`compute_ratio`.
    """
    cost, censor = cost_to_reach(frontier_flops_per_token, frontier_losses, loss, log=True)
    return cost / flops_per_token, censor


def ci_or_censored(values: Sequence[float], censors: Sequence[int], digits: int = 2) -> dict[str, Any]:
    """Mean and 95% interval over seeds when no seed is censored, else the bound that holds.

    Returns ``{"ci": MeanCI dict or None, "censored": n, "text": ...}``. With censored seeds the
    text reports the bound that holds for all seeds (``>= min`` when all are censored above, or
    the range otherwise), never a mean that mixes bounds with values.
    """
    values, censors = np.asarray(values, np.float64), np.asarray(censors)
    n_cens = int(np.count_nonzero(censors))
    if n_cens == 0:
        ci = mean_ci(values)
        return {"ci": ci._asdict(), "censored": 0, "text": fmt_ci(ci, digits)}
    if np.all(censors > 0):
        return {"ci": None, "censored": n_cens,
                "text": f">= {values.min():.{digits}f} (lower bound: all seeds censored)"}
    if np.all(censors < 0):
        return {"ci": None, "censored": n_cens,
                "text": f"<= {values.max():.{digits}f} (upper bound: all seeds censored)"}
    return {"ci": None, "censored": n_cens,
            "text": f"{values.min():.{digits}f} .. {values.max():.{digits}f} ({n_cens}/{len(values)} seeds censored)"}
