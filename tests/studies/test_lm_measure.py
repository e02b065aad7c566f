"""The declared measure and the knowledge table as shared LM study config: run configs (the unit
cache's keys) unchanged by the move, controls and paired differences read ``cfg.measure``, bad
values refused with one line. Training is replaced by fake records, so these run in milliseconds."""

import hashlib
import json
import math
from dataclasses import replace

import numpy as np
import pytest

from routerlab.config import ConfigError, canonical_json, from_dict, to_dict
from routerlab.models.config import LMConfig
from routerlab.models.corpus import CorpusConfig
from routerlab.models.knowledge import KNOWLEDGE
from routerlab.moe import MoEConfig
from routerlab.registry import load_experiment
from routerlab.rundir import RunDir
from routerlab.studies.lm import STUDIES, CapacityConfig, EncoderRoutersConfig, LMStudyConfig
from routerlab.studies.lm import knowledge as knowledge_mod
from routerlab.studies.lm.measure import fact_loss, measure_of
from routerlab.train.config import LMRunConfig, TrainConfig

# sha256 (16 hex) of every arm's (name, canonical run config, RL-R weight), computed at 8817976,
# BEFORE the knowledge fields moved from MoEVsDenseConfig into LMStudyConfig: an equal hash means
# every arm would train exactly what it trained then. The pins guard the run configs, not the unit
# cache: a unit's cache key (runner.unit_key) also hashes the jax and code versions, so any change
# under routerlab/ retrains units however these pins stand. Change a pin only with a change that is
# meant to change what an arm trains (and say so in its commit).
PINNED_ARMS = {
    "moe_vs_dense/smoke": "b2b7997cbcbbb5ab",
    "moe_vs_dense/quick": "08a5ebdf6aada436",
    "capacity/smoke": "edd45c62888f11b7",
    "capacity/quick": "e7a1efbbbb2416a8",  # moved to the knowledge regime with lr transfer on purpose (was c54acde816d1a61d)
    "routers/smoke": "33688f9e719c8d33",
    "routers/quick": "9d0d59b12fe8c7cb",  # moved to the knowledge regime with lr transfer on purpose (was 8b19bcee217f8b60)
    "balancing/smoke": "7d81e7d266c8c9b3",
    "balancing/quick": "b995f381386cd9ee",  # moved to the knowledge regime with lr transfer on purpose (was e09f130c2b34a642)
    "expert_count/smoke": "9c49e323f16008c1",
    "expert_count/quick": "9b2d50daa4df7f8b",  # moved to the knowledge regime with lr transfer on purpose (was 0afeca150d118ccf)
    "granularity/smoke": "93d4ec063f9f0c31",
    "granularity/quick": "f614585fdaaa9450",  # moved to the knowledge regime with lr transfer on purpose (was 8d869a5d8668708b)
    "scaling_fit/smoke": "f853cc5fdc39c283",
    "scaling_fit/quick": "f48a0ddaebd02ac1",
    "encoder_routers/smoke": "955ec14f06d080f3",
    "encoder_routers/quick": "9018a6b7acb89582",
    # the knowledge study keeps the base corpus config (bytes_per_domain, unused) on purpose, and its
    # quick is the shared knowledge regime (was 47ec34120b3ed006 / 8de131ff1455bd50: 256 entities x 4)
    "knowledge/smoke": "b912238f3eed30d6",
    "knowledge/quick": "44e0c52eef84813e",
}


