"""The calibrated knowledge regime as one shared preset: moe_vs_dense's quick is exactly it, and every
causal study can be put in it (by the helper or by the CLI's --set assignments) and validates there."""

import pytest

from routerlab.config import ConfigError, config_hash, override
from routerlab.models.knowledge import KNOWLEDGE
from routerlab.registry import load_experiment
from routerlab.studies.lm import STUDIES, MoEVsDenseConfig
from routerlab.studies.lm.config import KNOWLEDGE_QUICK, in_knowledge_regime, knowledge_sets

CAUSAL = ("moe_vs_dense", "capacity", "routers", "balancing", "expert_count", "granularity", "scaling_fit")

# experiments/moe_vs_dense.py's QUICK dict as it stood before the preset moved (at 8817976).
OLD_QUICK = dict(domains=("knowledge",), entities=64, renderings=64, measure="fact_loss", weight_decay=0.0, d_model=32,
                 n_layers=1, d_ff=32, seq_len=64, batch_size=32, steps=2000, eval_every=250, eval_batches=2,
                 lr_grid=(3e-3, 6e-3, 1e-2))


def test_moe_vs_dense_quick_is_the_preset_unchanged():
    cfg = load_experiment("moe_vs_dense").config("quick")
    assert KNOWLEDGE_QUICK == OLD_QUICK and cfg == MoEVsDenseConfig(**OLD_QUICK)
    # Its config hash with the lr_policy field (added with lr transfer; 'd5802f09...' before that field existed).
    assert config_hash(cfg, 16) == "6a93a01fcdeaef8f"


@pytest.mark.parametrize("name", CAUSAL)
def test_every_causal_study_validates_in_the_regime(name):
    quick = load_experiment(name).config("quick")
    cfg = in_knowledge_regime(quick)
    STUDIES[name].check(cfg)  # every arm's run config builds
    assert cfg.measure == "fact_loss" and cfg.domains == (KNOWLEDGE,)
    arms = STUDIES[name].all_variants(cfg)
    # Same tokens for every arm: steps, batch, context and corpus (the fact table) are shared.
    assert len({(c.train.steps, c.train.batch_size, c.model.seq_len, c.data) for _, c, *_ in arms}) == 1
    if name == "scaling_fit":  # its arms change d_model, which the transfer rule ignores
        with pytest.raises(ConfigError, match="lr_policy"):
            in_knowledge_regime(quick, lr_policy="transfer")
    else:
        transfer = in_knowledge_regime(quick, lr_policy="transfer")
        STUDIES[name].check(transfer)  # a real sentinel remains among its arms
        assert transfer.lr_policy == "transfer"


def test_the_cli_sets_put_a_text_quick_in_the_regime():
    # scaling_fit's quick is the text regime (the other causal studies' quick ARE the knowledge regime,
    # where this would hold trivially): `routerlab run scaling_fit --scale quick --set ...` is the helper's config.
    quick = load_experiment("scaling_fit").config("quick")
    assert quick.domains != (KNOWLEDGE,) and quick != in_knowledge_regime(quick)
    assert override(quick, knowledge_sets()) == in_knowledge_regime(quick)


@pytest.mark.parametrize("name", ["capacity", "routers", "balancing", "expert_count", "granularity"])
def test_quick_is_the_regime_with_transfer(name):
    base = STUDIES[name].config()
    assert load_experiment(name).config("quick") == in_knowledge_regime(base, lr_policy="transfer")
