"""RL-R (REINFORCE-trained router): the policy-gradient estimate, sampling vs argmax, no task
gradient through the gate, and parameter-preserving layer swap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from routerlab.models.config import LMConfig
from routerlab.models.lm import LM
from routerlab.moe import MoEConfig, MoELayer
from routerlab.moe.reinforce import ReinforceAux, ReinforceMoELayer, reinforce_lm, reinforce_loss

CFG = MoEConfig(num_experts=2, top_k=1, d_model=4, d_ff=4, renormalize=False, dropless_block_size=4)


def test_reinforce_loss_gradient_hand_worked():
    # Two tokens, both with logits theta = (0, 0) (pi = (.5, .5)); token 0 chose expert 0 with
    # CE 1, token 1 chose expert 1 with CE 3. Rewards (-1, -3), baseline -2, advantages (+1, -1).
    # loss = -mean(adv * logp) = -(log pi_0 - log pi_1) / 2, and d log pi_e / d theta = onehot(e) - pi,
    # so dloss/dtheta = -((1, 0) - (.5, .5) - ((0, 1) - (.5, .5))) / 2 = (-0.5, +0.5).
    def loss(theta):
        logp = jax.nn.log_softmax(theta)[jnp.array([0, 1])]
        return reinforce_loss(logp, jnp.array([1.0, 3.0]))

    np.testing.assert_allclose(jax.grad(loss)(jnp.zeros(2)), [-0.5, 0.5], atol=1e-7)
    # A constant reward has zero advantage: no gradient at all.
    const = lambda theta: reinforce_loss(jax.nn.log_softmax(theta)[jnp.array([0, 1])], jnp.array([2.0, 2.0]))  # noqa: E731
    np.testing.assert_allclose(jax.grad(const)(jnp.zeros(2)), [0.0, 0.0], atol=1e-7)


def test_policy_gradient_steps_toward_the_cheaper_expert():
    """A two-armed bandit: expert 0 costs CE 1, expert 1 costs CE 2. Sampled policy gradient
    steps from a uniform policy raise pi(expert 0)."""
    theta = jnp.zeros(2)
    for i in range(20):
        choice = jax.random.categorical(jax.random.key(i), theta, shape=(256,))
        ce = jnp.where(choice == 0, 1.0, 2.0)
        grad = jax.grad(lambda t: reinforce_loss(jax.nn.log_softmax(t)[choice], ce))(theta)
        theta = theta - 1.0 * grad
    assert jax.nn.softmax(theta)[0] > 0.8


def test_layer_samples_in_training_takes_argmax_in_eval_and_gives_router_no_task_gradient():
    layer = ReinforceMoELayer(CFG, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (64, 4))
    y_eval, aux = layer(x)
    assert isinstance(aux, ReinforceAux) and aux.logp.shape == (64,)
    logits = x @ layer.router[...]
    best = jax.nn.log_softmax(logits).max(axis=-1)
    np.testing.assert_allclose(aux.logp, best, rtol=1e-5)  # key=None: the argmax expert
    # With a key, some tokens take a non-argmax expert (the router starts near uniform).
    _, sampled = layer(x, key=jax.random.key(2))
    assert jnp.any(sampled.logp < best - 1e-6)
    graphdef, params = nnx.split(layer, nnx.Param)

    def task(params):
        y, _ = nnx.merge(graphdef, params)(x, key=jax.random.key(2))
        return jnp.sum(y**2)

    grads = jax.grad(task)(params)
    assert float(jnp.abs(grads["router"][...]).max()) == 0.0  # gate 1: the output ignores the router
    assert float(jnp.abs(grads["w_in"][...]).max()) > 0.0


def test_reinforce_lm_swaps_layers_keeping_parameters():
    moe = MoEConfig(num_experts=2, top_k=1, d_model=8, d_ff=8, renormalize=False, dropless_block_size=4)
    model = LM(LMConfig(d_model=8, n_heads=2, seq_len=8, d_ff=8, ffn="moe", moe=moe), rngs=nnx.Rngs(3))
    before = nnx.state(model, nnx.Param)
    reinforce_lm(model)
    assert all(isinstance(b.ffn, ReinforceMoELayer) for b in model.layers)
    after = nnx.state(model, nnx.Param)
    jax.tree.map(np.testing.assert_array_equal, before, after)
    with pytest.raises(ValueError, match="RL-R needs"):
        ReinforceMoELayer(MoEConfig(num_experts=2, top_k=2, d_model=4, d_ff=4), rngs=nnx.Rngs(0))
    assert isinstance(model.layers[0].ffn, MoELayer)
