"""Metrics for routers across a model fleet (pure numpy).

Inputs follow :class:`routerlab.data.RoutingMatrices`: ``quality`` and ``cost`` are
``[Q, M]`` arrays (query i answered by model j), and a router's choice is a vector of
model indices ``decisions`` of length Q. Two-model metrics (RouteLLM's) take ``[Q, 2]``
arrays whose column 0 is the weak model and column 1 the strong one, plus the router's
per-query ``scores`` (higher = more in need of the strong model).

Definitions followed, with their sources:

* **Non-decreasing convex hull** and **AIQ**: Hu et al., "RouterBench: A Benchmark for
  Multi-LLM Routing System", 2024, Sec. 3. Operating points can be mixed at random, so
  every point on a segment between two points is achievable; a router can also always
  spend more without losing quality. The hull is therefore the upper concave envelope of
  the (cost, quality) points from the cheapest point up to the cheapest point of highest
  quality, then flat. AIQ = (1 / (c_max - c_min)) * integral_{c_min}^{c_max} hull(c) dc.
* **PGR, APGR, CPT**: Ong et al., "RouteLLM: Learning to Route LLMs with Preference
  Data", 2024, Sec. 5.1, and RouteLLM's ``evals/evaluate.py``.
  PGR = (q(router) - q(weak)) / (q(strong) - q(weak)); APGR = integral over the fraction
  of calls to the strong model, from 0 to 1, of PGR (trapezoidal rule); CPT(x) = the
  smallest fraction of strong calls at which PGR reaches x. Fractions are in [0, 1]
  (RouteLLM prints percentages).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np


def routed_outcomes(decisions: np.ndarray, quality: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-query (quality, cost) of sending query i to model ``decisions[i]``."""
    decisions = np.asarray(decisions)
    rows = np.arange(len(decisions))
    return np.asarray(quality)[rows, decisions], np.asarray(cost)[rows, decisions]


def cost_quality_point(decisions: np.ndarray, quality: np.ndarray, cost: np.ndarray) -> tuple[float, float]:
    """(mean cost per query, mean quality) of a routing decision vector."""
    q, c = routed_outcomes(decisions, quality, cost)
    return float(c.mean()), float(q.mean())


def best_single_model(quality: np.ndarray, cost: np.ndarray) -> tuple[int, float, float]:
    """(index, mean quality, mean cost) of the model with the highest mean quality; ties go to the cheaper."""
    mean_q, mean_c = np.asarray(quality).mean(axis=0), np.asarray(cost).mean(axis=0)
    j = int(np.lexsort((mean_c, -mean_q))[0])
    return j, float(mean_q[j]), float(mean_c[j])


class Hull(NamedTuple):
    """Vertices of a non-decreasing convex hull, by increasing cost (and non-decreasing quality)."""

    cost: np.ndarray
    quality: np.ndarray


def pareto_front(costs: np.ndarray, qualities: np.ndarray) -> np.ndarray:
    """Indices of the points no other point dominates, by increasing cost (vectorised, O(n log n)).

    A point is kept when its quality is strictly above that of every cheaper point (at equal
    cost only the best quality counts, once). Every vertex of the non-decreasing convex hull
    is on this front, so the hull may be built from the front alone.
    """
    c, q = _points(costs, qualities)
    order = np.argsort(c)  # one key: faster than a lexsort; ties in cost are settled below
    q_sorted = q[order]
    best_before = np.r_[-np.inf, np.maximum.accumulate(q_sorted)[:-1]]
    front = order[q_sorted > best_before]
    # Along the front quality rises, so among equal costs the last kept point is the best.
    return front[np.r_[c[front][1:] != c[front][:-1], True]]


