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
from routerlab.fleet.fleet_train import answer_loss, pools
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
    suite = make_suite(TaskConfig(), ("logic", "math"), train_size=200, eval_size=10, seed=0)
    model_cfg = lm_config(ModelSpec("t", 16, 1, 2, 32), SEQ)
    tc = replace(scaled_fleet("smoke"), steps=12, batch_size=8, lr=1e-2, warmup_steps=2).train_config
    weights = np.array([[1.0, 0.0], [0.5, 0.5]])  # a logic specialist and a generalist
    init_keys = jnp.stack([jax.random.key(0), jax.random.key(1)])
    data_keys = jnp.stack([jax.random.key(2), jax.random.key(3)])
    return model_cfg, tc, weights, init_keys, data_keys, pools(suite, ("logic", "math"))


def test_engine_training_equals_the_reference_loop(setup):
    _, params, _, losses = train_group(*setup)
    ref_params, ref_losses = reference_train(*setup)
    assert losses.shape == (2, 12)
    # Same draws, same loss, same update: bit for bit. This is why ensure_fleet's cache key
    # (the config hash alone) did not change when the fleet moved onto the engine: a fleet
    # cached by the former loop is the one the engine builds. Should this ever differ, the
    # training numerics changed and routerlab.fleet.fleet.FLEET_KEY_SALT must change too.
    np.testing.assert_array_equal(losses, np.asarray(ref_losses))
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(ref_params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.allclose(losses[0], losses[1])  # the two models really differ


@pytest.mark.slow  # compiles a third program
def test_a_non_finite_step_names_the_model_and_step(setup):
    model_cfg, tc, weights, init_keys, data_keys, pool = setup
    with pytest.raises(FloatingPointError, match=r"fleet model 0 .* at step 1$"):
        train_group(model_cfg, replace(tc, lr=float("inf")), weights, init_keys, data_keys, pool)
