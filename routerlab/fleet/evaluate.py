"""Score routers on a test split: cost-quality points, AIQ, savings, APGR and CPT, each with
a paired percentile-bootstrap interval over test queries.

Every statistic is computed from one resample of the test queries at a time by
:func:`~routerlab.fleet.metrics.bootstrap_ci` with the same seed, so all routers and all
statistics see the same resamples (paired intervals). Within a resample:

* **points**: each knob's (mean cost paid, mean quality served);
* **AIQ** (RouterBench): the mean height of the router's non-decreasing convex hull over
  the common cost range [mean cost of the cheapest model, mean cost of the most expensive
  model] (cheapest and dearest by train cost). Undefined (``None``) for a router whose
  cheapest operating point costs more than the range's start, such as a single model;
* **savings**: 1 - (cost at which the hull first reaches ``target`` x the reference
  model's quality) / (reference model's cost). The reference is the best model on train
  (GPT-4 on RouteLLM's logs);
* **APGR, CPT(50%), CPT(80%)** (RouteLLM; two-model logs only, routers with a score):
  from the router's score on the test queries, with weak = the cheaper model;
* **operating point**: the knob chosen on *validation* (the cheapest knob whose validation
  quality reaches ``target`` x the reference's, or with a ``budget`` the best validation
  quality at a mean cost within it), applied to test: its mean cost and mean quality.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from routerlab.fleet.metrics import aiq, apgr, bootstrap_ci, cost_at_quality, cpt, nondecreasing_convex_hull
from routerlab.fleet.routers import Router, Split, Trace, one_blas_thread, trace, visible

__all__ = ["evaluate_router", "evaluate_routers", "choose_knob", "interval"]


def interval(fn: Callable[[np.ndarray], np.ndarray], n: int, n_boot: int, seed: int) -> dict[str, float | None]:
    """``{"value", "lo", "hi"}`` of ``fn(idx [B, Q]) -> [B]`` over resampled query indices.

    ``None`` marks a statistic that is undefined on the data (value) or on some resample (lo/hi).
    """
    value, lo, hi = bootstrap_ci(fn, np.arange(n), n_boot=n_boot, seed=seed)
    return {"value": _finite(value), "lo": _finite(lo), "hi": _finite(hi)}


def _finite(value: float) -> float | None:
    """JSON-safe: None for an infinite knob (e.g. a cascade threshold that escalates everything)."""
    return float(value) if np.isfinite(value) else None


def _weights(idx: np.ndarray, n: int) -> np.ndarray:
    """Resample weights ``[B, Q]``: how often each query was drawn, divided by Q."""
    b = idx.shape[0]
    counts = np.bincount((idx + n * np.arange(b)[:, None]).ravel(), minlength=b * n)
    return counts.reshape(b, n) / n


def choose_knob(tr: Trace, target_quality: float, budget: float | None = None) -> int:
    """Index of the knob to operate at, from a trace on *validation* data.

    Without ``budget``: the cheapest knob whose mean quality reaches ``target_quality``
    (else the best). With ``budget``: the best mean quality among knobs whose mean cost is
    within it (else the cheapest knob).
    """
    cost, quality = tr.cost.mean(axis=1), tr.quality.mean(axis=1)
    if budget is not None:
        ok = cost <= budget
        if not ok.any():
            return int(np.argmin(cost))
        return int(np.flatnonzero(ok)[np.lexsort((cost[ok], -quality[ok]))[0]])
    ok = quality >= target_quality
    if not ok.any():
        return int(np.lexsort((cost, -quality))[0])
    return int(np.flatnonzero(ok)[np.argmin(cost[ok])])


def evaluate_router(
    router: Router,
    val: Split,
    test: Split,
    *,
    target: float = 0.95,
    budget: float | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """One fitted router's record on ``test`` (see the module docstring for each field)."""
    ref = router.best
    cheap, dear = int(np.argmin(router.train_cost)), int(np.argmax(router.train_cost))
    val_trace = trace(router, val)
    knob = choose_knob(val_trace, target * val.mean_quality[ref], budget)
    tr = trace(router, test)
    chosen = router.route(visible(router, test), val_trace.knobs[knob]).outcomes(test)
    n = len(test)

    def points(idx):
        w = _weights(idx, n)
        return w @ tr.cost.T, w @ tr.quality.T  # [B, K] each

    def aiq_stat(idx):
        w = _weights(idx, n)
        costs, quals = w @ tr.cost.T, w @ tr.quality.T
        lo, hi = w @ test.cost[:, cheap], w @ test.cost[:, dear]
        out = np.full(len(idx), np.nan)
        for b in range(len(idx)):
            if costs[b].min() <= lo[b] * (1 + 1e-9) + 1e-15 and hi[b] > lo[b]:
                out[b] = aiq(costs[b], quals[b], (max(lo[b], costs[b].min()), hi[b]))
        return out

    def savings_stat(idx):
        w = _weights(idx, n)
        costs, quals = w @ tr.cost.T, w @ tr.quality.T
        ref_q, ref_c = w @ test.quality[:, ref], w @ test.cost[:, ref]
        out = np.empty(len(idx))
        for b in range(len(idx)):
            hull = nondecreasing_convex_hull(costs[b], quals[b])
            out[b] = 1.0 - cost_at_quality(hull, target * ref_q[b]) / ref_c[b]
        return out

    mean_c, mean_q = points(np.arange(n)[None])
    record: dict[str, Any] = {
        "router": router.name,
        "points": {"knob": [_finite(k) for k in tr.knobs], "cost": mean_c[0].tolist(), "quality": mean_q[0].tolist()},
        "knob": _finite(val_trace.knobs[knob]),
        "mean_cost": interval(lambda idx: _weights(idx, n) @ chosen[1], n, n_boot, seed),
        "mean_quality": interval(lambda idx: _weights(idx, n) @ chosen[0], n, n_boot, seed),
        "aiq": interval(aiq_stat, n, n_boot, seed),
        "savings": interval(savings_stat, n, n_boot, seed),
    }
    if len(test.models) == 2 and tr.score is not None and test.mean_quality[dear] != test.mean_quality[cheap]:
        pair = test.quality[:, [cheap, dear]]
        for key, stat in (
            ("apgr", lambda s, q: apgr(s, q)),
            ("cpt50", lambda s, q: cpt(s, q, 0.5)),
            ("cpt80", lambda s, q: cpt(s, q, 0.8)),
        ):
            record[key] = interval(
                lambda idx, stat=stat: np.array([_pgr_stat(stat, tr.score[i], pair[i]) for i in idx]), n, n_boot, seed
            )
    return record


def _pgr_stat(stat, score: np.ndarray, pair: np.ndarray) -> float:
    """A PGR-based statistic, NaN on a resample where both models score the same (PGR undefined)."""
    weak, strong = pair.mean(axis=0)
    return float("nan") if weak == strong else stat(score, pair)


def evaluate_routers(
    routers: Sequence[Router],
    train: Split,
    val: Split,
    test: Split,
    *,
    target: float = 0.95,
    budget: float | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Fit each router on ``train`` (tuning on ``val``) and evaluate it on ``test``."""
    with one_blas_thread():
        return [
            evaluate_router(r.fit(train, val), val, test, target=target, budget=budget, n_boot=n_boot, seed=seed)
            for r in routers
        ]