def nondecreasing_convex_hull(costs: np.ndarray, qualities: np.ndarray) -> Hull:
    """RouterBench's non-decreasing convex hull of (cost, quality) points, in O(n log n).

    :func:`pareto_front` (a sort and a running maximum) keeps the candidates, O(log n) of n
    random points; vectorised passes (:func:`_upper_hull`) drop the front's points that lie
    on or below a chord (collinear points dropped) until none does (Andrew's monotone chain
    finishes the rare inputs that need more passes). The front rises in quality,
    so the hull ends at the cheapest point of highest quality; beyond it the hull is flat
    (see :func:`hull_quality`).
    """
    front = pareto_front(costs, qualities)
    c, q = _points(costs, qualities)
    return _upper_hull(c[front], q[front])


def _upper_hull(c: np.ndarray, q: np.ndarray, max_passes: int = 32) -> Hull:
    """Upper hull of a Pareto front (costs and qualities strictly increasing), vectorised.

    Each pass drops, all at once, every point on or below the chord between its two current
    neighbours: such a point is below a segment between two points of the set, so it is no
    hull vertex, and dropping it leaves the hull unchanged. When a pass drops nothing the
    chain is strictly concave: it is the hull. Points on a concave curve (the chain's worst
    case) take one pass; after ``max_passes`` the monotone chain finishes the rest.
    """
    idx = np.arange(len(c))
    for _ in range(max_passes):
        if len(idx) < 3:
            break
        o, a, b = idx[:-2], idx[1:-1], idx[2:]
        on_or_below = (c[a] - c[o]) * (q[b] - q[o]) - (q[a] - q[o]) * (c[b] - c[o]) >= 0
        if not on_or_below.any():
            break
        idx = idx[np.r_[True, ~on_or_below, True]]
    else:
        return _upper_chain(c[idx], q[idx])
    return Hull(c[idx], q[idx])  # strictly concave and rising: the hull, its peak last


def _upper_chain(c: np.ndarray, q: np.ndarray) -> Hull:
    """Upper hull, by Andrew's monotone chain, of points sorted by cost with distinct costs,
    truncated at its highest vertex (its cheapest one, on ties)."""
    upper: list[int] = []
    for i in range(len(c)):
        while len(upper) >= 2:
            o, a = upper[-2], upper[-1]
            # cross((a - o), (i - o)) >= 0: a is on or below the chord from o to i.
            if (c[a] - c[o]) * (q[i] - q[o]) - (q[a] - q[o]) * (c[i] - c[o]) < 0:
                break
            upper.pop()
        upper.append(i)
    vertices = np.asarray(upper)
    peak = int(np.argmax(q[vertices]))
    vertices = vertices[: peak + 1]
    return Hull(c[vertices], q[vertices])


def _hull_all_points(costs: np.ndarray, qualities: np.ndarray) -> Hull:
    """The chain over every point (best quality per cost), without the Pareto pre-filter:
    the O(n) Python loop :func:`nondecreasing_convex_hull` replaced; ``routerlab bench
    metrics`` times it as the baseline."""
    c, q = _points(costs, qualities)
    order = np.lexsort((-q, c))
    c, q = c[order], q[order]
    best_at_cost = np.r_[True, c[1:] != c[:-1]]
    return _upper_chain(c[best_at_cost], q[best_at_cost])


def hull_quality(hull: Hull, cost: np.ndarray | float) -> np.ndarray:
    """Quality of the hull at ``cost``: linear between vertices, flat after the last; NaN below the first."""
    cost = np.asarray(cost, dtype=np.float64)
    return np.where(cost < hull.cost[0], np.nan, np.interp(cost, hull.cost, hull.quality))


def aiq(costs: np.ndarray, qualities: np.ndarray, cost_range: tuple[float, float] | None = None) -> float:
    """RouterBench's Average Improvement in Quality: the mean height of the hull over a cost range.

    ``AIQ = (1 / (c_max - c_min)) * integral_{c_min}^{c_max} hull(c) dc``, by default over
    the points' own cost range [min cost, max cost]. To compare routers, give them all the
    same ``cost_range``; ``c_min`` may not be below a router's cheapest point (its quality
    there is undefined), while beyond its last vertex the hull is flat. When
    ``c_min == c_max`` the AIQ is the hull's quality at that cost.
    """
    c, _ = _points(costs, qualities)
    hull = nondecreasing_convex_hull(costs, qualities)
    lo, hi = cost_range if cost_range is not None else (float(c.min()), float(c.max()))
    return hull_aiq(hull, lo, hi)


