"""AIQ and the non-decreasing convex hull on many (cost, quality) points.

Each case times, round-robin in one process (:func:`~routerlab.bench.common.interleaved_median_ms`),
on ``n`` random points (costs uniform in [0, 1), qualities uniform or on a concave curve):

* ``aiq``: :func:`routerlab.fleet.metrics.aiq` (Pareto pre-filter, then the hull's chain);
* ``hull``: :func:`~routerlab.fleet.metrics.nondecreasing_convex_hull` alone;
* ``hull_all_points``: the chain over every point without the pre-filter (the implementation
  it replaced), for the ``speedup``;
* ``sort``: ``np.argsort`` of the costs, the O(n log n) floor, for ``ratio_to_sort``.

``concave`` points all lie on the hull, the pre-filter's worst case (it keeps every point).
Times are medians in milliseconds; ``speedup = hull_all_points_ms / hull_ms``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from routerlab.bench.common import environment, interleaved_median_ms
from routerlab.fleet.metrics import _hull_all_points, aiq, nondecreasing_convex_hull

__all__ = ["bench_metrics"]


def bench_metrics(*, sizes: tuple[int, ...] = (10_000, 1_000_000), repeats: int = 5, warmup: int = 1,
                  seed: int = 0, concave_size: int = 1_000_000) -> list[dict[str, Any]]:
    """One record per (points, size): the medians of the four timings and their ratios.

    Args:
      sizes: numbers of uniformly random points.
      repeats, warmup: timed and untimed interleaved rounds.
      seed: seed of the points.
      concave_size: size of the worst case (every point on the hull); 0 skips it.
    """
    rng = np.random.default_rng(seed)
    cases = [("uniform", n) for n in sizes] + ([("concave", concave_size)] if concave_size else [])
    env = environment()
    records = []
    for points, n in cases:
        c = rng.random(n)
        q = rng.random(n) if points == "uniform" else np.sqrt(c)
        ms = interleaved_median_ms(
            {
                "aiq": lambda: aiq(c, q),
                "hull": lambda: nondecreasing_convex_hull(c, q).cost,
                "hull_all_points": lambda: _hull_all_points(c, q).cost,
                "sort": lambda: np.argsort(c),
            },
            repeats=repeats,
            warmup=warmup,
        )
        vertices = len(nondecreasing_convex_hull(c, q).cost)
        records.append({
            "case": f"aiq_{points}_{n}",
            "points": points,
            "n": n,
            "hull_vertices": vertices,
            "aiq_ms": ms["aiq"],
            "hull_ms": ms["hull"],
            "hull_all_points_ms": ms["hull_all_points"],
            "sort_ms": ms["sort"],
            "speedup": ms["hull_all_points"] / ms["hull"],
            "ratio_to_sort": ms["aiq"] / ms["sort"],
            "repeats": repeats,
            "warmup": warmup,
            **env,
        })
    return records
