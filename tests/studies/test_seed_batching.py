"""The two ways train_seeds runs its seeds (vmap, and the CPU's per-seed loop) against each other,
and the loop against single-seed calls: the reference for the loop is the unbatched program run
alone, which it must equal bit for bit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from routerlab.models.config import LMConfig
from routerlab.models.corpus import CorpusConfig
from routerlab.moe import MoEConfig
from routerlab.studies.lm_sweep import BATCHING_ENV, over_seeds, seed_batching, train_seeds
from routerlab.train.config import LMRunConfig, TrainConfig

MOE = MoEConfig(num_experts=4, top_k=1, d_model=16, d_ff=16, renormalize=False, load_balance_weight=0.01)
CFG = LMRunConfig(
    model=LMConfig(d_model=16, n_layers=1, n_heads=2, seq_len=16, d_ff=32, ffn="moe", moe=MOE),
    data=CorpusConfig(bytes_per_domain=20_000),
    train=TrainConfig(steps=8, batch_size=4, warmup_steps=2, eval_every=4, eval_batches=1),
)


def test_seed_batching_default_env_and_refusals(monkeypatch):
    monkeypatch.delenv(BATCHING_ENV, raising=False)
    assert seed_batching() == "vmap"  # every recorded LM run's path
    assert seed_batching("loop") == "loop"
    monkeypatch.setenv(BATCHING_ENV, "loop")
    assert seed_batching() == "loop" and seed_batching("vmap") == "vmap"
    monkeypatch.setenv(BATCHING_ENV, "pmap")
    with pytest.raises(ValueError, match=f"{BATCHING_ENV} must be one of vmap, loop; got 'pmap'"):
        seed_batching()
    with pytest.raises(ValueError, match="batching must be one of"):
        seed_batching("auto")
    with pytest.raises(ValueError, match="resolved mode"):
        over_seeds(lambda x: x, "auto")


def test_the_unit_cache_keys_on_the_batching(monkeypatch):
    from routerlab.studies.lm.runner import unit_key

    monkeypatch.delenv(BATCHING_ENV, raising=False)
    default = unit_key(CFG, [0, 1], None)
    monkeypatch.setenv(BATCHING_ENV, "loop")
    assert unit_key(CFG, [0, 1], None) != default


def test_over_seeds_loop_equals_vmap_with_shared_arguments():
    """in_axes None passes an argument whole to every seed; pytrees in and out are stacked."""
    def fn(tree, shared):
        return {"y": tree["a"] @ shared + tree["b"], "n": jnp.sum(tree["b"])}

    tree = {"a": jnp.arange(24.0).reshape(3, 2, 4), "b": jnp.arange(3.0)}
    shared = jnp.ones((4, 5))
    looped = over_seeds(fn, "loop", in_axes=(0, None))(tree, shared)
    vmapped = over_seeds(fn, "vmap", in_axes=(0, None))(tree, shared)
    assert looped["y"].shape == (3, 2, 5) and looped["n"].shape == (3,)
    for k in looped:
        np.testing.assert_allclose(looped[k], vmapped[k], rtol=1e-6)
    # the reference: seed 1 by hand; a's row sums of seed 1 are 8+9+10+11 = 38 and 12+..+15 = 54, plus b = 1
    np.testing.assert_allclose(looped["y"][1], [[39.0] * 5, [55.0] * 5])


def test_loop_seed_equals_its_single_seed_call_and_vmap_agrees():
    """Seed 3 of a [2, 3] loop is bit for bit train_seeds(cfg, [3], loop): a seed's numbers do not
    depend on the seeds it shares a call with. The vmapped path agrees to float tolerance."""
    both = train_seeds(CFG, [2, 3], batching="loop", keep_params=True)
    alone = train_seeds(CFG, [3], batching="loop", keep_params=True)
    vmapped = train_seeds(CFG, [2, 3], batching="vmap", keep_params=True)
    assert both["seed_batching"] == "loop" and vmapped["seed_batching"] == "vmap"
    np.testing.assert_array_equal(both["train_loss"][1], alone["train_loss"][0])
    np.testing.assert_array_equal(both["val_loss"][1], alone["val_loss"][0])
    np.testing.assert_array_equal(both["test"]["loss"][1], alone["test"]["loss"][0])
    for a, b in zip(jax.tree.leaves(both["final_params"]), jax.tree.leaves(alone["final_params"])):
        np.testing.assert_array_equal(a[1], b[0])
    np.testing.assert_allclose(both["train_loss"], vmapped["train_loss"], rtol=1e-4)
    np.testing.assert_allclose(both["val_loss"], vmapped["val_loss"], rtol=1e-4)
    np.testing.assert_allclose(both["val"]["routing"]["0"]["load"], vmapped["val"]["routing"]["0"]["load"],
                               rtol=1e-4, atol=1e-6)


def test_a_checkpoint_of_the_other_batching_is_not_resumed(tmp_path, capsys, monkeypatch):
    """Mid-unit checkpoints record the batching: a vmap checkpoint restarts a loop unit from step 0
    (mixing the paths would give numbers that are neither's)."""
    from routerlab.studies import lm_sweep

    ckpt = tmp_path / "ckpt"

    class Stop(Exception):
        pass

    real = lm_sweep._eval_split
    calls = []

    def stop_after_first(*a, **kw):
        calls.append(1)
        if len(calls) == 2:  # the first segment is saved; stop during the second
            raise Stop
        return real(*a, **kw)

    with monkeypatch.context() as m:
        m.setattr(lm_sweep, "_eval_split", stop_after_first)
        with pytest.raises(Stop):
            train_seeds(CFG, [0], batching="vmap", checkpoint_dir=ckpt)
    assert any(ckpt.iterdir())
    resumed = train_seeds(CFG, [0], batching="loop", checkpoint_dir=ckpt)
    fresh = train_seeds(CFG, [0], batching="loop")
    np.testing.assert_array_equal(resumed["train_loss"], fresh["train_loss"])
    assert "restarting the unit from step 0" in capsys.readouterr().err


def test_units_at_other_rates_share_one_evaluation_program():
    """The evaluation program depends on the objective alone: the rate, schedule and length of
    a unit do not enter its cache key, while the objective and mask rate do."""
    from dataclasses import replace

    from routerlab.studies.lm_sweep import _eval_config
    from routerlab.train.config import TrainConfig

    tc = TrainConfig(steps=300, lr=3e-3, warmup_steps=30)
    assert _eval_config(replace(tc, lr=1e-2, steps=2000, warmup_steps=200, weight_decay=0.0)) == _eval_config(tc)
    assert _eval_config(replace(tc, objective="masked")) != _eval_config(tc)
    assert _eval_config(replace(tc, objective="masked", mask_rate=0.3)) != _eval_config(replace(tc, objective="masked"))
