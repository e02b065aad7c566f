"""Policies: propensities are the probabilities they sample with; masks; vmap over hyperparameters."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from routerlab.bandits import (
    BanditSpec,
    bootstrap,
    epsilon_greedy,
    greedy,
    hybrid_linucb,
    lin_ts,
    linucb,
    make_context,
    simulate,
    softmax,
    squarecb,
    synthetic_linear,
    ts_propensities,
    uniform,
)

K, D = 4, 3


def _trained(policy, n=60, seed=0):
    spec = BanditSpec(K, D)
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=(K, D))
    state = policy.init(jax.random.key(0), spec)
    for t in range(n):
        x = rng.normal(size=D).astype(np.float32)
        a = t % K
        state = policy.update(state, make_context(x, num_arms=K), a, float(theta[a] @ x + 0.3 * rng.normal()))
    return state


@pytest.mark.parametrize(
    "policy",
    [uniform(), epsilon_greedy(0.3), softmax(0.5), squarecb(5.0), lin_ts(1.0), bootstrap(greedy(), 6)],
    ids=["uniform", "eps_greedy", "softmax", "squarecb", "lin_ts", "bootstrap"],
)
def test_propensity_is_sampling_probability_and_mask_is_respected(policy):
    state = _trained(policy)
    mask = jnp.array([True, True, False, True])
    ctx = make_context(jnp.array([0.3, -1.0, 0.5]), num_arms=K, mask=mask)
    n = 4000
    arms, props = jax.jit(jax.vmap(lambda k: policy.select(state, ctx, k)))(jax.random.split(jax.random.key(7), n))
    arms, props = np.asarray(arms), np.asarray(props)
    assert not np.any(arms == 2)
    for a in range(K):
        chosen = arms == a
        if not chosen.any():
            continue
        p = props[chosen]
        assert np.ptp(p) < 1e-6  # a function of (state, context, arm) only
        freq = chosen.mean()
        assert abs(freq - p[0]) < 4 * np.sqrt(p[0] * (1 - p[0]) / n) + 2e-3, (a, freq, p[0])


def test_ts_propensities_integrate_the_max_of_gaussians():
    mean = jnp.array([0.0, 0.3, -0.2, 5.0])
    std = jnp.array([1.0, 0.5, 2.0, 0.1])
    mask = jnp.array([True, True, True, False])
    p = np.asarray(ts_propensities(mean, std, mask))
    draws = np.random.default_rng(0).normal(size=(200_000, 4)) * np.asarray(std) + np.asarray(mean)
    draws[:, 3] = -np.inf
    freq = np.bincount(draws.argmax(1), minlength=4) / len(draws)
    np.testing.assert_allclose(p, freq, atol=4e-3)
    assert p[3] == 0.0 and abs(p.sum() - 1) < 1e-6


def test_vmap_over_hyperparameters_equals_separate_runs():
    env = synthetic_linear(5, 4, seed=1)
    joint = simulate(linucb, env, rounds=300, seeds=2, hparams={"alpha": [0.0, 2.0]}, record_every=100)
    for i, alpha in enumerate([0.0, 2.0]):
        alone = simulate(lambda: linucb(alpha), env, rounds=300, seeds=2, record_every=100)
        np.testing.assert_allclose(joint.regret[i], alone.regret, rtol=1e-5, atol=1e-4)
    assert not np.allclose(joint.regret[0], joint.regret[1])


@pytest.mark.slow
def test_learning_policies_beat_uniform():
    env = synthetic_linear(6, 5, seed=2, noise=0.1)
    base = simulate(uniform, env, rounds=1500, seeds=3, record_every=500).regret[:, -1].mean()
    for fn, hp in [(linucb, {"alpha": [1.0]}), (lin_ts, {"v": [0.3]}), (squarecb, {"gamma": [100.0]}), (epsilon_greedy, {"eps": [0.05]})]:
        regret = simulate(fn, env, rounds=1500, seeds=3, hparams=hp, record_every=500).regret[0, :, -1].mean()
        assert regret < 0.25 * base, (fn.__name__, regret, base)


def test_hybrid_linucb_equals_joint_ridge_regression():
    # Algorithm 2's beta is the ridge solution over [z_{t,a}, x 1(arm = a)] with block
    # regularisation: check against the explicit float64 normal equations.
    K_, d, p = 4, 3, 2
    rng = np.random.default_rng(0)
    phi = rng.normal(size=(K_, p)).astype(np.float32)
    policy = hybrid_linucb(alpha=1.0, reg=1.0, arm_reg=2.0)
    state = policy.init(jax.random.key(0), BanditSpec(K_, d, p))
    rows, ys = [], []
    for _ in range(60):
        x = rng.normal(size=d).astype(np.float32)
        a, y = int(rng.integers(K_)), float(rng.normal())
        state = policy.update(state, make_context(x, num_arms=K_, arms=phi), a, y)
        f = np.zeros(d * p + K_ * d)
        f[: d * p] = np.outer(x, phi[a]).ravel()
        f[d * p + a * d : d * p + (a + 1) * d] = x
        rows.append(f), ys.append(y)
    F, Y = np.array(rows), np.array(ys)
    w = np.linalg.solve(F.T @ F + np.diag([1.0] * (d * p) + [2.0] * (K_ * d)), F.T @ Y)
    beta = np.linalg.solve(np.asarray(state.a0, np.float64), np.asarray(state.b0, np.float64))
    np.testing.assert_allclose(beta, w[: d * p], rtol=1e-4, atol=1e-5)


def test_hybrid_linucb_routes_to_a_new_arm_from_its_features():
    # Quality is explained by arm features: a model that never played (masked while the
    # others learn) is routed to correctly as soon as it is unmasked.
    K_, new = 10, 9
    env = synthetic_linear(K_, 4, seed=3, arm_dim=3, shared=1.0, noise=0.05)
    policy = hybrid_linucb(alpha=0.5, arm_reg=100.0)
    state = policy.init(jax.random.key(0), env.spec)

    def step(state, t):
        rnd = env.step(env.params, jax.random.fold_in(jax.random.key(1), t), t)
        ctx = rnd.context._replace(mask=jnp.arange(K_) != new)
        arm, _ = policy.select(state, ctx, jax.random.key(0))
        return policy.update(state, ctx, arm, rnd.quality[arm]), arm

    state, played = jax.jit(lambda s: jax.lax.scan(step, s, jnp.arange(400)))(state)
    assert not np.any(np.asarray(played) == new)
    exploit = state._replace(alpha=jnp.float32(0.0))

    def test_round(t):
        rnd = env.step(env.params, jax.random.fold_in(jax.random.key(2), t), t)
        arm, _ = policy.select(exploit, rnd.context, jax.random.key(0))
        return arm, jnp.argmax(rnd.mean_quality)

    arms, best = map(np.asarray, jax.jit(jax.vmap(test_round))(jnp.arange(2000)))
    assert (best == new).sum() > 100
    assert np.mean(arms[best == new] == new) > 0.8
    assert np.mean(arms == best) > 0.85
