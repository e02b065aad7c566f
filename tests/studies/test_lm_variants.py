"""LM study variants: matched compute and parameters, controls' arms, and the scaling-law fit."""

from dataclasses import replace

import numpy as np
import pytest

from routerlab.config import ConfigError
from routerlab.models.accounting import flops_per_token, param_count
from routerlab.studies.lm import STUDIES, EncoderRoutersConfig, GranularityConfig, LMStudyConfig, MoEVsDenseConfig


def test_top1_moe_matches_dense_active_flops_up_to_the_router():
    cfg = LMStudyConfig()
    dense, moe = cfg.run_config().model, cfg.run_config(cfg.moe()).model
    # Router: 2 * d * E = 2 * 32 * 8 = 512 FLOPs per token per layer, 2 layers -> 1024.
    assert flops_per_token(moe)["active"] - flops_per_token(dense)["active"] == 2 * 32 * 8 * 2
    # Total parameters: 7 extra experts of 2 * d * f = 4096 each, plus the d x E router, per layer.
    assert param_count(moe)["total"] - param_count(dense)["total"] == 2 * (7 * 2 * 32 * 64 + 32 * 8)


def test_granularity_variants_match_expert_parameters_and_active_flops():
    cfg = GranularityConfig()
    variants = dict(STUDIES["granularity"].variants(cfg))
    moes = [variants[n].model.moe for n in variants if n != "dense"]
    for m in moes:
        routed = 2 * m.num_experts * m.d_model * m.d_ff
        shared = 2 * m.d_model * m.shared_width
        assert routed + shared == 8 * 2 * 32 * 64  # E = 8 coarse experts of width 64
        assert m.top_k * m.d_ff + m.shared_width == 64  # one width-64 FFN active per token


def test_encoder_routers_variants_are_encoders_at_matched_compute():
    cfg = EncoderRoutersConfig()
    variants = dict(STUDIES["encoder_routers"].variants(cfg))
    assert set(variants) == {"dense", "switch(top-1)", "top-2", "expert_choice(cf=1)", "soft(4 slots/expert)",
                             "sinkhorn(BASE)"}
    assert all(not v.model.causal and v.train.objective == "masked" for v in variants.values())
    flops = {name: flops_per_token(v.model)["active"] for name, v in variants.items()}
    # Expert choice with capacity factor 1 and Sinkhorn top-1 use exactly Switch's active FLOPs.
    assert flops["expert_choice(cf=1)"] == flops["sinkhorn(BASE)"] == flops["switch(top-1)"]
    # Soft MoE: 8 experts x 4 slots = 32 slots for 32 tokens, so its expert FLOPs per token
    # equal one expert's, 4 d f = 8192; plus its router 2 d 32 = 2048 and dispatch + combine
    # 4 d 32 = 4096, against Switch's router 2 d 8 = 512: 2 layers x (2048 + 4096 - 512) more.
    assert flops["soft(4 slots/expert)"] - flops["switch(top-1)"] == 2 * (2048 + 4096 - 512)
    # The decoder refuses each token-mixing variant.
    for name in ("expert_choice(cf=1)", "soft(4 slots/expert)", "sinkhorn(BASE)"):
        with pytest.raises(ConfigError, match="^moe.router: this is a causal decoder"):
            replace(variants[name].model, causal=True)
    with pytest.raises(ConfigError, match="^num_experts: must divide seq_len"):
        EncoderRoutersConfig(num_experts=6)


def test_encoder_routers_text_names_the_winner_and_the_reason():
    def variant(mean):
        return {"test_loss": {"mean": mean, "lo": mean - 0.01, "hi": mean + 0.01, "n": 3}}

    summary = {
        "variants": {"dense": variant(2.0), "switch(top-1)": variant(1.9), "soft(4 slots/expert)": variant(1.7)},
        "analysis": {"dense_minus_switch_loss": {"mean": 0.1, "lo": 0.05, "hi": 0.15, "n": 3, "p": 0.02,
                                                 "p_holm": 0.04},
                     "soft(4 slots/expert)_minus_switch_loss": {"mean": -0.2, "lo": -0.3, "hi": -0.1, "n": 3, "p": 0.01,
                                                                "p_holm": 0.02}},
    }
    text = STUDIES["encoder_routers"].text(EncoderRoutersConfig(), summary)
    assert "soft(4 slots/expert) has the lowest mean test loss, a resolved gain over Switch" in text
    assert "resolved worse: dense." in text and "Holm" in text and "leaks the answer" in text and "masked-byte" in text


