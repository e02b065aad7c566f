"""The knowledge study: the per-fact readout against a per-prompt loop, config checks, controls on
bits stored (a synthetic run), and the smoke study end to end."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from routerlab.config import ConfigError
from routerlab.studies.lm import STUDIES
from routerlab.models import knowledge as kn
from routerlab.models.config import LMConfig
from routerlab.models.lm import LM
from routerlab.registry import load_experiment
from routerlab.rundir import RunDir
from routerlab.studies.lm.knowledge import STUDY, KnowledgeStudyConfig, embedding_params, fact_cross_entropy
from routerlab.train.step import split_model

SMALL = kn.KnowledgeConfig(entities=3, renderings=2)


def _model(model_cfg, seed, reinforce):
    from routerlab.moe.reinforce import reinforce_lm

    model = LM(model_cfg, rngs=nnx.Rngs(params=seed))
    return reinforce_lm(model) if reinforce else model


def _reference_fact_ce(model_cfg, params, rest, read, reinforce=False):
    """One prompt at a time: sum of -log p(value byte) over the fact's positions, mean over its prompts."""
    graphdef, _, _ = split_model(nnx.eval_shape(lambda: _model(model_cfg, 0, reinforce)))
    forward = jax.jit(lambda p, r, x: nnx.merge(graphdef, p, r)(x)[0])
    out = np.zeros(len(read.renderings))
    for row, facts in zip(read.tokens, read.fact):
        logits = forward(params, rest, jnp.asarray(row[None, :-1]))
        logp = np.asarray(jax.nn.log_softmax(logits[0].astype(jnp.float32), axis=-1), np.float64)
        for t, f in enumerate(facts):
            if f >= 0:
                out[f] -= logp[t, row[t + 1]]
    return out / read.renderings


@pytest.mark.parametrize("ffn", ["dense", "moe", pytest.param("rl-r", marks=pytest.mark.slow)])
def test_fact_cross_entropy_matches_a_per_prompt_loop(ffn):
    from routerlab.moe import MoEConfig

    moe = MoEConfig(num_experts=4, top_k=1, d_model=16, d_ff=16, renormalize=False, capacity_factor=None,
                    dropless_block_size=16)
    rl = ffn == "rl-r"  # an RL-R arm: the MoE's parameters in RL-R layers, read as such
    cfg = LMConfig(d_model=16, n_heads=2, n_layers=1, seq_len=64, d_ff=16, ffn="dense" if ffn == "dense" else "moe",
                   moe=None if ffn == "dense" else moe)
    states = [split_model(_model(cfg, s, rl))[1:] for s in (0, 1)]  # two seeds, stacked
    params = jax.tree.map(lambda *x: jnp.stack(x), *[p for p, _ in states])
    rest = jax.tree.map(lambda *x: jnp.stack(x), *[r for _, r in states])
    for kind in ("test", "val"):
        read = kn.readout(0, SMALL, kind, 65)
        fast = fact_cross_entropy(cfg, params, rest, read, chunk=8, reinforce=rl)  # several chunks, the last padded
        for s, (p, r) in enumerate(states):
            np.testing.assert_allclose(fast[s], _reference_fact_ce(cfg, p, r, read, rl), rtol=1e-4)


def test_embedding_params_is_the_token_table():
    # Tied, rotary: only the 128 x 16 token table. Untied, learned positions: + 64 x 16 + 16 x 128.
    assert embedding_params(LMConfig(d_model=16, n_heads=2, seq_len=64)) == 128 * 16
    assert embedding_params(LMConfig(d_model=16, n_heads=2, seq_len=64, positions="learned",
                                     tie_embeddings=False)) == 128 * 16 + 64 * 16 + 16 * 128


