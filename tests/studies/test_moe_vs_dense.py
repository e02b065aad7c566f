"""moe_vs_dense's config: the knowledge table it can train on, and its shipped quick regime."""

import math
from dataclasses import replace

import pytest

from routerlab.config import ConfigError
from routerlab.models.corpus import TEXT_DOMAINS, build_corpus
from routerlab.models.knowledge import KNOWLEDGE, KnowledgeConfig
from routerlab.registry import load_experiment
from routerlab.rundir import RunDir
from routerlab.studies.lm import STUDIES, LMStudyConfig, MoEVsDenseConfig
from routerlab.studies.lm import knowledge as knowledge_mod
from routerlab.studies.lm.moe_vs_dense import STUDY, fact_loss, measure_of


def test_text_domains_keep_the_shared_run_configs():
    # Without the knowledge domain the table fields do not reach the corpus: every arm's run
    # config is the one any LM study builds, so the unit cache is shared with them.
    cfg = MoEVsDenseConfig(entities=7)
    assert cfg.domains == TEXT_DOMAINS
    assert cfg.run_config(d_ff=256) == LMStudyConfig().run_config(d_ff=256)
    assert cfg.run_config().data.knowledge is None


def test_knowledge_domain_gets_the_configured_table():
    cfg = MoEVsDenseConfig(domains=(KNOWLEDGE,), seq_len=64, entities=40, renderings=2)
    for _, run_cfg in STUDIES["moe_vs_dense"].all_variants(cfg):
        assert run_cfg.data.knowledge == KnowledgeConfig(entities=40, renderings=2)
    # One biography per window: the train split holds entities x renderings = 40 x 2 = 80 windows.
    assert build_corpus(cfg.run_config().data, cfg.seq_len).num_windows("train") == 80


def test_bad_knowledge_fields_are_refused_naming_the_field():
    with pytest.raises(ConfigError, match="^seq_len: a biography"):
        MoEVsDenseConfig(domains=(KNOWLEDGE,))  # the default seq_len (32) cannot hold one
    with pytest.raises(ConfigError, match="^entities:"):
        MoEVsDenseConfig(entities=0)
    with pytest.raises(ConfigError, match="^renderings:"):
        MoEVsDenseConfig(renderings=65)
    with pytest.raises(ConfigError, match="^weight_decay:"):
        MoEVsDenseConfig(weight_decay=-0.1)
    assert MoEVsDenseConfig(weight_decay=0.0).run_config(d_ff=128).train.weight_decay == 0.0


def test_fact_loss_is_the_knowledge_readout_as_nats_per_fact():
    # 2 facts of log2 64 = 6 bits each: table_bits 12. A record storing 5 bits has summed fact
    # cross-entropy (12 - 5) bits = 7 ln 2 nats = 4.852 nats, i.e. 2.426 nats per fact.
    assert fact_loss({"table_bits": 12.0, "test_bits": 5.0}, 2) == pytest.approx(7 * math.log(2) / 2)
    cfg = MoEVsDenseConfig(domains=(KNOWLEDGE,), seq_len=64, entities=3, measure="fact_loss")
    # 3 entities x 4 attributes = 12 facts; (100 - 40) bits = 60 ln 2 nats over 12 facts = 3.466 nats per fact.
    assert measure_of(cfg, {"table_bits": 100.0, "test_bits": 40.0, "test_loss": 9.0}) == pytest.approx(
        60 * math.log(2) / 12)
    assert measure_of(MoEVsDenseConfig(), {"table_bits": 100.0, "test_bits": 40.0, "test_loss": 9.0}) == 9.0
    with pytest.raises(ConfigError, match="^measure: fact_loss reads the knowledge domain"):
        MoEVsDenseConfig(measure="fact_loss")
    with pytest.raises(ConfigError, match="^measure: must be one of"):
        MoEVsDenseConfig(measure="bits")