def test_e_hat_saturates():
    from routerlab.studies.lm.scaling_fit import e_hat

    # E = 1: 1/E_hat = 1/(1/(1/1.85 - 1/315)) + 1/315 = 1/1.85, so E_hat = E_start = 1.85.
    assert e_hat(1) == pytest.approx(1.85)
    # E = 2 with E_start = 2, E_max = 4: (1/2 - 1/4)^-1 = 4; 1/E_hat = 1/(1 + 4) + 1/4 = 0.45; E_hat = 2.222.
    assert e_hat(2, 2.0, 4.0) == pytest.approx(1 / 0.45)
    assert e_hat(1e9) == pytest.approx(315.0, rel=1e-6)
    assert np.all(np.diff(e_hat(np.array([1, 2, 4, 8, 64]))) > 0)


def test_bilinear_fit_recovers_a_planted_law_and_bootstrap_brackets_it():
    from routerlab.studies.lm.scaling_fit import bootstrap_bilinear, fit_bilinear

    a, b, c, d = -0.08, -0.05, 0.004, 1.5
    ns, es = np.array([1e4, 1e4, 1e5, 1e5, 1e6, 1e6]), np.array([1.85, 20.0, 1.85, 20.0, 1.85, 20.0])
    law = lambda n, e: np.exp(a * np.log(n) + b * np.log(e) + c * np.log(n) * np.log(e) + d)  # noqa: E731
    np.testing.assert_allclose(fit_bilinear(ns, es, law(ns, es)), [a, b, c, d], atol=1e-9)
    # Ten seeds per point with 1% multiplicative noise: the intervals bracket the truth. (With
    # 3 seeds the percentile bootstrap under-covers, which is why the study also reports a
    # t-interval over per-seed fits.)
    rng = np.random.default_rng(0)
    groups = [(n, e, law(n, e) * np.exp(rng.normal(0, 0.01, 10))) for n, e in zip(ns, es)]
    fit = bootstrap_bilinear(groups, 200)
    for name, true in zip("abcd", (a, b, c, d)):
        assert fit[name]["lo"] <= true <= fit[name]["hi"], (name, fit[name])


def test_control_arms_are_dense_4x_wider_and_switch_e8_on_the_same_tokens():
    cfg = LMStudyConfig()
    (_, dense), (_, wide), (_, switch) = cfg.control_variants()
    assert wide.model.d_ff == 4 * dense.model.d_ff and wide.model.ffn == "dense"
    assert switch.model.moe.num_experts == 8 and switch.model.moe.top_k == 1 and switch.model.moe.router == "top_k"
    assert dense.train == wide.train == switch.train and dense.data == wide.data == switch.data  # same tokens
    with pytest.raises(ConfigError, match="^capacity_mult:"):
        LMStudyConfig(capacity_mult=2)
    with pytest.raises(ConfigError, match="^lr_grid:"):
        LMStudyConfig(lr_grid=(1e-2, 1e-2))
    with pytest.raises(ConfigError, match="^domains: unknown domain 'nope'"):
        LMStudyConfig(domains=("nope",))
    assert LMStudyConfig(domains=("prose",)).run_config().data.domains == ("prose",)


def test_moe_vs_dense_frontier_has_four_widths_and_the_same_total_model():
    cfg = MoEVsDenseConfig()
    variants = dict(STUDIES["moe_vs_dense"].variants(cfg))
    assert [variants[f"dense(ffn x{m})"].model.d_ff for m in (1, 2, 4, 8)] == [64, 128, 256, 512]
    assert len({v.train for v in variants.values()}) == 1  # same steps, batch, schedule: same tokens
    with pytest.raises(ConfigError, match="^dense_widths:"):
        MoEVsDenseConfig(dense_widths=(2, 4))