def test_config_checks_name_the_field():
    with pytest.raises(ConfigError, match="steps"):
        KnowledgeStudyConfig(steps=100)
    with pytest.raises(ConfigError, match="exposures"):
        KnowledgeStudyConfig(exposures=(401,), steps=401 * 512 // 32)
    with pytest.raises(ConfigError, match="seq_len"):
        KnowledgeStudyConfig(seq_len=32)
    with pytest.raises(ConfigError, match="domains"):
        KnowledgeStudyConfig(domains=("arith", "knowledge"))
    with pytest.raises(ConfigError, match="moe_experts"):
        KnowledgeStudyConfig(moe_experts=(32,))
    cfg = KnowledgeStudyConfig()
    assert cfg.steps == cfg.exposures[0] * cfg.entities // cfg.batch_size
    for _, run_cfg in STUDY.all_variants(cfg):  # every arm: knowledge alone, weight decay 0, the same tokens
        assert run_cfg.data.domains == ("knowledge",) and run_cfg.train.weight_decay == 0.0
        assert run_cfg.train.steps == cfg.steps and run_cfg.data.knowledge.entities == cfg.entities


def _fake_run(tmp_path, cfg, bits: dict[str, list[float]]):
    """A run directory whose records give each arm's test bits per seed (lr grid of one)."""
    run = RunDir.create(tmp_path, "knowledge", cfg)
    names = {v[0]: v[1] for v in STUDY.all_variants(cfg)}
    alias = {"control:dense": "dense", "control:dense(ffn x4)": "dense(ffn x4)", "control:switch(E=8)": "moe(E=8)"}
    for name, run_cfg in names.items():
        for seed, b in enumerate(bits[alias.get(name, name)]):
            non_emb, total = 10_000, 14_096
            run.log({"unit": f"{name}/lr0.01/seed{seed}", "variant": name, "lr": 0.01, "seed": seed,
                     "steps": run_cfg.train.steps, "tokens": 1, "params": {"total": total, "active": total},
                     "flops_per_token": {"total": 1.0, "active": 1.0}, "train_flops_per_step": 1.0,
                     "eval_steps": [1], "val_loss": [1.0], "final_val_loss": 1.0, "test_loss": 1.0,
                     "non_embedding_params": non_emb, "table_bits": 12_000.0, "exposures": 400, "test_bits": b,
                     "bits_per_param": b / non_emb, "bits_per_total_param": b / total})
    return run


def test_controls_are_on_bits_stored_and_gate_the_verdict(tmp_path):
    cfg = KnowledgeStudyConfig(lr_grid=(0.01,), num_seeds=3)
    # dense 4x and MoE store ~2,000 more bits than dense in every seed: both controls resolve.
    good = {"dense": [5000.0, 5200.0, 4900.0], "dense(ffn x4)": [7000.0, 7300.0, 6950.0],
            "moe(E=8)": [6900.0, 7100.0, 7000.0]}
    summary = STUDY.summarize(cfg, _fake_run(tmp_path / "a", cfg, good))
    assert summary["controls"]["capacity"]["resolved"] and summary["controls"]["switch_vs_dense"]["resolved"]
    assert summary["controls"]["capacity"]["delta"] == pytest.approx((2000 + 2100 + 2050) / 3)
    assert not summary["verdict"].startswith("underpowered") and "stores more than dense" in summary["verdict"]
    entry = summary["bits_per_param"]["dense"]
    assert entry["non_embedding"]["mean"] == pytest.approx(5033.333333 / 10_000)  # (5000 + 5200 + 4900) / 3
    assert entry["total"]["mean"] == pytest.approx(5033.333333 / 14_096)
    # The 4x-wider dense is no better than dense: the capacity control fails, the verdict is underpowered.
    bad = {**good, "dense(ffn x4)": [5100.0, 5000.0, 5000.0]}
    summary = STUDY.summarize(cfg, _fake_run(tmp_path / "b", cfg, bad))
    assert not summary["controls"]["capacity"]["resolved"]
    assert summary["verdict"].startswith("underpowered: capacity control not resolved")


@pytest.mark.slow  # three arms to compile: ~55 CPU-seconds (see the experiment's docstring)
def test_smoke_study_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("ROUTERLAB_NO_UNIT_CACHE", "1")
    exp = load_experiment("knowledge")
    cfg = exp.get_config("smoke")
    run = RunDir.create(tmp_path, "knowledge", cfg)
    summary = json.loads(json.dumps(exp.module.run(cfg, run)))
    arms = ["dense", "dense(ffn x4)", "moe(E=4)"]
    assert sorted(summary["bits_per_param"]) == sorted(arms)
    for arm in arms:
        entry = summary["bits_per_param"][arm]
        assert set(entry["non_embedding"]) == {"mean", "lo", "hi", "n"} and entry["non_embedding"]["n"] == 2
        assert math.isfinite(entry["non_embedding"]["mean"]) and entry["exposures"] == 4
    assert set(summary["controls"]) == {"capacity", "switch_vs_dense"}
    assert all(isinstance(c["resolved"], bool) for c in summary["controls"].values())
    assert isinstance(summary["verdict"], str) and summary["verdict"]
    # Routing metrics ride along as in every LM record (balancing and capacity read them).
    assert 0 <= summary["variants"]["moe(E=4)"]["routing"]["dropped_frac"]["mean"] <= 1
    assert "routing" not in summary["variants"]["dense"]
    run.finish(summary)
    assert "bits stored on the test prompts" in exp.module.report(run)


def test_run_knowledge_variants_trains_rl_r_with_its_pg_weight(tmp_path, monkeypatch):
    # The trainer run_knowledge_variants reaches (through run_variants and the knowledge readout's
    # _records) is lm_sweep.train_seeds: the RL-R arm must reach it with its policy-gradient weight,
    # and Switch (the same run config, no weight) without one. The fake stops before any training.
    from routerlab.studies.lm import STUDIES, RoutersConfig
    from routerlab.studies.lm import knowledge as knowledge_mod
    from routerlab.studies.lm.config import in_knowledge_regime
    from routerlab.studies.lm.runner import NO_CACHE_ENV

    class Stop(Exception):
        pass

    seen = []

    def fake_train_seeds(run_cfg, seeds, **kw):
        seen.append(kw.get("reinforce_pg_weight", "absent"))
        raise Stop

    monkeypatch.setenv(NO_CACHE_ENV, "1")
    monkeypatch.setattr(knowledge_mod, "train_seeds", fake_train_seeds)
    cfg = in_knowledge_regime(RoutersConfig(), pg_weight=0.37, num_seeds=1, lr_grid=(1e-2,))
    arms = {v[0]: v for v in STUDIES["routers"].variants(cfg)}
    for i, name in enumerate(("rl-r", "switch(top-1)")):
        with pytest.raises(Stop):
            knowledge_mod.run_knowledge_variants(cfg, RunDir.create(tmp_path / str(i), "routers", cfg), [arms[name]],
                                                 "test")
    assert seen == [0.37, None]


def test_quick_arms_are_moe_vs_dense_quick_control_arms():
    """The knowledge study's quick arms (dense, dense 4x, MoE E=8) are config-equal to moe_vs_dense
    quick's positive-control arms, so their cache keys agree and the quick LM suite trains them once."""
    from routerlab.registry import load_experiment

    know, mvd = load_experiment("knowledge").config("quick"), load_experiment("moe_vs_dense").config("quick")
    controls = {c: n for n, c in mvd.control_variants()}
    own = STUDIES["knowledge"].variants(know)
    assert [controls.get(c) for _, c in own] == ["control:dense", "control:dense(ffn x4)", "control:switch(E=8)"]
    assert know.steps == 2000 and know.exposures == (1000,) and know.lr_grid == mvd.lr_grid
    # both read them with the knowledge readout of the same table (one cached record per unit)
    assert know.knowledge() == mvd.knowledge() and mvd.measure == "fact_loss"


def test_capacity_law_is_testable_only_where_the_table_outgrows_an_arm():
    from routerlab.studies.lm.knowledge import capacity_law_testable

    # quick: 1,487 bits against 2 x 6,240 = 12,480 bits that dense 1x could hold: not testable
    assert not capacity_law_testable(1487.0, [6240, 12384, 20832])
    # the earlier 256-entity quick: 5,947 < 12,480, not testable either; a 20,000-bit table is
    assert not capacity_law_testable(5947.0, [6240])
    assert capacity_law_testable(20_000.0, [6240, 12384])


def test_verdict_names_the_table_bound_arm_and_caps_the_ratio():
    """A synthetic summary shaped like quick's run: the 4x arm holds 97% of a 1,487-bit table.
    The MoE's bits per total parameter are at most 1487 / 24928 = 0.05965, and dense's mean is
    811 / 10336 = 0.07846, so the ratio is capped at 0.05965 / 0.07846 = 0.76."""
    from routerlab.studies.lm.knowledge import _verdict
    from routerlab.studies.lm import KnowledgeStudyConfig

    cfg = KnowledgeStudyConfig(entities=64, renderings=64, exposures=(1000,), steps=2000)
    ci = lambda m: {"mean": m, "lo": m - 0.1, "hi": m + 0.1, "n": 3}  # noqa: E731
    entry = lambda bits, non_emb, total: {  # noqa: E731
        "fraction_stored": ci(bits / 1487), "table_bits": 1487.0, "non_embedding_params": non_emb,
        "total_params": total, "total": ci(bits / total)}
    summary = {"analysis": {
        "bits_per_param": {"dense": entry(811, 6240, 10336), "dense(ffn x4)": entry(1443, 12384, 16480),
                           "moe(E=8)": entry(1135, 20832, 24928)},
        "bits_stored_minus_dense": {"moe(E=8) - dense": {"mean": 323.0, "lo": 35.0, "hi": 612.0, "n": 3}},
        "bits_per_total_param_over_dense": {"moe(E=8) / dense": {"mean": 0.58, "lo": 0.42, "hi": 0.74, "n": 3}}}}
    v = _verdict(cfg, summary)
    assert v.startswith("table-bound for dense(ffn x4) (it stores 97% of the table; dense 55%, MoE 76%)")
    assert "capped at ~0.76x by the table's size" in v
    assert "12,480 bits" in v and "are not tested" in v
