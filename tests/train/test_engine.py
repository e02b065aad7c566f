"""The training engine: one pure step (make_train_step) serves one run and seeds under vmap.

References are written out by hand here: an AdamW update from ``jax.value_and_grad`` of the
loss (RL-R's included), and a Python loop of jitted single steps, one seed at a time.
"""

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from routerlab.models import LMConfig
from routerlab.models.lm import LM
from routerlab.moe import MoEConfig
from routerlab.rng import stream_key
from routerlab.train import LMRunConfig, TrainConfig, init_state, split_model
from routerlab.train.loop import engine_steps, make_optimizer
from routerlab.train.state import make_schedule
from routerlab.train.step import scan_steps

MODEL = LMConfig(d_model=16, n_layers=1, n_heads=2, seq_len=8, d_ff=32, ffn="moe",
                 moe=MoEConfig(d_model=16, d_ff=16, num_experts=4, top_k=1, renormalize=False,
                               capacity_factor=None, noise="jitter"))
CFG = LMRunConfig(model=MODEL, train=TrainConfig(steps=10, batch_size=4, warmup_steps=2))


def _tokens(shape):
    return jax.random.randint(jax.random.key(7), (*shape, MODEL.seq_len + 1), 0, 128)


def _close(a, b, rtol=2e-5, atol=1e-6):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def test_reinforce_step_is_the_plain_adamw_update_of_its_loss():
    from routerlab.moe.reinforce import reinforce_lm, reinforce_lm_loss

    pg = 0.5
    step, _ = engine_steps(MODEL, CFG.train, pg)
    graphdef, params, rest = split_model(reinforce_lm(LM(MODEL, rngs=nnx.Rngs(params=stream_key(0, "params")))))
    state = init_state(CFG)
    _close(state.params, params)  # RL-R starts from the standard MoE's initial parameters
    tokens, key = _tokens((4,)), jax.random.key(3)

    # The reference: gradient of RL-R's loss, then the optimiser of the run, by hand.
    tx = make_optimizer(CFG.train)

    @jax.jit
    def reference(params):
        (loss, _), grads = jax.value_and_grad(
            lambda p: reinforce_lm_loss(graphdef, p, rest, tokens, key, pg), has_aux=True)(params)
        updates, _ = tx.update(grads, tx.init(params), params)
        return loss, optax.apply_updates(params, updates)

    loss, want = reference(params)

    new, metrics, health = jax.jit(step)(state, tokens, key)
    assert bool(health["ok"])
    np.testing.assert_allclose(float(metrics["loss"]), float(loss), rtol=1e-6)
    _close(new.params, want)


#: Rates of the experiments' grids (LM studies, the fleet's models) and one none holds.
RATES = (5e-4, 2e-3, 3e-3, 6e-3, 1e-2, 3e-2, 7.3e-3)


@pytest.mark.parametrize(("warmup", "ratio"), [(0, 0.1), (100, 0.1), (7, 0.0), (100, 0.3)])
def test_schedule_with_a_traced_peak_is_optax_own_bit_for_bit(warmup, ratio):
    """make_schedule(cfg, peak) (a traced peak) gives, at every step, the float32 value of
    optax.warmup_cosine_decay_schedule at that rate (make_schedule(cfg))."""
    counts = jnp.arange(0, 1201)  # an argument, as the optimiser's count is: no constant folding
    base = TrainConfig(steps=1200, warmup_steps=warmup, min_lr_ratio=ratio)
    traced = jax.jit(jax.vmap(lambda peak, c: jax.vmap(make_schedule(base, peak))(c), in_axes=(0, None)))
    got = np.asarray(traced(jnp.asarray(RATES, jnp.float32), counts))
    for i, lr in enumerate(RATES):
        want = jax.jit(jax.vmap(make_schedule(replace(base, lr=lr))))(counts)
        np.testing.assert_array_equal(got[i], np.asarray(want), err_msg=f"lr={lr}")


def test_rate_held_in_state_trains_as_the_rate_compiled_in():
    """make_optimizer(lr_in_state=True): a program built from a config at one rate trains at the
    rate its state holds, bit for bit as the plain program compiled at that rate (through the
    warmup and the cosine: 10 steps, warmup 2), so one program serves a whole rate grid and the
    runs recorded before it are reproduced."""
    rate = 2e-2
    at_rate = replace(CFG, train=replace(CFG.train, lr=rate))
    plain, _ = engine_steps(MODEL, at_rate.train)
    shared, _ = engine_steps(MODEL, CFG.train, lr_in_state=True)  # built at CFG's own rate, 3e-3
    state = init_state(at_rate, lr_in_state=True)
    assert float(state.opt_state.hyperparams["peak_lr"]) == np.float32(rate)
    tokens, keys = _tokens((10, 4)), jax.random.split(jax.random.key(2), 10)
    want, _ = jax.jit(scan_steps(plain, noise=True, masked=False))(init_state(at_rate), tokens, keys, keys)
    got, per_step = jax.jit(scan_steps(shared, noise=True, masked=False))(state, tokens, keys, keys)
    assert per_step["ok"].tolist() == [True] * 10
    for a, b in zip(jax.tree.leaves(got.params), jax.tree.leaves(want.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # ... and not as the rate the program was built from
    built_rate, _ = engine_steps(MODEL, CFG.train)
    other, _ = jax.jit(scan_steps(built_rate, noise=True, masked=False))(init_state(CFG), tokens, keys, keys)
    assert any(not np.allclose(np.asarray(a), np.asarray(b))
               for a, b in zip(jax.tree.leaves(other.params), jax.tree.leaves(got.params), strict=True))


def test_scan_of_steps_equals_a_loop_of_single_steps():
    step, _ = engine_steps(MODEL, CFG.train)
    tokens = _tokens((3, 4))
    keys = jax.random.split(jax.random.key(1), 3)
    state = init_state(CFG)
    single = jax.jit(step)
    want, losses = state, []
    for i in range(3):
        want, metrics, _ = single(want, tokens[i], keys[i])
        losses.append(float(metrics["loss"]))
    got, per_step = jax.jit(scan_steps(step, noise=True, masked=False))(state, tokens, keys, keys)
    assert per_step["ok"].tolist() == [True] * 3
    np.testing.assert_allclose(np.asarray(per_step["loss"]), losses, rtol=1e-5)
    _close(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.slow  # the default suite covers vmap through train_seeds == train (tests/studies)
def test_vmap_over_seeds_equals_each_seed_alone():
    step, _ = engine_steps(MODEL, CFG.train)
    run = jax.jit(scan_steps(step, noise=True, masked=False))
    seeds = [0, 5]
    states = [init_state(replace(CFG, seed=s)) for s in seeds]
    tokens = _tokens((2, 2, 4))
    keys = jnp.stack([jax.random.split(jax.random.key(s), 2) for s in seeds])
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *states)
    got, per_step = jax.jit(jax.vmap(scan_steps(step, noise=True, masked=False)))(stacked, tokens, keys, keys)
    for i in range(len(seeds)):
        want, want_steps = run(states[i], tokens[i], keys[i], keys[i])
        np.testing.assert_allclose(np.asarray(per_step["loss"][i]), np.asarray(want_steps["loss"]), rtol=1e-5)
        _close(jax.tree.map(lambda x, i=i: x[i], got), want, rtol=1e-4, atol=1e-6)