def test_e_constants_fit_recovers_planted_constants_and_matches_a_brute_force_search():
    from routerlab.studies.lm.scaling_fit import e_hat, fit_bilinear, fit_e_constants

    a, b, c, d = -0.1, -0.06, 0.004, 1.2
    n = np.repeat([6e3, 2e4, 6e4], 4)
    e = np.tile([1.0, 4.0, 16.0, 64.0], 3)
    law = lambda s, m: np.exp(a * np.log(n) + b * np.log(e_hat(e, s, m)) + c * np.log(n) * np.log(e_hat(e, s, m)) + d)  # noqa: E731
    starts, maxes = np.array([1.3, 2.5, 5.0]), np.array([40.0, 150.0, 900.0])
    got = fit_e_constants(n, e, law(2.5, 150.0), starts, maxes)
    assert (got["e_start"][0], got["e_max"][0]) == (2.5, 150.0) and not got["at_edge"][0]
    np.testing.assert_allclose(got["coef"][0], [a, b, c, d], atol=1e-9)
    assert got["sse"][0] < 1e-20
    # Slow reference: every pair of a grid, fit_bilinear and its squared residual, in a loop.
    rng = np.random.default_rng(1)
    ys = law(2.5, 150.0)[:, None] * np.exp(rng.normal(0, 0.02, (len(n), 3)))
    fast = fit_e_constants(n, e, ys, starts, maxes)
    for r in range(3):
        best = None
        for s in starts:
            for m in maxes:
                eh = e_hat(e, s, m)
                coef = fit_bilinear(n, eh, ys[:, r])
                pred = coef[0] * np.log(n) + coef[1] * np.log(eh) + coef[2] * np.log(n) * np.log(eh) + coef[3]
                sse = float(((pred - np.log(ys[:, r])) ** 2).sum())
                if best is None or sse < best[0]:
                    best = (sse, s, m, coef)
        assert (fast["e_start"][r], fast["e_max"][r]) == (best[1], best[2])
        assert fast["sse"][r] == pytest.approx(best[0], rel=1e-6)
        np.testing.assert_allclose(fast["coef"][r], best[3], atol=1e-8)
    # The planted pair at a grid's end is flagged: the optimum may lie outside the grid.
    assert fit_e_constants(n, e, law(1.3, 150.0), starts, maxes)["at_edge"][0]


def test_scaling_fit_fits_the_constants_with_three_expert_counts_and_uses_clarks_with_two():
    from routerlab.studies.lm.scaling_fit import STUDY, ScalingFitConfig, e_hat

    def groups(expert_counts, s=3.0, m=200.0):
        rng = np.random.default_rng(0)
        out = {}
        for w, n in ((16, 6e3), (32, 2e4), (48, 4.5e4)):
            for e in expert_counts:
                le = np.log(e_hat(e, s, m))
                loss = np.exp(-0.1 * np.log(n) - 0.05 * le + 0.003 * np.log(n) * le + 1.3)
                out[f"d={w},E={e}"] = [{"params": {"active": n}, "test_loss": loss * np.exp(rng.normal(0, 1e-3))}
                                       for _ in range(3)]
        return out

    cfg = ScalingFitConfig(widths=(16, 32, 48), expert_counts=(1, 4, 16), bootstrap=50)
    a = STUDY.analysis(cfg, groups((1, 4, 16)))
    assert a["e_constants"]["source"].startswith("fitted") and a["sbase_constants"]["e_constants"]["e_start"] == 1.85
    assert a["e_constants"]["e_start_ci"][0] <= a["e_constants"]["e_start"] <= a["e_constants"]["e_start_ci"][1]
    assert a["e_constants"]["sse"] <= a["sbase_constants"]["e_constants"]["sse"]  # the fit is at least as good
    two = STUDY.analysis(replace(cfg, expert_counts=(1, 4)), groups((1, 4)))
    assert two["e_constants"]["source"] == "Clark et al. 2022, S-BASE"
    text = STUDY.text(cfg, {"analysis": a})
    assert "refitted in every resample" in text and "S-BASE constants" in text


def test_scaling_fit_falls_back_to_clarks_constants_when_the_grid_cannot_identify_them():
    from routerlab.studies.lm.scaling_fit import STUDY, ScalingFitConfig

    rng = np.random.default_rng(3)  # losses with no expert-count structure at all: pure noise
    groups = {f"d={w},E={e}": [{"params": {"active": n}, "test_loss": 2.0 * np.exp(rng.normal(0, 0.02))}
                               for _ in range(3)]
              for w, n in ((16, 6e3), (32, 2e4), (48, 4.5e4)) for e in (1, 4, 16)}
    cfg = ScalingFitConfig(widths=(16, 32, 48), expert_counts=(1, 4, 16), bootstrap=50)
    a = STUDY.analysis(cfg, groups)
    assert a["e_constants"]["source"] == "Clark et al. 2022, S-BASE" and "why" in a["e_constants"]["not_identified"]
    assert "are not identified" in STUDY.text(cfg, {"analysis": a})
