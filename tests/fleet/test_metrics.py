"""Routing metrics against hand-worked cases (arithmetic in the comments)."""

import math

import numpy as np
import pytest

from routerlab.fleet.metrics import (
    aiq,
    apgr,
    best_single_model,
    bootstrap_ci,
    budget_violation_rate,
    common_range_aiq,
    cost_at_quality,
    cost_quality_point,
    cpt,
    cumulative_regret,
    hull_quality,
    nondecreasing_convex_hull,
    pareto_front,
    per_task,
    reaches_cost,
    routed_outcomes,
    savings_at_quality,
    savings_fraction,
    threshold_sweep,
)

QUALITY = np.array([[0.0, 1.0], [1.0, 1.0], [0.5, 0.0]])
COST = np.array([[1.0, 10.0], [1.0, 10.0], [2.0, 20.0]])


def test_cost_quality_point_and_best_single_model():
    q, c = routed_outcomes(np.array([1, 0, 0]), QUALITY, COST)
    np.testing.assert_array_equal(q, [1.0, 1.0, 0.5])
    np.testing.assert_array_equal(c, [10.0, 1.0, 2.0])
    # mean cost (10 + 1 + 2) / 3 = 13/3; mean quality (1 + 1 + 0.5) / 3 = 2.5/3.
    assert cost_quality_point(np.array([1, 0, 0]), QUALITY, COST) == pytest.approx((13 / 3, 2.5 / 3))
    # column means: quality (0.5, 2/3), cost (4/3, 40/3) -> model 1 has the best quality.
    assert best_single_model(QUALITY, COST) == pytest.approx((1, 2 / 3, 40 / 3))
    # equal quality 1.0: the cheaper model (cost 1 < 2) wins the tie.
    assert best_single_model(np.array([[1.0, 1.0]]), np.array([[2.0, 1.0]]))[0] == 1


# Points: the best at cost 2 is 0.6 (0.4 is dropped). Upper hull, left to right:
# (0.5,.1) -> (1,.2) -> (2,.6): slope .2 then .4 is a left turn, so (1,.2) is popped;
# (2.5,.5) is popped by (3,.7) (slopes -.2 then .4); (0.5,.1)-(2,.6)-(3,.7)-(4,.75)-(5,.7)
# has slopes 1/3, .1, .05, -.05, and the hull stops at the peak (4, .75).
COSTS = np.array([1, 2, 3, 4, 2.5, 5, 0.5, 2])
QUALITIES = np.array([0.2, 0.6, 0.7, 0.75, 0.5, 0.7, 0.1, 0.4])