def hull_aiq(hull: Hull, c_min: float, c_max: float) -> float:
    """:func:`aiq` of a hull already built, over ``[c_min, c_max]`` (``hull.cost[0] <= c_min <= c_max``)."""
    if c_min < hull.cost[0] or c_max < c_min:
        raise ValueError(f"cost_range {(c_min, c_max)} must satisfy {hull.cost[0]} (cheapest point) <= c_min <= c_max")
    if c_max == c_min:
        return float(hull_quality(hull, c_min))
    knots = np.unique(np.r_[c_min, hull.cost[(hull.cost > c_min) & (hull.cost < c_max)], c_max])
    return float(np.trapezoid(hull_quality(hull, knots), knots) / (c_max - c_min))


#: Relative tolerance of "costs no more than": a router *reaches* a cost ``c`` when its
#: cheapest operating point costs at most ``c * (1 + COST_RTOL)`` (mean costs summed in a
#: different order differ in the last bits). The one tolerance of these definitions.
COST_RTOL = 1e-9


def reaches_cost(hull: Hull, cost: float) -> bool:
    """Whether a router's cheapest operating point (its hull's first vertex) costs no more
    than ``cost``, within :data:`COST_RTOL`."""
    return bool(hull.cost[0] <= cost * (1.0 + COST_RTOL) + np.finfo(np.float64).tiny)


def common_range_aiq(hull: Hull, c_min: float, c_max: float) -> float:
    """AIQ of a router's hull over the common cost range ``[c_min, c_max]`` (cheapest to
    dearest model).

    Defined only when the router :func:`reaches_cost` ``c_min`` (its hull must cover the whole
    range; a single model other than the cheapest does not) and ``c_max > c_min``; NaN
    otherwise. A cheapest point a hair above ``c_min`` (within tolerance) starts the range.
    """
    if not (c_max > c_min and reaches_cost(hull, c_min)):
        return float("nan")
    return hull_aiq(hull, max(c_min, float(hull.cost[0])), c_max)


def savings_fraction(hull: Hull, target_quality: float, reference_cost: float) -> float:
    """Savings at quality: ``1 - cost_at_quality(hull, target_quality) / reference_cost``.

    ``hull`` is a router's :func:`nondecreasing_convex_hull` (mixing operating points is
    allowed); NaN when it never reaches ``target_quality``. With ``target_quality = fraction
    * q_ref`` and ``reference_cost = c_ref`` this is savings against a reference model; with
    ``reference_cost`` the cost at which another router's hull (e.g. the zero router's)
    reaches the same target, it is savings against that router.
    """
    return 1.0 - cost_at_quality(hull, target_quality) / reference_cost


def cost_at_quality(hull: Hull, target: float) -> float:
    """Smallest cost at which the hull reaches quality ``target`` (linear between vertices); NaN if never."""
    return _first_crossing(hull.cost, hull.quality, target)


def _first_crossing(x: np.ndarray, y: np.ndarray, target: float) -> float:
    """Smallest x at which the piecewise-linear curve through (x, y), x increasing, reaches y >= target."""
    reached = np.flatnonzero(y >= target)
    if reached.size == 0:
        return float("nan")
    k = int(reached[0])
    if k == 0:
        return float(x[0])
    return float(x[k - 1] + (target - y[k - 1]) / (y[k] - y[k - 1]) * (x[k] - x[k - 1]))


def defined(value: float) -> float | None:
    """``value`` as a float, or ``None`` where it is undefined (NaN or infinite): JSON-safe."""
    return float(value) if np.isfinite(value) else None


