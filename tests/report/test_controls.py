"""Positive controls and Holm correction, checked against hand-worked numbers."""

import json
import math

import numpy as np
import pytest

from routerlab.report.controls import Control, format_control, gate, paired_control
from routerlab.report.stats import holm, paired_t_pvalue


def test_control_passes_on_a_clear_paired_gain():
    # Losses (lower is better); the wide dense should win. Pairs: worse - better = 0.20, 0.20, 0.25.
    # mean = 0.65 / 3 = 0.216667; deviations -1/60, -1/60, +1/30 -> sum sq = 2/3600 + 4/3600 = 6/3600;
    # s^2 = (6/3600) / 2 = 1/1200, s = 0.0288675; se = s / sqrt(3) = 0.0166667;
    # t_{2, 0.975} = 4.302653 -> half = 0.0717109 -> CI [0.144956, 0.288378], lower bound > 0.
    c = paired_control("capacity", better=[1.0, 1.1, 0.9], worse=[1.2, 1.3, 1.15], lower_is_better=True)
    assert c.name == "capacity" and c.n == 3 and c.resolved
    assert c.delta == pytest.approx(0.216667, abs=1e-6)
    assert c.ci == pytest.approx((0.144956, 0.288378), abs=1e-6)
    assert gate("MoE beats dense", [c]) == "MoE beats dense"
    assert c.to_json() == {"delta": pytest.approx(0.216667, abs=1e-6), "ci": [pytest.approx(0.144956, abs=1e-6),
                           pytest.approx(0.288378, abs=1e-6)], "resolved": True, "n": 3}


def test_control_fails_when_the_interval_covers_zero():
    # Accuracies (higher is better). better - worse = 0.3, -0.1, 0.1: mean 0.1, s = 0.2,
    # se = 0.2 / sqrt(3) = 0.115470, half = 4.302653 * 0.115470 = 0.496828 -> CI [-0.396828, 0.596828].
    c = paired_control("switch_vs_dense", better=[0.8, 0.5, 0.6], worse=[0.5, 0.6, 0.5], lower_is_better=False)
    assert c.delta == pytest.approx(0.1) and not c.resolved
    assert c.ci == pytest.approx((-0.396828, 0.596828), abs=1e-6)
    ok = paired_control("capacity", [1.0, 1.1, 0.9], [1.2, 1.3, 1.15], lower_is_better=True)
    v = gate("MoE beats dense", [ok, c])
    assert v == "underpowered: switch_vs_dense control not resolved (delta +0.100 (95% CI [-0.397, +0.597], n=3))"


def test_a_control_that_goes_the_wrong_way_is_not_resolved():
    # The "better" arm loses on every seed by exactly 0.1: delta -0.1, zero-width interval, below 0.
    c = paired_control("capacity", better=[1.1, 1.2], worse=[1.0, 1.1], lower_is_better=True)
    assert c.delta == pytest.approx(-0.1) and not c.resolved


def test_one_seed_has_no_interval_and_never_resolves():
    # One pair: 1.5 - 1.0 = 0.5 but no variance estimate, so no interval and no resolution.
    c = paired_control("capacity", better=[1.0], worse=[1.5], lower_is_better=True)
    assert c.n == 1 and c.delta == 0.5 and not c.resolved
    assert all(math.isnan(b) for b in c.ci)
    j = c.to_json()
    assert j["ci"] == [None, None] and j["resolved"] is False
    json.dumps(j, allow_nan=False)  # strict JSON: no NaN literals
    assert "n/a (1 seed)" in format_control(c)
    assert gate("x", [c]).startswith("underpowered: capacity control not resolved")
    assert "± 0.000" not in gate("x", [c])


def test_bad_inputs_name_the_control():
    with pytest.raises(ValueError, match="'capacity'.*same non-empty"):
        paired_control("capacity", [1.0, 2.0], [1.0], lower_is_better=True)
    with pytest.raises(ValueError, match="finite"):
        paired_control("capacity", [1.0, float("nan")], [1.0, 2.0], lower_is_better=True)


def test_control_is_frozen():
    c = Control("capacity", 0.1, (0.0, 0.2), 2, False)
    with pytest.raises(AttributeError):
        c.delta = 1.0  # type: ignore[misc]


def test_holm_by_hand():
    # p = [0.01, 0.04, 0.03], m = 3. Ascending: 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04,
    # running max keeps 0.06). In input order: [0.03, 0.06, 0.06]. A nan stays nan and does not count.
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    out = holm([0.01, float("nan"), 0.04, 0.03])
    assert math.isnan(out[1]) and [out[0], out[2], out[3]] == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # 2 * 0.5 = 1.0, capped; 0.9 -> max(1.0, 0.9)


def test_holm_matches_a_brute_force_reference():
    # Reference: Holm rejects H_(j) at level a iff p_(k) <= a / (m - k + 1) for every k <= j;
    # the adjusted p-value is the smallest a at which H_j is rejected.
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.2, size=6)
    adj = holm(p.tolist())
    order = np.argsort(p)
    m = len(p)
    for j, i in enumerate(order):
        smallest = max(min(1.0, (m - k) * p[order[k]]) for k in range(j + 1))
        assert adj[i] == pytest.approx(smallest)


def test_paired_t_pvalue_by_hand():
    # diffs 0.3, -0.1, 0.1: t = 0.1 / 0.115470 = 0.866025 on 2 df; two-sided p = 0.477767.
    assert paired_t_pvalue([0.3, -0.1, 0.1]) == pytest.approx(0.477767, abs=1e-5)
    assert math.isnan(paired_t_pvalue([0.2]))
    assert paired_t_pvalue([0.1, 0.1]) == 0.0 and paired_t_pvalue([0.0, 0.0]) == 1.0


def test_one_seed_cell_prints_na_never_zero_width():
    from routerlab.report import fmt_ci, mean_ci

    assert fmt_ci(mean_ci([2.5])) == "2.500 ± n/a (1 seed)"
    assert fmt_ci(mean_ci([2.0, 3.0]), 1) == "2.5 ± 6.4"  # s = 0.7071, t_{1,.975} = 12.706: 12.706 * 0.5 = 6.35