def test_nondecreasing_convex_hull_hand_worked():
    hull = nondecreasing_convex_hull(COSTS, QUALITIES)
    np.testing.assert_allclose(hull.cost, [0.5, 2, 3, 4])
    np.testing.assert_allclose(hull.quality, [0.1, 0.6, 0.7, 0.75])
    # Between vertices linear: at 1, 0.1 + (0.5 / 1.5) * 0.5 = 0.2667; flat after 4; NaN below 0.5.
    np.testing.assert_allclose(hull_quality(hull, [1.0, 4.5, 0.25]), [0.1 + 0.5 / 3, 0.75, np.nan])
    collinear = nondecreasing_convex_hull([0, 1, 2], [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(collinear.cost, [0, 2])  # the middle point lies on the chord
    with pytest.raises(ValueError, match="finite"):
        nondecreasing_convex_hull([0, np.nan], [0, 1])


def test_hull_dominates_every_point_and_is_concave_nondecreasing():
    rng = np.random.default_rng(0)
    c, q = rng.random(5000), rng.random(5000) ** 2
    hull = nondecreasing_convex_hull(c, q)
    assert np.all(np.diff(hull.cost) > 0) and np.all(np.diff(hull.quality) >= 0)
    slopes = np.diff(hull.quality) / np.diff(hull.cost)
    assert np.all(np.diff(slopes) <= 1e-12)
    assert np.all(q <= hull_quality(hull, c) + 1e-12)


def test_aiq_hand_worked():
    # Default range [0.5, 5]: trapezoids (.1+.6)/2*1.5 = .525, (.6+.7)/2*1 = .65,
    # (.7+.75)/2*1 = .725, flat .75*1 = .75; total 2.65 / 4.5 = 0.58889.
    assert aiq(COSTS, QUALITIES) == pytest.approx(2.65 / 4.5)
    # Range [1, 4.5]: hull(1) = 0.26667; (.26667+.6)/2*1 = .43333, .65, .725, .75*.5 = .375;
    # total 2.18333 / 3.5 = 0.62381.
    assert aiq(COSTS, QUALITIES, cost_range=(1.0, 4.5)) == pytest.approx(
        (0.5 * (0.1 + 0.5 / 3 + 0.6) + 0.65 + 0.725 + 0.375) / 3.5
    )
    assert aiq([2.0], [0.3]) == pytest.approx(0.3)  # a single point: its quality
    assert aiq([0, 1, 2], [0.1, 0.9, 0.8]) == pytest.approx(0.7)  # (.5 + .9) / 2
    with pytest.raises(ValueError, match="cheapest point"):
        aiq(COSTS, QUALITIES, cost_range=(0.0, 1.0))


def test_savings_at_quality_hand_worked():
    costs, quals = np.array([1.0, 4.0, 10.0]), np.array([0.6, 0.7, 0.8])
    # Target 0.95 * 0.8 = 0.76, between (4, .7) and (10, .8): 4 + (.06 / .1) * 6 = 7.6;
    # ratio 7.6 / 10 = 0.76, saved 0.24.
    s = savings_at_quality(costs, quals, reference_quality=0.8, reference_cost=10.0)
    assert (s.cost, s.cost_ratio, s.fraction_saved) == pytest.approx((7.6, 0.76, 0.24))
    # Target 0.5 * 0.8 = 0.4 is met by the cheapest point: cost 1, ratio 0.1.
    assert savings_at_quality(costs, quals, 0.8, 10.0, fraction=0.5).cost_ratio == pytest.approx(0.1)
    assert math.isnan(savings_at_quality(costs, quals, 0.8, 10.0, fraction=1.1).cost)
    assert cost_at_quality(nondecreasing_convex_hull(costs, quals), 0.65) == pytest.approx(2.5)  # 1 + .5 * 3


# Two models, column 0 weak, column 1 strong: weak mean 0.5, strong mean 0.75, gap 0.25.
# Scores rank q0 (.9) > q1 = q2 (.5, tied) > q3 (.1); strong-minus-weak gains: +1, 0, +1, -1.
PAIR_Q = np.array([[0.0, 1.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
PAIR_C = np.array([[1.0, 10.0]] * 4)
SCORES = np.array([0.9, 0.5, 0.5, 0.1])


def test_threshold_sweep_moves_ties_together():
    sweep = threshold_sweep(SCORES, PAIR_Q, PAIR_C)
    np.testing.assert_array_equal(sweep.threshold, [np.inf, 0.9, 0.5, 0.1])
    np.testing.assert_array_equal(sweep.strong_fraction, [0, 0.25, 0.75, 1])
    # quality: 2/4; (2+1)/4; (2+1+0+1)/4; (2+1+0+1-1)/4.
    np.testing.assert_allclose(sweep.quality, [0.5, 0.75, 1.0, 0.75])
    # cost: 4/4; (4+9)/4; (4+27)/4; 40/4.
    np.testing.assert_allclose(sweep.cost, [1.0, 3.25, 7.75, 10.0])
    with pytest.raises(ValueError, match=r"\[Q, 2\]"):
        threshold_sweep(SCORES, QUALITY)


def test_apgr_and_cpt_hand_worked():
    # PGR = (q - .5) / .25 = 0, 1, 2, 1 at fractions 0, .25, .75, 1.
    # APGR = (0+1)/2*.25 + (1+2)/2*.5 + (2+1)/2*.25 = .125 + .75 + .375 = 1.25.
    assert apgr(SCORES, PAIR_Q) == pytest.approx(1.25)
    # CPT(50%): PGR goes 0 -> 1 over [0, .25], reaching .5 at .125.
    assert cpt(SCORES, PAIR_Q, 0.5) == pytest.approx(0.125)
    # CPT(150%): between (.25, 1) and (.75, 2): .25 + .5 * .5 = .5.
    assert cpt(SCORES, PAIR_Q, 1.5) == pytest.approx(0.5)
    assert math.isnan(cpt(SCORES, PAIR_Q, 3.0))
    # RouteLLM's binned sweep, 2 bins: quantiles .1, .5, .9 route 4, 3, 0 queries (the top uses >),
    # fractions 0, .75, 1 with PGR 0, 2, 1: APGR = (0+2)/2*.75 + (2+1)/2*.25 = .75 + .375 = 1.125.
    assert apgr(SCORES, PAIR_Q, n_bins=2) == pytest.approx(1.125)
    with pytest.raises(ValueError, match="PGR is undefined"):
        apgr(SCORES, np.ones((4, 2)))


def test_random_router_apgr_is_about_half():
    rng = np.random.default_rng(1)
    quality = (rng.random((20_000, 2)) < [0.6, 0.8]).astype(float)
    assert apgr(rng.random(20_000), quality) == pytest.approx(0.5, abs=0.03)
    assert apgr(rng.random(20_000), quality, n_bins=10) == pytest.approx(0.5, abs=0.03)


def test_cumulative_regret_hand_worked():
    quality = np.array([[0.0, 1.0], [1.0, 0.5], [0.2, 0.3]])
    cost = np.array([[0.0, 1.0], [0.0, 0.0], [0.0, 0.5]])
    # lam = .1: utilities [0, .9], [1, .5], [.2, .25]; oracle .9, 1, .25;
    # choices 0, 1, 0 earn 0, .5, .2: regret .9, .5, .05 -> cumulative .9, 1.4, 1.45.
    np.testing.assert_allclose(cumulative_regret(np.array([0, 1, 0]), quality, cost, lam=0.1), [0.9, 1.4, 1.45])
    # lam = 0: oracle 1, 1, .3; choices 1, 0, 1 earn 1, 1, .3: no regret.
    np.testing.assert_allclose(cumulative_regret(np.array([1, 0, 1]), quality, cost), [0, 0, 0])


def test_budget_violation_rate_hand_worked():
    costs = np.array([1.0, 3.0, 2.5, 5.0])
    # per call: 3 > 2.5 and 5 > 2.5 violate; 2.5 == 2.5 does not -> 2/4.
    assert budget_violation_rate(costs, 2.5) == 0.5
    # running: spend 1, 4, 6.5, 11.5 vs allowance 2, 4, 6, 8 -> rounds 3 and 4 violate -> 2/4.
    assert budget_violation_rate(costs, 2.0, cumulative=True) == 0.5
    assert budget_violation_rate(costs, np.array([1.0, 3.0, 2.0, 9.0])) == 0.25  # only 2.5 > 2


def test_per_task_breakdown():
    tasks = np.array(["b", "a", "a"])
    q = np.array([0.0, 1.0, 0.0])
    assert per_task(np.mean, tasks, q) == {"a": 0.5, "b": 0.0}
    # two arrays: the mean quality of the routed model, per task.
    assert per_task(lambda qq, d: qq[np.arange(len(d)), d].mean(), tasks, QUALITY, np.array([0, 1, 1])) == {
        "a": 0.5,  # rows 1, 2 pick QUALITY[1, 1] = 1 and QUALITY[2, 1] = 0
        "b": 0.0,  # row 0 picks QUALITY[0, 0] = 0
    }


def test_bootstrap_ci_matches_a_plain_loop():
    rng = np.random.default_rng(2)
    x = (rng.random(2000) < 0.3).astype(float)
    point, lo, hi = bootstrap_ci(lambda a: a.mean(axis=1), x, n_boot=400, seed=7)
    # Same draws, one resample at a time.
    idx = np.random.default_rng(7).integers(0, len(x), size=(400, len(x)))
    ref = np.quantile([x[i].mean() for i in idx], [0.025, 0.975])
    assert point == pytest.approx(x.mean()) and (lo, hi) == pytest.approx(tuple(ref))
    # Normal approximation: half-width 1.96 * sqrt(.3 * .7 / 2000) = 0.020.
    assert (hi - lo) / 2 == pytest.approx(1.96 * np.sqrt(0.21 / 2000), rel=0.2)
    assert bootstrap_ci(lambda a: a.mean(axis=1), np.full(50, 0.4), n_boot=50) == pytest.approx((0.4, 0.4, 0.4))


def test_bootstrap_ci_resamples_rows_of_several_arrays_together():
    quality = np.array([[0.0, 1.0], [1.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    gain = lambda q, w: ((q[..., 1] - q[..., 0]) * w).mean(axis=1)  # noqa: E731
    point, lo, hi = bootstrap_ci(gain, quality, np.ones(4), n_boot=2000, seed=0)
    # gains per row: 1, 0, 0, -1 -> mean 0; a resample's mean lies in [-1, 1].
    assert point == 0.0 and -1.0 <= lo < 0.0 < hi <= 1.0
    with pytest.raises(ValueError, match="share their first axis"):
        bootstrap_ci(gain, quality, np.ones(3))


def _reference_hull(costs, qualities):
    """The implementation before the Pareto pre-filter, kept as the slow, obviously right
    reference: sort by cost (best quality per cost), Andrew's monotone chain over every
    point, stop at the cheapest vertex of highest quality."""
    c, q = np.asarray(costs, np.float64), np.asarray(qualities, np.float64)
    order = np.lexsort((-q, c))
    c, q = c[order], q[order]
    best_at_cost = np.r_[True, c[1:] != c[:-1]]
    c, q = c[best_at_cost], q[best_at_cost]
    upper = []
    for i in range(len(c)):
        while len(upper) >= 2:
            o, a = upper[-2], upper[-1]
            if (c[a] - c[o]) * (q[i] - q[o]) - (q[a] - q[o]) * (c[i] - c[o]) < 0:
                break
            upper.pop()
        upper.append(i)
    vertices = np.asarray(upper)
    vertices = vertices[: int(np.argmax(q[vertices])) + 1]
    return c[vertices], q[vertices]


@pytest.mark.parametrize("kind", ["uniform", "concave", "ties", "grid"])
def test_fast_hull_matches_the_reference(kind):
    rng = np.random.default_rng({"uniform": 0, "concave": 1, "ties": 2, "grid": 3}[kind])
    for n in (1, 2, 3, 10, 1000):
        c = rng.random(n)
        if kind == "uniform":
            q = rng.random(n)
        elif kind == "concave":  # every point on the hull: the pre-filter keeps them all
            c = np.sort(c)
            q = np.sqrt(c)
        elif kind == "ties":  # repeated costs and qualities
            c, q = np.round(c * 5) / 5, np.round(rng.random(n) * 3) / 3
        else:  # collinear points on a grid
            c = np.arange(n, dtype=float)
            q = np.minimum(c, n / 2) / n
        hull = nondecreasing_convex_hull(c, q)
        ref_c, ref_q = _reference_hull(c, q)
        np.testing.assert_array_equal(hull.cost, ref_c)
        np.testing.assert_array_equal(hull.quality, ref_q)


def test_pareto_front_hand_worked():
    # COSTS/QUALITIES sorted by cost: (.5,.1) (1,.2) (2,.6) (2,.4) (2.5,.5) (3,.7) (4,.75) (5,.7).
    # Each quality strictly above every cheaper one: .1, .2, .6, .7, .75 (indices 6, 0, 1, 2, 3).
    np.testing.assert_array_equal(pareto_front(COSTS, QUALITIES), [6, 0, 1, 2, 3])


def test_common_range_aiq_and_savings_fraction_hand_worked():
    hull = nondecreasing_convex_hull(COSTS, QUALITIES)  # cheapest vertex (0.5, 0.1)
    # Within tolerance: a cheapest point at 0.5 * (1 + 1e-12) still reaches c_min = 0.5.
    nudged = nondecreasing_convex_hull([0.5 * (1 + 1e-12), 2.0], [0.1, 0.6])
    assert reaches_cost(nudged, 0.5) and not reaches_cost(nondecreasing_convex_hull([0.5 * (1 + 1e-6)], [0.1]), 0.5)
    assert common_range_aiq(hull, 0.5, 5.0) == pytest.approx(2.65 / 4.5)  # as aiq() above
    assert math.isnan(common_range_aiq(nondecreasing_convex_hull([1.0, 4.0], [0.2, 0.6]), 0.5, 5.0))  # starts late
    assert math.isnan(common_range_aiq(hull, 1.0, 1.0))  # an empty range
    # Hull (1, .6) -> (4, .7) -> (10, .8); target .76 reached at 7.6 (see above): 1 - 7.6 / 10 = 0.24;
    # against another curve reaching .76 at cost 9.5: 1 - 7.6 / 9.5 = 0.2.
    three = nondecreasing_convex_hull([1.0, 4.0, 10.0], [0.6, 0.7, 0.8])
    assert savings_fraction(three, 0.76, 10.0) == pytest.approx(0.24)
    assert savings_fraction(three, 0.76, 9.5) == pytest.approx(0.2)
    assert math.isnan(savings_fraction(three, 0.9, 10.0))


def test_bench_metrics_records_every_case():
    from routerlab.bench.metrics import bench_metrics

    records = bench_metrics(sizes=(2000,), repeats=1, warmup=0, concave_size=300)
    assert [r["case"] for r in records] == ["aiq_uniform_2000", "aiq_concave_300"]
    assert records[1]["hull_vertices"] == 300  # on a concave curve every point is a vertex
    for r in records:
        assert r["aiq_ms"] > 0 and r["speedup"] == pytest.approx(r["hull_all_points_ms"] / r["hull_ms"])


def test_vectorised_passes_and_their_fallback_match_the_reference():
    from routerlab.fleet.metrics import _upper_hull

    rng = np.random.default_rng(4)
    for n in (3, 50, 2000):
        c = np.sort(rng.random(n))
        q = np.cumsum(rng.random(n))  # rising with random turns: many points dropped per pass
        ref_c, ref_q = _reference_hull(c, q)
        for passes in (1, 2, 32):  # 1 and 2 leave work to the monotone chain
            hull = _upper_hull(c, q, max_passes=passes)
            np.testing.assert_array_equal(hull.cost, ref_c)
            np.testing.assert_array_equal(hull.quality, ref_q)


def test_curve_stats_hand_worked():
    from routerlab.fleet.metrics import curve_stats

    # points (1, 0.5), (2, 0.7), (4, 0.8): slopes 0.2 then 0.05, so all three are hull vertices.
    # AIQ over [1, 4] = ((0.5 + 0.7) / 2 * 1 + (0.7 + 0.8) / 2 * 2) / 3 = (0.6 + 1.5) / 3 = 0.7.
    # Quality 0.75 is reached at 2 + (0.75 - 0.7) / (0.8 - 0.7) * 2 = 3: savings 1 - 3 / 4 = 0.25.
    out = curve_stats([1.0, 2.0, 4.0], [0.5, 0.7, 0.8], (1.0, 4.0), {"s": (0.75, 4.0), "never": (0.9, 4.0)})
    assert out["aiq"] == pytest.approx(0.7) and out["s"] == pytest.approx(0.25) and out["never"] is None
    # a range starting below the curve's cheapest point (0.5 < 1): AIQ undefined
    assert curve_stats([1.0, 2.0], [0.5, 0.7], (0.5, 2.0), {})["aiq"] is None


def test_oracle_curve_hand_worked():
    from routerlab.fleet.metrics import oracle_curve

    quality = np.array([[1.0, 1.0], [0.0, 1.0]])
    cost = np.array([[1.0, 3.0], [1.0, 3.0]])
    # lam 0: query 0 ties, argmax takes model 0 (cost 1); query 1 needs model 1 (cost 3): cost 2, quality 1.
    # lam 1: utilities [0, -2] and [-1, -2]: model 0 for both: cost 1, quality (1 + 0) / 2 = 0.5.
    c, q = oracle_curve(quality, cost, np.array([0.0, 1.0]))
    np.testing.assert_allclose(c, [2.0, 1.0])
    np.testing.assert_allclose(q, [1.0, 0.5])


def test_choose_operating_point_and_fold():
    from routerlab.fleet.metrics import choose_operating_point, fold

    cost, quality = [3.0, 1.0, 2.0], [0.9, 0.5, 0.8]
    assert choose_operating_point(cost, quality, 0.75) == 2  # points 0 and 2 reach 0.75; 2 is cheaper
    assert choose_operating_point(cost, quality, 0.95) == 0  # none reaches it: the best quality
    assert choose_operating_point(cost, quality, 0.0, budget=2.5) == 2  # best quality within the budget
    assert choose_operating_point(cost, quality, 0.0, budget=0.5) == 1  # nothing within it: the cheapest
    assert choose_operating_point([2.0, 1.0], [0.8, 0.8], 0.9) == 1  # equal best quality: the cheaper
    assert fold(0.9) == pytest.approx(10.0) and fold(0.5) == pytest.approx(2.0)  # 1 / (1 - s)
    assert fold(1.0) is None and fold(None) is None and fold(float("nan")) is None


def test_across_seeds_hand_worked():
    from routerlab.fleet.protocol import across_seeds

    cells = [{"value": 0.1, "lo": 0.05, "hi": 0.2}, {"value": 0.3, "lo": -0.1, "hi": 0.5}]
    e = across_seeds(cells)
    # mean (0.1 + 0.3) / 2 = 0.2; seed-mean bootstrap ends (0.05 - 0.1) / 2 = -0.025 and (0.2 + 0.5) / 2 = 0.35
    assert (e["mean"], e["boot_lo"], e["boot_hi"]) == pytest.approx((0.2, -0.025, 0.35))
    assert (e["seeds"], e["seeds_defined"], e["seeds_lo_above_zero"]) == (2, 2, 1)
    undefined = across_seeds(cells + [{"value": None, "lo": None, "hi": None}])
    assert undefined["seeds_defined"] == 2 and undefined["boot_lo"] is None  # not every seed has an interval
    assert across_seeds([{"value": None, "lo": None, "hi": None}]) == {"seeds": 1, "seeds_defined": 0,
                                                                      "seeds_lo_above_zero": 0}
