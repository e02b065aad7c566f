"""LM routing studies: the batched trainer against the single-model path, the derived-number
math on hand-worked cases, matched compute and parameters, and a smoke run end to end."""

import math
from dataclasses import replace

import numpy as np
import pytest

from routerlab.config import ConfigError
from routerlab.models.accounting import flops_per_token, param_count
from routerlab.models.config import LMConfig
from routerlab.models.corpus import CorpusConfig
from routerlab.moe import MoEConfig
from routerlab.registry import execute, load_experiment
from routerlab.rundir import RunDir
from routerlab.studies.lm_moe import (
    STUDIES,
    EncoderRoutersConfig,
    GranularityConfig,
    LMStudyConfig,
    ci_or_censored,
    compute_ratio,
    cost_to_reach,
    steps_to_reach,
)
from routerlab.studies.lm_sweep import eval_points, train_seeds
from routerlab.train import train
from routerlab.train.config import LMRunConfig, TrainConfig


def test_batched_trainer_equals_single_model_train(tmp_path):
    """Seed 1 trained by the vmapped sweep gives the loss curve of routerlab.train.train for seed 1
    (DeepSeek router, so the non-Param router bias path is exercised too)."""
    moe = MoEConfig(num_experts=4, top_k=1, d_model=16, d_ff=16, router="deepseek", renormalize=False,
                    load_balance_weight=0.0, dropless_block_size=8)
    cfg = LMRunConfig(
        model=LMConfig(d_model=16, n_layers=2, n_heads=2, seq_len=16, d_ff=32, ffn="moe", moe=moe),
        data=CorpusConfig(bytes_per_domain=20_000),
        train=TrainConfig(steps=12, batch_size=4, warmup_steps=2, eval_every=6, eval_batches=1, log_every=3,
                          ckpt_every=12),
        seed=1,
    )
    sweep = train_seeds(cfg, [1])
    run = RunDir.create(tmp_path, "single", cfg)
    train(cfg, run)
    records = list(run.records())
    train_rec = {r["step"]: r["loss"] for r in records if r["split"] == "train"}
    val_rec = {r["step"]: r["loss"] for r in records if r["split"] == "val"}
    test_rec = [r["loss"] for r in records if r["split"] == "test"]
    assert sorted(val_rec) == list(sweep["eval_steps"]) == [6, 12]
    np.testing.assert_allclose([train_rec[s] for s in (3, 6, 9, 12)], sweep["train_loss"][0, [2, 5, 8, 11]], rtol=1e-5)
    np.testing.assert_allclose([val_rec[s] for s in (6, 12)], sweep["val_loss"][0], rtol=1e-5)
    np.testing.assert_allclose(test_rec, sweep["test"]["loss"], rtol=1e-5)
    assert sweep["val"]["routing"]["0"]["load"].shape == (1, 4)


@pytest.mark.slow
def test_batched_trainer_equals_single_model_train_masked_encoder(tmp_path):
    """The same agreement for a bidirectional encoder on masked bytes: both paths draw the
    ("mask", step) training masks and the fixed evaluation masks alike. (Dense, to keep the
    compile short; the encoder's MoE routers run in the encoder_routers smoke test.)"""
    cfg = LMRunConfig(
        model=LMConfig(d_model=16, n_layers=1, n_heads=2, seq_len=16, d_ff=32, causal=False),
        data=CorpusConfig(bytes_per_domain=20_000),
        train=TrainConfig(steps=6, batch_size=4, warmup_steps=1, eval_every=6, eval_batches=1, log_every=3,
                          ckpt_every=6, objective="masked"),
        seed=2,
    )
    sweep = train_seeds(cfg, [2])
    run = RunDir.create(tmp_path, "single", cfg)
    train(cfg, run)
    records = list(run.records())
    np.testing.assert_allclose([r["loss"] for r in records if r["split"] == "train"], sweep["train_loss"][0, [2, 5]],
                               rtol=1e-5)
    np.testing.assert_allclose([r["loss"] for r in records if r["split"] == "val"], sweep["val_loss"][0], rtol=1e-5)
    np.testing.assert_allclose([r["loss"] for r in records if r["split"] == "test"], sweep["test"]["loss"], rtol=1e-5)


