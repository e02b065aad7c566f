"""Score routers on a test split: cost-quality points, AIQ, ΔAIQ against the zero router,
savings, APGR and CPT, each with a paired percentile-bootstrap interval over test queries.

Every statistic is computed from one resample of the test queries at a time by
:func:`~routerlab.fleet.metrics.bootstrap_ci` with the same seed, so all routers and all
statistics see the same resamples (paired intervals). Within a resample:

* **points**: each knob's (mean cost paid, mean quality served);
* **AIQ** (RouterBench): :func:`~routerlab.fleet.metrics.common_range_aiq`, the mean
  height of the router's non-decreasing convex hull over the common cost range [mean cost
  of the cheapest model, mean cost of the most expensive model] (cheapest and dearest by
  train cost). Undefined (``None``) for a router whose cheapest operating point costs more
  than the range's start, such as a single model;
* **zero router** (RouterBench's baseline): the non-decreasing convex hull of the single
  models' points on the test queries (random mixing of single models, no learning);
  ``delta_aiq`` = the router's AIQ minus the zero router's, on the same resample, so its
  interval is paired. A router *beats the zero router* when that interval lies above 0
  (:func:`beats_zero_router`);
* **savings**: :func:`~routerlab.fleet.metrics.savings_fraction`, 1 - (cost at which the
  router's hull first reaches ``target`` x the reference model's quality) / (reference
  model's cost). The reference (``reference`` in the record) is the best single model *on
  the test queries* (ties to the cheaper); ``savings_vs_zero`` divides instead by the cost
  at which the zero router's hull reaches that quality;
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

from routerlab.fleet.metrics import (
    apgr,
    bootstrap_ci,
    choose_operating_point,
    common_range_aiq,
    cost_at_quality,
    cpt,
    defined,
    nondecreasing_convex_hull,
    savings_fraction,
)
from routerlab.fleet.routers import Router, RouterTrace, Split, ZeroRouter, one_blas_thread, trace, visible

__all__ = ["evaluate_router", "evaluate_routers", "choose_knob", "interval", "beats_zero_router", "zero_router_verdict",
           "best_on_test"]


def interval(fn: Callable[[np.ndarray], np.ndarray], n: int, n_boot: int, seed: int) -> dict[str, float | None]:
    """``{"value", "lo", "hi"}`` of ``fn(idx [B, Q]) -> [B]`` over resampled query indices.

    ``None`` marks a statistic that is undefined on the data (value) or on some resample (lo/hi).
    """
    value, lo, hi = bootstrap_ci(fn, np.arange(n), n_boot=n_boot, seed=seed)
    return {"value": defined(value), "lo": defined(lo), "hi": defined(hi)}


def _weights(idx: np.ndarray, n: int) -> np.ndarray:
    """Resample weights ``[B, Q]``: how often each query was drawn, divided by Q."""
    b = idx.shape[0]
    counts = np.bincount((idx + n * np.arange(b)[:, None]).ravel(), minlength=b * n)
    return counts.reshape(b, n) / n


def choose_knob(tr: RouterTrace, target_quality: float, budget: float | None = None) -> int:
    """Index of the knob to operate at, from a trace on *validation* data:
    :func:`~routerlab.fleet.metrics.choose_operating_point` of the knobs' mean cost and quality
    (the cheapest knob reaching ``target_quality``, else the best; with ``budget``, the best
    within it, else the cheapest)."""
    return choose_operating_point(tr.cost.mean(axis=1), tr.quality.mean(axis=1), target_quality, budget)


def best_on_test(test: Split) -> int:
    """The single model with the highest mean quality on the test queries (ties to the cheaper)."""
    return int(np.lexsort((test.mean_cost, -test.mean_quality))[0])


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
    ref = best_on_test(test)
    cheap, dear = int(np.argmin(router.train_cost)), int(np.argmax(router.train_cost))
    val_ref = int(np.lexsort((val.mean_cost, -val.mean_quality))[0])
    val_trace = trace(router, val)
    knob = choose_knob(val_trace, target * val.mean_quality[val_ref], budget)
    tr = trace(router, test)
    chosen = router.route(visible(router, test), val_trace.knobs[knob]).outcomes(test)
    n = len(test)

    def resampled(idx):
        """Per resample: the router's points [B, K], the single models' points [B, M]."""
        w = _weights(idx, n)
        return w @ tr.cost.T, w @ tr.quality.T, w @ test.cost, w @ test.quality

    cache: dict[bytes, dict[str, np.ndarray]] = {}

    def hull_stats(idx) -> dict[str, np.ndarray]:
        """AIQ, ΔAIQ and both savings on each resample, from one hull of the router and one of
        the zero router per resample (computed once for the four statistics)."""
        key = idx.tobytes()
        if key not in cache:
            costs, quals, single_c, single_q = resampled(idx)
            out = {k: np.empty(len(idx)) for k in ("aiq", "delta_aiq", "savings", "savings_vs_zero")}
            for b in range(len(idx)):
                hull, zero = nondecreasing_convex_hull(costs[b], quals[b]), nondecreasing_convex_hull(
                    single_c[b], single_q[b])
                lo, hi = single_c[b, cheap], single_c[b, dear]
                out["aiq"][b] = common_range_aiq(hull, lo, hi)
                out["delta_aiq"][b] = out["aiq"][b] - common_range_aiq(zero, lo, hi)
                goal = target * single_q[b, ref]
                out["savings"][b] = savings_fraction(hull, goal, single_c[b, ref])
                out["savings_vs_zero"][b] = savings_fraction(hull, goal, cost_at_quality(zero, goal))
            cache[key] = out  # a few floats per resample, kept for the other three statistics
        return cache[key]

    mean_c, mean_q = (a[0] for a in resampled(np.arange(n)[None])[:2])
    record: dict[str, Any] = {
        "router": router.name,
        "points": {"knob": [defined(k) for k in tr.knobs], "cost": mean_c.tolist(), "quality": mean_q.tolist()},
        "knob": defined(val_trace.knobs[knob]),
        "reference": test.models[ref],
        **({"oracle": True} if router.oracle else {}),
        "mean_cost": interval(lambda idx: _weights(idx, n) @ chosen[1], n, n_boot, seed),
        "mean_quality": interval(lambda idx: _weights(idx, n) @ chosen[0], n, n_boot, seed),
        **{k: interval(lambda idx, k=k: hull_stats(idx)[k], n, n_boot, seed)
           for k in ("aiq", "delta_aiq", "savings", "savings_vs_zero")},
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
    zero_router: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Fit each router on ``train`` (tuning on ``val``) and evaluate it on ``test``.

    With ``zero_router`` the first record is the zero router's (:class:`ZeroRouter`).
    ``progress`` receives one line per router as it finishes.
    """
    import time

    routers = ([ZeroRouter()] if zero_router else []) + list(routers)
    records = []
    with one_blas_thread():
        for i, r in enumerate(routers):
            start = time.perf_counter()
            records.append(evaluate_router(r.fit(train, val), val, test, target=target, budget=budget,
                                           n_boot=n_boot, seed=seed))
            if progress is not None:
                progress(f"{r.name}: done ({i + 1}/{len(routers)}, {time.perf_counter() - start:.1f} s)")
    return records


def _is_candidate(record: dict[str, Any]) -> bool:
    """A router that could beat the zero router: not a single model, an oracle, or the zero router."""
    name = record["router"]
    return not (name.startswith("single:") or name == ZeroRouter.name or record.get("oracle", False))


def beats_zero_router(record: dict[str, Any]) -> bool:
    """Whether a record's paired ΔAIQ interval lies above 0."""
    d = record.get("delta_aiq") or {}
    return d.get("lo") is not None and d["lo"] > 0


def zero_router_verdict(records: Sequence[dict[str, Any]]) -> str:
    """One plain sentence: which routers beat the zero router (ΔAIQ interval above 0), or that none does."""
    winners = [r["router"] for r in records if _is_candidate(r) and beats_zero_router(r)]
    if not winners:
        return ("No router beats the zero router (the convex hull of the single models): no router's ΔAIQ "
                "interval lies above 0 (a router that never reaches the cheapest model's cost has no ΔAIQ).")
    return f"Beat the zero router (ΔAIQ 95% interval above 0): {', '.join(winners)}."