def fold(savings: float | None) -> float | None:
    """Cost reduction factor ``1 / (1 - savings)`` (10 = ten times cheaper); ``None`` when undefined."""
    if savings is None or not np.isfinite(savings) or savings >= 1:
        return None
    return 1.0 / (1.0 - savings)


def curve_stats(costs: np.ndarray, qualities: np.ndarray, cost_range: tuple[float, float],
                targets: dict[str, tuple[float, float]]) -> dict[str, float | None]:
    """AIQ and savings of one curve of operating points (e.g. a bandit's over a ``lam`` grid).

    ``aiq`` is :func:`common_range_aiq` over ``cost_range`` (cheapest to dearest model);
    each ``targets[key] = (target quality, reference cost)`` gives ``key`` =
    :func:`savings_fraction` of the curve's hull. ``None`` marks an undefined value.
    """
    hull = nondecreasing_convex_hull(costs, qualities)
    out = {"aiq": defined(common_range_aiq(hull, *cost_range))}
    out.update({key: defined(savings_fraction(hull, goal, ref_cost)) for key, (goal, ref_cost) in targets.items()})
    return out


def oracle_curve(quality: np.ndarray, cost: np.ndarray, lams: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The per-query oracle under utility ``quality - lam * cost`` at each ``lam``: mean (cost, quality)."""
    utility = np.asarray(quality)[None] - np.asarray(lams)[:, None, None] * np.asarray(cost)[None]  # [L, Q, M]
    pick = np.argmax(utility, axis=2)
    rows = np.arange(quality.shape[0])[None]
    return np.asarray(cost)[rows, pick].mean(axis=1), np.asarray(quality)[rows, pick].mean(axis=1)


def choose_operating_point(costs: np.ndarray, qualities: np.ndarray, target_quality: float,
                           budget: float | None = None) -> int:
    """Index of the operating point to deploy, from mean ``costs`` and ``qualities`` on *validation*.

    Without ``budget``: the cheapest point whose quality reaches ``target_quality`` (else the
    best quality, ties to the cheaper). With ``budget``: the best quality among points whose
    cost is within it (ties to the cheaper; else the cheapest point).
    """
    cost, quality = np.asarray(costs, dtype=np.float64), np.asarray(qualities, dtype=np.float64)
    if budget is not None:
        ok = cost <= budget
        if not ok.any():
            return int(np.argmin(cost))
        return int(np.flatnonzero(ok)[np.lexsort((cost[ok], -quality[ok]))[0]])
    ok = quality >= target_quality
    if not ok.any():
        return int(np.lexsort((cost, -quality))[0])
    return int(np.flatnonzero(ok)[np.argmin(cost[ok])])


class Savings(NamedTuple):
    """Cost of reaching a quality target, absolute and relative to a reference model."""

    cost: float  # USD per query on the router's hull
    cost_ratio: float  # cost / reference cost
    fraction_saved: float  # 1 - cost_ratio


def savings_at_quality(
    costs: np.ndarray,
    qualities: np.ndarray,
    reference_quality: float,
    reference_cost: float,
    fraction: float = 0.95,
) -> Savings:
    """Cost of reaching ``fraction`` x the reference model's quality, vs. the reference's cost.

    ``costs``/``qualities`` are a router's operating points (e.g. a :func:`threshold_sweep`);
    the cost is read off their :func:`nondecreasing_convex_hull` (:func:`cost_at_quality`).
    The reference is usually the best single model (:func:`best_single_model`). RouteLLM
    reports savings at ``fraction=0.95`` of GPT-4's quality. NaN when never reached.
    """
    saved = savings_fraction(nondecreasing_convex_hull(costs, qualities), fraction * reference_quality, reference_cost)
    return Savings((1.0 - saved) * reference_cost, 1.0 - saved, saved)


class Sweep(NamedTuple):
    """A two-model router's operating points over thresholds, by increasing strong fraction."""

    threshold: np.ndarray  # queries with score >= threshold go to the strong model
    strong_fraction: np.ndarray  # fraction of queries sent to the strong model
    quality: np.ndarray  # mean quality
    cost: np.ndarray  # mean cost per query


def threshold_sweep(
    scores: np.ndarray, quality: np.ndarray, cost: np.ndarray | None = None, n_bins: int | None = None
) -> Sweep:
    """Sweep the threshold of a two-model router (column 0 weak, column 1 strong).

    With ``n_bins=None`` every achievable split is visited: the threshold takes each
    distinct score, so tied queries move together, from routing nothing (threshold +inf)
    to routing everything. Linear interpolation between consecutive points is what random
    tie-breaking achieves in expectation. ``n_bins=k`` instead reproduces RouteLLM's
    ``evaluate.py``: thresholds at the score quantiles j/k, j = 0..k, routing
    ``score >= t`` except ``score > t`` at the top quantile.
    """
    scores = np.asarray(scores, dtype=np.float64)
    quality = np.asarray(quality, dtype=np.float64)
    cost = np.zeros_like(quality) if cost is None else np.asarray(cost, dtype=np.float64)
    if quality.ndim != 2 or quality.shape[1] != 2 or cost.shape != quality.shape or scores.shape != quality.shape[:1]:
        raise ValueError(f"need scores [Q] and quality/cost [Q, 2], got {scores.shape}, {quality.shape}, {cost.shape}")
    n = len(scores)
    if n_bins is not None:
        thresholds = np.quantile(scores, np.linspace(0.0, 1.0, n_bins + 1))
        strong = scores[None, :] >= thresholds[:, None]
        strong[-1] = scores > thresholds[-1]
        order = np.argsort(strong.sum(axis=1), kind="stable")
        strong, thresholds = strong[order], thresholds[order]
        q = np.where(strong, quality[:, 1], quality[:, 0]).mean(axis=1)
        c = np.where(strong, cost[:, 1], cost[:, 0]).mean(axis=1)
        return Sweep(thresholds, strong.mean(axis=1), q, c)
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    k = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1], True])  # top-k routed, k at tie boundaries
    gain_q = np.r_[0.0, np.cumsum(quality[order, 1] - quality[order, 0])]
    gain_c = np.r_[0.0, np.cumsum(cost[order, 1] - cost[order, 0])]
    thresholds = np.r_[np.inf, ranked][k]
    return Sweep(thresholds, k / n, (quality[:, 0].sum() + gain_q[k]) / n, (cost[:, 0].sum() + gain_c[k]) / n)


