"""Fleet training runs on the one engine (make_train_step + scan_steps) and matches the fleet's
own former loop, kept here as the obviously-right reference: sample inside the scan, one
value_and_grad, one optax update."""

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from routerlab.fleet.fleet import ModelSpec, lm_config, scaled_fleet, train_group
from routerlab.fleet.fleet_train import answer_loss, draw_batches, pools
from routerlab.fleet.tasks import TaskConfig, make_suite
from routerlab.models.lm import LM
from routerlab.train.state import make_optimizer
from routerlab.train.step import split_model

SEQ = 24


def reference_train(model_cfg, train_cfg, weights, init_keys, data_keys, pool):
    """The fleet's loop before it moved onto the engine (routerlab 2026-11-30), vmapped over models."""
    graphdef, _, _ = split_model(nnx.eval_shape(lambda: LM(model_cfg, rngs=nnx.Rngs(0))))
    tx, b = make_optimizer(train_cfg), train_cfg.batch_size

    def one_model(init_key, data_key, w, pool_tokens, pool_mask, sizes):
        _, params, rest = split_model(LM(model_cfg, rngs=nnx.Rngs(params=init_key)))
        opt_state = tx.init(params)

        def step(carry, i):
            params, opt_state = carry
            k_fam, k_idx = jax.random.split(jax.random.fold_in(data_key, i))
            fam = jax.random.categorical(k_fam, jnp.log(w), shape=(b,))
            idx = jax.random.randint(k_idx, (b,), 0, sizes[fam])
            loss, grads = jax.value_and_grad(answer_loss, argnums=1)(graphdef, params, rest, pool_tokens[fam, idx],
                                                                     pool_mask[fam, idx])
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, _), losses = jax.lax.scan(step, (params, opt_state), jnp.arange(train_cfg.steps))
        return params, losses

    fn = jax.jit(jax.vmap(one_model, in_axes=(0, 0, 0, None, None, None)))
    return fn(init_keys, data_keys, jnp.asarray(weights, jnp.float32), *(jnp.asarray(a) for a in pool))


@pytest.fixture(scope="module")
def setup():
    # The very program test_fleet.py's test_training_lowers_the_answer_loss compiles (same
    # shapes and configs), so the suite's compilation cache serves one of the two.
    suite = make_suite(TaskConfig(), ("logic",), train_size=300, eval_size=10, seed=0)
    model_cfg = lm_config(ModelSpec("t", 16, 1, 2, 32), SEQ)
    tc = replace(scaled_fleet("smoke"), steps=60, batch_size=32, lr=1e-2).train_config
    keys = jnp.stack([jax.random.key(0), jax.random.key(1)])
    return model_cfg, tc, np.ones((2, 1)), keys, keys, pools(suite, ("logic",))


def test_engine_training_equals_the_reference_loop(setup):
    _, params, _, losses = train_group(*setup)
    ref_params, ref_losses = reference_train(*setup)
    assert losses.shape == (2, 60)
    # Same draws, same loss, same update: bit for bit. This is why ensure_fleet's cache key
    # (the config hash alone) did not change when the fleet moved onto the engine: a fleet
    # cached by the former loop is the one the engine builds. Should this ever differ, the
    # training numerics changed and routerlab.fleet.fleet.FLEET_KEY_SALT must change too.
    np.testing.assert_array_equal(losses, np.asarray(ref_losses))
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(ref_params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.allclose(losses[0], losses[1])  # the two models really differ


def test_draws_are_the_former_per_step_draws():
    key, weights, sizes = jax.random.key(5), jnp.array([0.25, 0.75]), jnp.array([3, 50])
    fam, row = draw_batches(key, weights, sizes, steps=4, batch_size=64)
    for i in range(4):  # the former loop drew inside its scan, from fold_in(data_key, i)
        k_fam, k_idx = jax.random.split(jax.random.fold_in(key, i))
        ref_fam = jax.random.categorical(k_fam, jnp.log(weights), shape=(64,))
        np.testing.assert_array_equal(fam[i], ref_fam)
        np.testing.assert_array_equal(row[i], jax.random.randint(k_idx, (64,), 0, sizes[ref_fam]))
    assert set(np.unique(fam)) == {0, 1} and np.all(np.asarray(row) < np.asarray(sizes)[np.asarray(fam)])


@pytest.mark.slow  # compiles a third program
def test_a_non_finite_step_names_the_model_step_and_quantity(setup):
    """An infinite learning rate breaks the first update: the replay with the engine's health
    check names the model, the step and what went non-finite (not a generic 'loss or state')."""
    model_cfg, tc, weights, init_keys, data_keys, pool = setup
    with pytest.raises(FloatingPointError, match=r"^fleet model 0 of \d+x\d+: step 1: ") as err:
        train_group(model_cfg, replace(tc, lr=float("inf")), weights, init_keys, data_keys, pool)
    message = str(err.value)
    assert "stayed finite" not in message and "last checkpoint" in message and "\n" not in message
