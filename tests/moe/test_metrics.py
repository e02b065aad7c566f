"""Routing metrics against values worked out by hand."""
import math

import jax
import jax.numpy as jnp
import numpy as np

from routerlab.moe import (
    dead_experts,
    dropped_fraction,
    expert_load,
    load_cv,
    max_violation,
    router_confidence,
    router_entropy,
)

INDEX = jnp.array([[0, 1], [0, 2], [0, 1]])  # counts [3, 2, 1, 0] over 6 assignments


def test_expert_load_histogram():
    np.testing.assert_allclose(expert_load(INDEX, 4), [3 / 6, 2 / 6, 1 / 6, 0.0], rtol=1e-6)


def test_balance_metrics_by_hand():
    load = expert_load(INDEX, 4)
    # mean load 1/4, max 1/2 -> MaxVio = 0.5 / 0.25 - 1 = 1
    np.testing.assert_allclose(max_violation(load), 1.0, rtol=1e-6)
    # deviations from 1/4: [1/4, 1/12, -1/12, -1/4]; variance = (2/16 + 2/144) / 4 = 5/144
    # std = sqrt(5)/12 -> cv = std / (1/4) = sqrt(5)/3
    np.testing.assert_allclose(load_cv(load), math.sqrt(5) / 3, rtol=1e-6)
    assert int(dead_experts(load)) == 1


def test_balanced_load_has_zero_violation():
    load = jnp.full((8,), 1 / 8)
    assert float(max_violation(load)) == 0.0 and float(load_cv(load)) == 0.0
    assert int(dead_experts(load)) == 0


def test_dropped_fraction_and_confidence():
    np.testing.assert_allclose(dropped_fraction(jnp.array([[False, True], [False, False]])), 0.25)
    probs = jnp.array([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2]])
    np.testing.assert_allclose(router_confidence(probs), (0.7 + 0.4) / 2, rtol=1e-6)


def test_metrics_run_under_jit():
    @jax.jit
    def all_metrics(index, probs, dropped):
        load = expert_load(index, 4)
        return (load, max_violation(load), load_cv(load), dead_experts(load),
                dropped_fraction(dropped), router_entropy(probs), router_confidence(probs))

    probs = jnp.full((3, 4), 0.25)
    out = all_metrics(INDEX, probs, jnp.zeros((3, 2), bool))
    np.testing.assert_allclose(out[1], 1.0, rtol=1e-6)
    np.testing.assert_allclose(out[5], math.log(4.0), rtol=1e-6)
    assert out[3].dtype == jnp.int32
