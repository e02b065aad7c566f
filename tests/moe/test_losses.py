"""Router losses against values worked out by hand."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from routerlab.moe import load_balance_loss, router_entropy, z_loss


def test_load_balance_top1_by_hand():
    probs = jnp.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    index = jnp.array([[0], [0], [0], [1]])
    # f = [3/4, 1/4]; P = [2.6/4, 1.4/4] = [0.65, 0.35]
    # N * sum f P = 2 * (0.75 * 0.65 + 0.25 * 0.35) = 2 * 0.575 = 1.15
    np.testing.assert_allclose(load_balance_loss(probs, index), 1.15, rtol=1e-6)


def test_load_balance_top2_normalizes_by_assignments():
    probs = jnp.array([[0.5, 0.3, 0.2], [0.2, 0.5, 0.3]])
    index = jnp.array([[0, 1], [1, 2]])
    # counts [1, 2, 1] over T*k = 4 -> f = [0.25, 0.5, 0.25]; P = [0.35, 0.4, 0.25]
    # 3 * (0.0875 + 0.2 + 0.0625) = 3 * 0.35 = 1.05
    np.testing.assert_allclose(load_balance_loss(probs, index), 1.05, rtol=1e-6)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_load_balance_is_one_under_uniform_routing_for_any_k(k):
    num_experts, num_tokens = 8, 16
    probs = jnp.full((num_tokens, num_experts), 1.0 / num_experts)
    # token t takes experts t, t+1, ..., t+k-1 (mod E): every expert gets 2k assignments
    index = (jnp.arange(num_tokens)[:, None] + jnp.arange(k)[None, :]) % num_experts
    np.testing.assert_allclose(load_balance_loss(probs, index), 1.0, rtol=1e-6)


def test_load_balance_exceeds_one_when_routing_follows_a_skewed_router():
    probs = jnp.tile(jnp.array([[0.5, 0.25, 0.25, 0.0]]), (4, 1))
    index = jnp.array([[0], [0], [1], [2]])  # f = P = [0.5, 0.25, 0.25, 0]
    # 4 * (0.25 + 0.0625 + 0.0625) = 1.5
    np.testing.assert_allclose(load_balance_loss(probs, index), 1.5, rtol=1e-6)


def test_load_balance_gradient_flows_through_probs_only():
    probs = jnp.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    index = jnp.array([[0], [0], [0], [1]])
    grad = jax.grad(load_balance_loss)(probs, index)
    # d/dprobs[t, i] = N * f_i / T = 2 * [0.75, 0.25] / 4 = [0.375, 0.125] for every row
    np.testing.assert_allclose(grad, jnp.tile(jnp.array([[0.375, 0.125]]), (4, 1)), rtol=1e-6)


def test_z_loss_by_hand():
    logits = jnp.array([[0.0, 0.0], [math.log(3.0), 0.0]])
    # logsumexp = [ln 2, ln 4 = 2 ln 2]; mean of squares = (1 + 4) / 2 * ln(2)^2 = 2.5 * 0.480453
    np.testing.assert_allclose(z_loss(logits), 2.5 * math.log(2.0) ** 2, rtol=1e-6)


def test_z_loss_is_float32_for_bfloat16_logits():
    assert z_loss(jnp.zeros((2, 4), jnp.bfloat16)).dtype == jnp.float32


def test_router_entropy_by_hand():
    probs = jnp.array([[0.5, 0.5], [1.0, 0.0]])
    # entropies [ln 2, 0] -> mean ln(2) / 2 = 0.346574
    np.testing.assert_allclose(router_entropy(probs), math.log(2.0) / 2, rtol=1e-6)
    np.testing.assert_allclose(router_entropy(jnp.full((3, 8), 1 / 8)), math.log(8.0), rtol=1e-6)