def _arms_hash(name, cfg):
    arms = STUDIES[name].all_variants(cfg)
    payload = json.dumps([[a[0], json.loads(canonical_json(a[1])), a[2] if len(a) > 2 else None] for a in arms],
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@pytest.mark.parametrize("key", sorted(PINNED_ARMS))
def test_every_shipped_arm_keeps_its_run_config(key):
    name, scale = key.split("/")
    assert _arms_hash(name, load_experiment(name).config(scale)) == PINNED_ARMS[key]


def test_capacity_arm_is_the_run_config_built_by_hand():
    # The old LMStudyConfig.run_config, spelled out: no fact table on the text domains, the
    # trainer's own weight decay; so entities / renderings / measure leave it alone.
    cfg = CapacityConfig(entities=7, renderings=3)
    moe = MoEConfig(num_experts=8, top_k=1, d_model=32, d_ff=64, router="top_k", renormalize=False,
                    capacity_factor=0.5, load_balance_weight=1e-2, z_loss_weight=1e-3, dropless_block_size=16,
                    priority="sequence")
    by_hand = LMRunConfig(
        model=LMConfig(d_model=32, n_layers=2, n_heads=2, seq_len=32, d_ff=64, ffn="moe", moe=moe, causal=True),
        data=CorpusConfig(bytes_per_domain=60_000),
        train=TrainConfig(steps=300, batch_size=16, lr=3e-3, warmup_steps=30, eval_every=50, eval_batches=2,
                          log_every=300, ckpt_every=300), seed=0)
    assert canonical_json(dict(STUDIES["capacity"].variants(cfg))["cf=0.5"]) == canonical_json(by_hand)


def test_a_config_json_written_before_the_new_fields_still_loads():
    old = to_dict(CapacityConfig())
    for field in ("entities", "renderings", "measure", "weight_decay", "lr_policy"):
        del old[field]
    assert from_dict(CapacityConfig, old) == CapacityConfig()


def test_bad_measure_is_refused_with_one_line_naming_the_field():
    with pytest.raises(ConfigError, match="^measure: must be one of test_loss, fact_loss; got 'bits'$"):
        CapacityConfig(measure="bits")
    with pytest.raises(ConfigError, match="^measure: fact_loss reads the knowledge domain") as err:
        CapacityConfig(measure="fact_loss")  # the text domains hold no facts
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="^measure: fact_loss reads a causal decoder"):
        EncoderRoutersConfig(domains=(KNOWLEDGE,), seq_len=64, measure="fact_loss")
    with pytest.raises(ConfigError, match="^seq_len: a biography"):
        CapacityConfig(domains=(KNOWLEDGE,))  # the default seq_len (32) cannot hold one
    with pytest.raises(ConfigError, match="^entities:"):
        LMStudyConfig(entities=0)
    with pytest.raises(ConfigError, match="^lr_policy: must be one of per_arm, transfer; got 'mup'$"):
        CapacityConfig(lr_policy="mup")
    from routerlab.studies.lm import KnowledgeStudyConfig

    with pytest.raises(ConfigError, match="^measure: the knowledge study reads bits stored"):
        KnowledgeStudyConfig(measure="fact_loss")
    with pytest.raises(ConfigError, match="^lr_policy: the knowledge study"):
        KnowledgeStudyConfig(lr_policy="transfer")


# Fact loss per arm and seed (nats per fact), chosen so that the test loss (set to 1 / fact loss)
# orders the arms the other way: a number read on the test loss would fail these checks.
FACT = {"control:dense": [2.0, 2.2, 2.1], "control:dense(ffn x4)": [1.5, 1.6, 1.7],
        "control:switch(E=8)": [1.8, 1.9, 1.8], "cf=0.5": [1.9, 2.0, 2.3], "dropless": [1.7, 1.8, 1.9]}
TABLE_BITS, FACTS = 64.0, 8 * 4  # 8 entities x 4 attributes


def _fake_knowledge_run(cfg, rundir, variants, desc, **kw):
    for name, run_cfg in variants:
        for s, value in enumerate(FACT[name]):
            # bits stored = table_bits - sum_f CE_f / ln 2, and fact loss = mean_f CE_f.
            bits = TABLE_BITS - FACTS * value / math.log(2)
            rundir.log({"unit": f"{name}/lr0.01/seed{s}", "variant": name, "lr": 0.01, "seed": s, "steps": 10,
                        "tokens": 100, "params": {"total": 1}, "train_flops_per_step": 1.0,
                        "flops_per_token": {"active": 1.0, "total": 1.0}, "eval_steps": [10], "val_loss": [1.0],
                        "final_val_loss": 1.0, "test_loss": 1 / value, "table_bits": TABLE_BITS, "test_bits": bits})


def _slow_paired(a_bits, b_bits):
    """The reference: fact loss of each record by its definition, then mean and 95% t-interval of a - b."""
    diffs = [(TABLE_BITS - a) * math.log(2) / FACTS - (TABLE_BITS - b) * math.log(2) / FACTS
             for a, b in zip(a_bits, b_bits)]
    mean, sd = float(np.mean(diffs)), float(np.std(diffs, ddof=1))
    half = 4.302652729911275 * sd / math.sqrt(len(diffs))  # t_{0.975, 2}
    return mean, mean - half, mean + half