def _pgr_curve(scores: np.ndarray, quality: np.ndarray, n_bins: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(strong fraction, PGR) of a threshold sweep."""
    sweep = threshold_sweep(scores, quality, n_bins=n_bins)
    weak, strong = np.asarray(quality, dtype=np.float64).mean(axis=0)
    if strong == weak:
        raise ValueError(f"PGR is undefined: both models have mean quality {weak}")
    return sweep.strong_fraction, (sweep.quality - weak) / (strong - weak)


def apgr(scores: np.ndarray, quality: np.ndarray, n_bins: int | None = None) -> float:
    """RouteLLM's average performance gap recovered: integral_0^1 PGR d(strong fraction).

    Computed with the trapezoidal rule over :func:`threshold_sweep` (which spans strong
    fractions 0 to 1), so it equals RouteLLM's ``(AUC_router - AUC_weak) / (AUC_strong -
    AUC_weak)``. A random router scores about 0.5 (its PGR grows linearly with the strong
    fraction); PGR can exceed 1 when routing beats the strong model.
    """
    fraction, pgr = _pgr_curve(scores, quality, n_bins)
    return float(np.trapezoid(pgr, fraction))


def cpt(scores: np.ndarray, quality: np.ndarray, pgr_target: float, n_bins: int | None = None) -> float:
    """RouteLLM's call-performance threshold CPT(x): the least strong-call fraction reaching PGR >= x.

    ``pgr_target`` is x as a fraction (0.5 for CPT(50%)). The PGR curve is interpolated
    linearly between sweep points and the first crossing is returned; NaN if never reached.
    """
    fraction, pgr = _pgr_curve(scores, quality, n_bins)
    return _first_crossing(fraction, pgr, pgr_target)


def cumulative_regret(decisions: np.ndarray, quality: np.ndarray, cost: np.ndarray, lam: float = 0.0) -> np.ndarray:
    """Cumulative regret against the per-query oracle, over rounds t = 0..T-1 in serving order.

    The utility of model m on query t is ``u[t, m] = quality[t, m] - lam * cost[t, m]``;
    the oracle takes ``max_m u[t, m]``; the regret after round t is
    ``sum_{s <= t} (max_m u[s, m] - u[s, decisions[s]])`` (non-decreasing, >= 0).
    Divide the last entry by T for the mean regret of an offline router.
    """
    utility = np.asarray(quality, dtype=np.float64) - lam * np.asarray(cost, dtype=np.float64)
    chosen = utility[np.arange(len(decisions)), np.asarray(decisions)]
    return np.cumsum(utility.max(axis=1) - chosen)


def budget_violation_rate(costs: np.ndarray, budget: np.ndarray | float, cumulative: bool = False) -> float:
    """Fraction of rounds whose spend exceeds the budget.

    ``cumulative=False``: round t violates when ``costs[t] > budget[t]`` (a per-query
    cap; ``budget`` may be a scalar). ``cumulative=True``: round t violates when the spend
    so far exceeds the allowance so far, ``sum_{s<=t} costs[s] > sum_{s<=t} budget[s]``
    (an online router's running budget).
    """
    costs = np.asarray(costs, dtype=np.float64)
    budget = np.broadcast_to(np.asarray(budget, dtype=np.float64), costs.shape)
    if cumulative:
        costs, budget = np.cumsum(costs), np.cumsum(budget)
    return float(np.mean(costs > budget))


def per_task(fn: Callable[..., float], tasks: np.ndarray, *arrays: np.ndarray) -> dict[str, float]:
    """``fn`` applied to each task's rows of ``arrays`` (first axis = queries), by task name."""
    tasks = np.asarray(tasks)
    return {str(t): float(fn(*(np.asarray(a)[tasks == t] for a in arrays))) for t in np.unique(tasks)}


def bootstrap_ci(
    fn: Callable[..., np.ndarray],
    *arrays: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float, float]:
    """Percentile-bootstrap confidence interval of a statistic, resampling queries.

    ``arrays`` share their first axis (queries). ``fn`` must be vectorised over a leading
    batch axis: it receives arrays of shape ``[B, Q, ...]`` (B resamples) and returns shape
    ``[B]``, e.g. ``lambda q: q.mean(axis=1)``. Returns ``(fn on the data, lo, hi)`` with
    lo/hi the ``alpha/2`` and ``1 - alpha/2`` quantiles of ``n_boot`` resampled values.
    Resamples are drawn in chunks of at most ~2^22 elements to bound memory.
    """
    arrays = tuple(np.asarray(a) for a in arrays)
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"arrays must share their first axis, got lengths {[len(a) for a in arrays]}")
    point = float(np.asarray(fn(*(a[None] for a in arrays)))[0])
    rng = np.random.default_rng(seed)
    chunk = max(1, 2**22 // max(1, sum(a.size for a in arrays)))
    values = []
    for start in range(0, n_boot, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_boot - start), n))
        values.append(np.asarray(fn(*(a[idx] for a in arrays)), dtype=np.float64))
    lo, hi = np.quantile(np.concatenate(values), [alpha / 2, 1 - alpha / 2])
    return point, float(lo), float(hi)


def _points(costs: np.ndarray, qualities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c, q = np.asarray(costs, dtype=np.float64).ravel(), np.asarray(qualities, dtype=np.float64).ravel()
    if c.shape != q.shape or c.size == 0 or not (np.isfinite(c).all() and np.isfinite(q).all()):
        raise ValueError(f"need as many finite costs as qualities, at least one, got {c.size} and {q.size}")
    return c, q
