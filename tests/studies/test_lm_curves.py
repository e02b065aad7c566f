"""Reading loss curves (routerlab.studies.lm.curves): hand-worked frontiers and curves."""

import math

import pytest

from routerlab.studies.lm import ci_or_censored, compute_ratio, cost_to_reach, dense_equivalent_ratio, steps_to_reach


def test_cost_to_reach_hand_worked():
    # Points (1, 3), (10, 2), (100, 1). Target 1.5 lies halfway between losses 2 and 1, so in
    # log10 cost it is halfway between 1 and 2: 10**1.5 = 31.62.
    cost, censor = cost_to_reach([1, 10, 100], [3, 2, 1], 1.5)
    assert censor == 0 and cost == pytest.approx(10 ** 1.5)
    # Linear in cost instead: halfway between 10 and 100 is 55.
    assert cost_to_reach([1, 10, 100], [3, 2, 1], 1.5, log=False) == (pytest.approx(55.0), 0)
    # Unsorted input is sorted by cost first; a bump up (2.5 at cost 50) is flattened by the
    # running minimum, so target 2.2 is reached between 1 and 10: frac (3-2.2)/(3-2) = 0.8,
    # log10 cost 0.8, cost 6.31.
    cost, censor = cost_to_reach([50, 1, 10], [2.5, 3, 2], 2.2)
    assert censor == 0 and cost == pytest.approx(10 ** 0.8)
    # Never reached: lower bound at the largest cost; reached at once: upper bound at the smallest.
    assert cost_to_reach([1, 10], [3, 2], 1.0) == (10.0, 1)
    assert cost_to_reach([1, 10], [3, 2], 3.5) == (1.0, -1)


def test_compute_ratio_and_speedup_hand_worked():
    # Dense frontier: 1e12 FLOPs -> loss 2.0, 4e12 -> 1.6. An MoE at 1e12 FLOPs with loss 1.8 is
    # halfway in loss, so halfway in log FLOPs: sqrt(1e12 * 4e12) = 2e12, ratio 2 (50% saving).
    ratio, censor = compute_ratio([1e12, 4e12], [2.0, 1.6], 1e12, 1.8)
    assert censor == 0 and ratio == pytest.approx(2.0)
    # Beyond the frontier: the ratio is at least 4e12 / 1e12 = 4.
    assert compute_ratio([1e12, 4e12], [2.0, 1.6], 1e12, 1.5) == (pytest.approx(4.0), 1)
    # Step speed-up: dense reaches 2.0 at step 300; the MoE's curve (100: 2.4, 200: 1.9) passes
    # 2.0 at 100 + 100 * (2.4-2.0)/(2.4-1.9) = 180 steps: speed-up 300/180 = 1.667.
    steps, censor = steps_to_reach([100, 200, 300], [2.4, 1.9, 1.8], 2.0)
    assert censor == 0 and 300 / steps == pytest.approx(5 / 3)


def test_censored_seeds_are_reported_as_bounds_not_means():
    full = ci_or_censored([2.0, 2.2, 2.4], [0, 0, 0])
    # mean 2.2, sd 0.2, t_{2,.975} = 4.303: half-width 4.303 * 0.2 / sqrt(3) = 0.497.
    assert full["censored"] == 0 and full["ci"]["mean"] == pytest.approx(2.2)
    assert (full["ci"]["hi"] - full["ci"]["lo"]) / 2 == pytest.approx(4.3027 * 0.2 / math.sqrt(3), rel=1e-3)
    above = ci_or_censored([4.0, 4.0, 3.9], [1, 1, 1])
    assert above["ci"] is None and above["text"].startswith(">= 3.90 (lower bound")
    mixed = ci_or_censored([1.5, 4.0, 2.0], [0, 1, 0])
    assert mixed["ci"] is None and "1/3 seeds censored" in mixed["text"]