def test_analysis_and_controls_read_the_declared_measure(tmp_path, monkeypatch):
    # Fake records whose test loss says the opposite of their fact loss: every number the study
    # reports (frontier, paired differences, both controls) must follow the fact loss.
    # Fact loss per arm (nats per fact, table 10 bits over 2 entities x 4 = 8 facts): test_bits
    # = 10 - 8 L / ln 2 gives fact loss L. Dense widths 1, 2, 4, 8: L = 2.0, 1.8, 1.6, 1.5 (+0.01 s
    # per seed s); MoE: 1.7 + 0.01 s. Test loss is 1 / L (inverted order).
    fact = {"dense(ffn x1)": 2.0, "dense(ffn x2)": 1.8, "dense(ffn x4)": 1.6, "dense(ffn x8)": 1.5, "moe": 1.7}
    fact |= {"control:dense": 2.0, "control:dense(ffn x4)": 1.6, "control:switch(E=8)": 1.7}

    def fake_run(cfg, rundir, variants, desc, **kw):
        for name, run_cfg in variants:
            for s in (0, 1, 2):
                value = fact[name] + 0.01 * s
                rundir.log({"unit": f"{name}/lr0.01/seed{s}", "variant": name, "lr": 0.01, "seed": s, "steps": 10,
                            "tokens": 100, "params": {"total": 1}, "train_flops_per_step": 1.0,
                            "flops_per_token": {"active": run_cfg.model.d_ff * 1000.0, "total": 1.0},
                            "eval_steps": [10], "val_loss": [1.0], "final_val_loss": 1.0, "test_loss": 1 / value,
                            "table_bits": 10.0, "test_bits": 10.0 - 8 * value / math.log(2)})

    monkeypatch.setattr(knowledge_mod, "run_knowledge_variants", fake_run)  # Study.run trains through it
    cfg = MoEVsDenseConfig(domains=(KNOWLEDGE,), seq_len=64, d_ff=32, entities=2, measure="fact_loss",
                           lr_grid=(0.01,))
    summary = STUDY.run(cfg, RunDir.create(tmp_path, "moe_vs_dense", cfg))
    # capacity: dense - dense x4 = 2.0 - 1.6 = +0.4 on every seed; Switch: 2.0 - 1.7 = +0.3.
    assert summary["controls"]["capacity"]["delta"] == pytest.approx(0.4)
    assert summary["controls"]["switch_vs_dense"]["delta"] == pytest.approx(0.3)
    assert all(c["resolved"] for c in summary["controls"].values()) and summary["measure"] == "fact_loss"
    a = summary["analysis"]
    assert a["measure"] == "fact_loss" and a["moe_minus_dense_loss"]["mean"] == pytest.approx(-0.3)
    # The MoE's 1.7 lies halfway (1.8 -> 1.6) between the 2x and 4x points: ratio sqrt(64e3 * 128e3) / 32e3.
    assert a["dense_equivalent_ratio"]["mean"] == pytest.approx(math.sqrt(2 * 4))
    assert a["frontier"]["dense(ffn x1)"]["fact_loss"]["mean"] == pytest.approx(2.01)
    assert not summary["verdict"].startswith("underpowered")
    # The frontier's rates are as the policy trained them: all tuned, or tuned or transferred.
    assert "each width at its tuned rate" in STUDY.text(cfg, summary)
    transfer = replace(cfg, lr_policy="transfer", lr_grid=(0.01, 0.02))
    assert "each width at its tuned or transferred (lr_source in the tuning) rate" in STUDY.text(transfer, summary)


def test_shipped_quick_meets_the_issue_constraints():
    # Issue 12: a dense frontier of >= 4 widths, every arm tuned on >= 3 rates, 3 seeds, the same
    # tokens per arm; the quick regime reads the fact loss on the knowledge domain alone.
    exp = load_experiment("moe_vs_dense")
    cfg = exp.config("quick")
    STUDY.check(cfg)
    assert len(cfg.dense_widths) >= 4 and len(cfg.lr_grid) >= 3 and cfg.num_seeds == 3
    assert cfg.domains == (KNOWLEDGE,) and cfg.measure == "fact_loss"
    arms = STUDY.all_variants(cfg)
    assert len({(c.train.steps, c.train.batch_size, c.model.seq_len, c.data) for _, c in arms}) == 1
    # Every fact is seen steps x batch / entities = 2000 x 32 / 64 = 1000 times (one biography per window).
    assert cfg.steps * cfg.batch_size // cfg.entities == 1000
    assert exp.config("smoke").measure == "test_loss"  # smoke stays on the text domains


def _ratio(per_seed, censor, ci=None):
    return {"per_seed": per_seed, "censor": censor, "ci": ci, "text": "x"}


def test_s2_verdict_needs_a_frontier_that_can_reach_a_ratio_of_5_and_reads_censored_bounds():
    from routerlab.report.paper import claim_verdict
    from routerlab.studies.lm.moe_vs_dense import MoEVsDenseConfig, _verdict

    cfg = MoEVsDenseConfig()
    short = {"analysis": {"dense_equivalent_ratio": _ratio([1.0, 1.1], [0, 0], [0.9, 1.2]), "frontier_reach": 1.96}}
    text = _verdict(cfg, short)
    assert "not testable here" in text and "1.96x" in text
    assert claim_verdict({"verdict": text})[0] == "not testable here"  # the claims table reads it so
    wide = lambda r: {"analysis": {"dense_equivalent_ratio": r, "frontier_reach": 8.0}}  # noqa: E731
    assert " fails:" in _verdict(cfg, wide(_ratio([1.0, 1.1], [0, 0], [0.9, 1.2])))
    # every seed censored below (the MoE worse than the narrowest dense): upper bounds under 5 -> fails
    assert " fails:" in _verdict(cfg, wide(_ratio([0.98, 0.98], [-1, -1])))
    # every seed beyond the widest dense, bounds >= 5 -> holds; a bound under 5 -> not resolved
    assert " holds:" in _verdict(cfg, wide(_ratio([8.0, 8.0], [1, 1])))
    assert "is not resolved" in _verdict(cfg, wide(_ratio([4.0, 8.0], [1, 1])))