def test_eval_points():
    assert eval_points(TrainConfig(steps=10, eval_every=4, warmup_steps=0)) == [4, 8, 10]
    assert eval_points(TrainConfig(steps=8, eval_every=4, warmup_steps=0)) == [4, 8]


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
        return {"final_val_loss": {"mean": mean, "lo": mean - 0.01, "hi": mean + 0.01}}

    summary = {
        "variants": {"dense": variant(2.0), "switch(top-1)": variant(1.9), "soft(4 slots/expert)": variant(1.7)},
        "analysis": {"dense_minus_switch_loss": {"mean": 0.1, "lo": 0.05, "hi": 0.15, "n": 3},
                     "soft(4 slots/expert)_minus_switch_loss": {"mean": -0.2, "lo": -0.3, "hi": -0.1, "n": 3}},
    }
    text = STUDIES["encoder_routers"].text(EncoderRoutersConfig(), summary)
    assert "soft(4 slots/expert) has the lowest mean validation loss, a resolved gain over Switch" in text
    assert "resolved worse: dense." in text and "leaks the answer" in text and "masked-byte" in text


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    exp = load_experiment("moe_vs_dense")
    out = tmp_path_factory.mktemp("runs")
    return exp, execute(exp, exp.config("smoke"), out, scale="smoke")


def test_moe_vs_dense_smoke_end_to_end(smoke_run, check_paper_hook):
    exp, run = smoke_run
    records = list(run.records())
    cfg = exp.config("smoke")
    assert len(records) == 4 * cfg.num_seeds  # moe, dense_same_total, dense@1x, dense@2x
    assert all(np.isfinite(r["final_val_loss"]) for r in records)
    summary = run.summary
    ratio = summary["analysis"]["moe_compute_ratio"]
    assert len(ratio["per_seed"]) == cfg.num_seeds and set(ratio["censor"]) <= {-1, 0, 1}
    # The 2x dense run is charged exactly twice the 1x run's FLOPs.
    v = summary["variants"]
    assert v["dense@2x"]["train_flops"] == 2 * v["dense@1x"]["train_flops"]
    report = (run.artifacts / "report.md").read_text()
    assert "Compute ratio at equal loss" in report and "| moe |" in report
    assert (run.artifacts / "moe_vs_dense.pdf").is_file()
    written = check_paper_hook("moe_vs_dense", run)  # every LM study shares this paper hook
    assert set(written) == {"moe_vs_dense.tex", "moe_vs_dense_findings.tex", "moe_vs_dense.pdf"}
    assert "Compute ratio at equal loss" in written["moe_vs_dense_findings.tex"].read_text()


def test_moe_vs_dense_resumes_to_identical_metrics(smoke_run):
    exp, run = smoke_run
    metrics = run.metrics_path.read_bytes()
    lines = metrics.decode().splitlines(keepends=True)
    # Drop the last variant's records (a kill before it finished) and rerun the study in place.
    run.metrics_path.write_text("".join(lines[:-3]))
    exp.run(exp.config("smoke"), run)
    assert run.metrics_path.read_bytes() == metrics


@pytest.mark.slow
@pytest.mark.parametrize("name", ["expert_count", "balancing", "capacity", "granularity", "routers", "scaling_fit",
                                  "encoder_routers"])
def test_other_studies_smoke(name, tmp_path, check_paper_hook):
    exp = load_experiment(name)
    run = execute(exp, exp.config("smoke"), tmp_path, scale="smoke")
    assert run.done and all(np.isfinite(r["final_val_loss"]) for r in run.records())
    assert f"![{name}]" in (run.artifacts / "report.md").read_text()
    assert f"{name}_findings.tex" in check_paper_hook(name, run)


def test_e_hat_saturates():
    from routerlab.studies.lm_moe import e_hat

    # E = 1: 1/E_hat = 1/(1/(1/1.85 - 1/315)) + 1/315 = 1/1.85, so E_hat = E_start = 1.85.
    assert e_hat(1) == pytest.approx(1.85)
    # E = 2 with E_start = 2, E_max = 4: (1/2 - 1/4)^-1 = 4; 1/E_hat = 1/(1 + 4) + 1/4 = 0.45; E_hat = 2.222.
    assert e_hat(2, 2.0, 4.0) == pytest.approx(1 / 0.45)
    assert e_hat(1e9) == pytest.approx(315.0, rel=1e-6)
    assert np.all(np.diff(e_hat(np.array([1, 2, 4, 8, 64]))) > 0)


def test_bilinear_fit_recovers_a_planted_law_and_bootstrap_brackets_it():
    from routerlab.studies.lm_moe import bootstrap_bilinear, fit_bilinear

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