def test_dense_equivalent_ratio_hand_worked_frontier():
    # Dense widths 1x, 2x, 4x, 8x at 1e5, 2e5, 4e5, 8e5 FLOPs/token, test losses 2.0, 1.8, 1.6, 1.5.
    # An MoE at 1.02e5 FLOPs/token with loss 1.7 lies halfway between 1.8 (2e5) and 1.6 (4e5):
    # halfway in log FLOPs is sqrt(2e5 * 4e5) = 2.828e5; ratio 2.828e5 / 1.02e5 = 2.773.
    f, l = [1e5, 2e5, 4e5, 8e5], [2.0, 1.8, 1.6, 1.5]
    r, censor = dense_equivalent_ratio(f, l, 1.02e5, 1.7)
    assert censor == 0 and r == pytest.approx(math.sqrt(8e10) / 1.02e5)
    # Loss 1.55: between 1.6 (4e5) and 1.5 (8e5), halfway -> sqrt(32e10) = 5.657e5, ratio 5.657e5 / 1e5 = 5.657.
    assert dense_equivalent_ratio(f, l, 1e5, 1.55)[0] == pytest.approx(math.sqrt(32e10) / 1e5)
    # Below the whole frontier: censored, at least 8e5 / 1e5 = 8.
    assert dense_equivalent_ratio(f, l, 1e5, 1.4) == (pytest.approx(8.0), 1)
    # Worse than dense 1x: at most 1e5 / 1.02e5.
    assert dense_equivalent_ratio(f, l, 1.02e5, 2.1) == (pytest.approx(1e5 / 1.02e5), -1)
    # A non-monotone frontier (2x worse than 1x) is read through its running minimum:
    # points (1e5, 2.0), (2e5, 2.1 -> 2.0), (4e5, 1.6); loss 1.8 halfway between 2e5 and 4e5.
    assert dense_equivalent_ratio([1e5, 2e5, 4e5], [2.0, 2.1, 1.6], 1e5, 1.8)[0] == pytest.approx(math.sqrt(8e10) / 1e5)


def test_one_seed_interval_is_not_a_zero_width_interval():
    out = ci_or_censored([2.0], [0])
    assert "n/a (1 seed)" in out["text"] and "± 0.00" not in out["text"]


def test_moe_vs_dense_analysis_on_a_hand_worked_frontier():
    from routerlab.studies.lm.moe_vs_dense import MoEVsDenseConfig, STUDY

    def rec(seed, fpt, test, curve=(2.4, 1.9, 1.8), final_val=None):
        return {"seed": seed, "steps": 300, "flops_per_token": {"active": fpt}, "test_loss": test,
                "eval_steps": [100, 200, 300], "val_loss": list(curve),
                "final_val_loss": curve[-1] if final_val is None else final_val}

    cfg = MoEVsDenseConfig(dense_widths=(1, 2, 4, 8))
    # Frontier per seed (FLOPs/token -> test loss): 1e5 -> 2.0, 2e5 -> 1.8, 4e5 -> 1.6, 8e5 -> 1.5 (seed 0);
    # seed 1 the same + 0.1. The MoE at 1e5 FLOPs/token scores 1.7 (seed 0) and 1.8 (seed 1): each halfway
    # between the 2x and 4x points, so both ratios are sqrt(2e5 * 4e5) / 1e5 = 2.828.
    losses = {1: 2.0, 2: 1.8, 4: 1.6, 8: 1.5}
    groups = {f"dense(ffn x{m})": [rec(s, 1e5 * m, losses[m] + 0.1 * s, final_val=2.0) for s in (0, 1)]
              for m in (1, 2, 4, 8)}
    # The MoE's validation curve (100: 2.4, 200: 1.9, 300: 1.8) reaches dense's final val loss 2.0 at
    # 100 + 100 * (2.4 - 2.0) / (2.4 - 1.9) = 180 steps: speed-up 300 / 180 = 1.667 on both seeds.
    groups["moe"] = [rec(s, 1e5, 1.7 + 0.1 * s) for s in (0, 1)]
    a = STUDY.analysis(cfg, groups)
    r = a["dense_equivalent_ratio"]
    assert r["per_seed"] == pytest.approx([math.sqrt(8e10) / 1e5] * 2) and r["censored"] == 0
    assert r["mean"] == pytest.approx(2.828427) and r["ci"] == pytest.approx([2.828427, 2.828427])
    assert a["step_speedup"]["per_seed"] == pytest.approx([5 / 3, 5 / 3])
    # MoE minus dense 1x: 1.7 - 2.0 = -0.3 on both seeds; minus dense 8x: 1.7 - 1.5 = +0.2.
    assert a["moe_minus_dense_loss"]["mean"] == pytest.approx(-0.3)
    assert a["moe_minus_dense_same_total_loss"]["mean"] == pytest.approx(0.2)
