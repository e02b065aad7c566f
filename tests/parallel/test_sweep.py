"""A bandit simulation's seeds x lambdas grid, sharded over 8 devices, equals the plain vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from routerlab.bandits import linucb, run_bandit, synthetic_linear
from routerlab.parallel.sweep import sharded_vmap, sweep_mesh


@pytest.mark.parametrize("points", [16, 12])  # 12: padded to 16, padding sliced off
def test_sharded_bandit_sweep_equals_vmap(points):
    env = synthetic_linear(num_arms=4, dim=3)
    seeds = jnp.arange(points, dtype=jnp.uint32) // 4
    lams = jnp.tile(jnp.array([0.0, 0.1, 0.5, 1.0]), points // 4)

    def one(lam, seed, alpha):
        return run_bandit(linucb(alpha), env, env.params, seed, rounds=32, record_every=8, lam=lam)

    want = jax.jit(jax.vmap(one, in_axes=(0, 0, None)))(lams, seeds, 0.5)
    got = sharded_vmap(one, sweep_mesh(), in_axes=(0, 0, None))(lams, seeds, 0.5)
    for a, b in zip(want, got):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-6, atol=1e-6)
    assert got.regret.shape == (points, 4)
    if points == 16:
        assert len(got.regret.sharding.device_set) == 8  # really spread over the devices


def test_sharded_vmap_rejects_mismatched_sizes():
    f = sharded_vmap(lambda a, b: a + b)
    with pytest.raises(ValueError, match="common leading size"):
        f(jnp.zeros(8), jnp.zeros(4))