def test_capacity_on_fact_loss_reads_the_facts_not_the_test_loss(tmp_path, monkeypatch):
    monkeypatch.setattr(knowledge_mod, "run_knowledge_variants", _fake_knowledge_run)
    cfg = CapacityConfig(domains=(KNOWLEDGE,), seq_len=64, entities=8, measure="fact_loss", lr_grid=(0.01,),
                         capacity_factors=(0.5, 0.0))
    run = RunDir.create(tmp_path, "capacity", cfg)
    summary = STUDIES["capacity"].run(cfg, run)
    bits = {}
    for r in run.records():
        bits.setdefault(r["variant"], []).append(r["test_bits"])
        assert measure_of(cfg, r) == pytest.approx(fact_loss(r, FACTS))
    # capacity = dense - dense x4 per seed: 0.5, 0.6, 0.4; mean 0.5, sd 0.1, half 4.3027 x 0.1 / sqrt 3 = 0.2484.
    cap = summary["controls"]["capacity"]
    assert cap["delta"] == pytest.approx(0.5) and cap["ci"] == pytest.approx([0.5 - 0.248414, 0.5 + 0.248414])
    mean, lo, hi = _slow_paired(bits["control:dense"], bits["control:dense(ffn x4)"])
    assert (cap["delta"], *cap["ci"]) == pytest.approx((mean, lo, hi))
    # switch = dense - switch: 0.2, 0.3, 0.3; mean 0.2667, sd 0.05774, half 0.1434: interval above 0.
    sw = summary["controls"]["switch_vs_dense"]
    assert sw["delta"] == pytest.approx(0.8 / 3) and sw["ci"][0] == pytest.approx(0.8 / 3 - 0.143422, abs=1e-5)
    assert (sw["delta"], *sw["ci"]) == pytest.approx(_slow_paired(bits["control:dense"], bits["control:switch(E=8)"]))
    assert cap["resolved"] and sw["resolved"] and summary["measure"] == "fact_loss"
    # cf=0.5 - dropless: 0.2, 0.2, 0.4; mean 0.2667, sd 0.11547, half 0.2868: lo -0.0202, so not resolved.
    d = summary["analysis"]["cf=0.5_minus_dropless_loss"]
    assert (d["mean"], d["lo"], d["hi"]) == pytest.approx(_slow_paired(bits["cf=0.5"], bits["dropless"]))
    assert d["mean"] == pytest.approx(0.8 / 3) and d["lo"] == pytest.approx(0.8 / 3 - 0.286844, abs=1e-5)
    # The report names the measure, and the table carries it.
    findings = STUDIES["capacity"].findings(cfg, summary)
    assert "Positive controls (fact loss, paired by seed" in findings
    assert "Fact loss minus dropless (nats per fact)" in findings
    assert summary["variants"]["dropless"]["fact_loss"]["mean"] == pytest.approx(1.8)


def test_fact_loss_trains_through_the_knowledge_readout(tmp_path, monkeypatch):
    # On the test loss the plain runner trains; on the fact loss the knowledge runner does.
    called = []
    monkeypatch.setattr(knowledge_mod, "run_knowledge_variants", lambda *a, **k: called.append("knowledge"))
    from routerlab.studies.lm import study as study_mod

    monkeypatch.setattr(study_mod, "run_variants", lambda *a, **k: called.append("plain"))
    cfg = CapacityConfig(domains=(KNOWLEDGE,), seq_len=64, entities=8, lr_grid=(0.01,))
    study_mod.train(cfg, None, [], "x")
    study_mod.train(replace(cfg, measure="fact_loss"), None, [], "x")
    assert called == ["plain", "knowledge"]


@pytest.mark.slow
def test_balancing_trains_on_the_facts_end_to_end(tmp_path, monkeypatch):
    # Real training (smoke sizes, 8 entities): the knowledge readout's records carry what the
    # balancing analysis reads (routing metrics), and the summary reads the fact loss throughout.
    from routerlab.config import from_dict as load
    from routerlab.studies.lm import BalancingConfig, SMOKE_SIZES

    monkeypatch.setenv("ROUTERLAB_NO_UNIT_CACHE", "1")
    cfg = load(BalancingConfig, {**to_dict(BalancingConfig()), **{k: list(v) if isinstance(v, tuple) else v
                                                                   for k, v in SMOKE_SIZES.items()},
                                 "domains": [KNOWLEDGE], "seq_len": 64, "entities": 8, "renderings": 2,
                                 "measure": "fact_loss", "num_seeds": 2, "alphas": [0.0, 0.01]})
    run = RunDir.create(tmp_path, "balancing", cfg)
    summary = STUDIES["balancing"].run(cfg, run)
    records = list(run.records())
    assert all("test_bits" in r for r in records) and all("routing" in r for r in records if "alpha" in r["variant"])
    by = lambda name: [measure_of(cfg, r) for r in sorted(records, key=lambda r: r["seed"])  # noqa: E731
                       if r["variant"] == name]
    diff = [a - b for a, b in zip(by("alpha=0"), by("alpha=0.01"))]
    assert summary["analysis"]["loss_alpha0_minus_alpha0.01"]["mean"] == pytest.approx(np.mean(diff))
    dense, wide = by("control:dense"), by("control:dense(ffn x4)")
    assert summary["controls"]["capacity"]["delta"] == pytest.approx(np.mean(np.subtract(dense, wide)))
    assert "fact loss" in STUDIES["balancing"].findings(cfg, summary)


def test_a_summary_written_before_variants_carried_the_measure_still_makes_its_table():
    # moe_vs_dense's summaries before 0420ff8 declare measure="fact_loss" but their variants hold
    # no "fact_loss" entry: the paper's table then shows "-" in that column instead of failing.
    from routerlab.studies.lm.study import table_rows

    ci = {"mean": 0.5, "lo": 0.4, "hi": 0.6, "n": 3}
    entry = {"lr": 0.01, "params": {"total": 10}, "flops_per_token": {"active": 1e4}, "train_flops": 1e9,
             "final_val_loss": ci, "test_loss": ci}
    old = table_rows({"measure": "fact_loss", "variants": {"moe": entry}}, ["moe"])
    new = table_rows({"measure": "fact_loss", "variants": {"moe": {**entry, "fact_loss": ci}}}, ["moe"])
    assert old[0]["fact loss"] == "-" and new[0]["fact loss"] != "-"
