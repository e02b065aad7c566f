"""OPE estimators on synthetic logs with a known true value."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from routerlab.bandits.ope import Logged, bootstrap_ci, direct_method, doubly_robust, ips, snips, switch_dr

K, N_LOG, N_LOGS = 4, 400, 400


def _true_mean(x):
    # nonlinear in x: a linear reward model is misspecified
    a = jnp.arange(K, dtype=jnp.float32)[None, :]
    return jnp.sin(x[:, None] * (a + 1.0)) + 0.3 * a * x[:, None] ** 2


def _policies(x):
    # softmax mixed with uniform: propensities >= 0.3 / K, so weights are bounded
    logging = 0.7 * jax.nn.softmax(jnp.stack([jnp.zeros_like(x), x, -x, 0.5 * x], axis=1)) + 0.3 / K
    target = jax.nn.softmax(3.0 * _true_mean(x))
    return logging, target


def _log(key, n=N_LOG):
    k_x, k_a, k_r = jax.random.split(key, 3)
    x = jax.random.normal(k_x, (n,))
    logging, target = _policies(x)
    a = jax.random.categorical(k_a, jnp.log(logging))
    mean = _true_mean(x)
    r = jnp.take_along_axis(mean, a[:, None], 1)[:, 0] + 0.5 * jax.random.normal(k_r, (n,))
    prop = jnp.take_along_axis(logging, a[:, None], 1)[:, 0]
    # a misspecified model: one constant per arm (the arm's average), ignores x
    model = jnp.broadcast_to(jnp.mean(mean, axis=0, keepdims=True), (n, K)) + 0.2
    return Logged(a, r, prop, target, model)


def _truth():
    x = jax.random.normal(jax.random.key(99), (400_000,))
    _, target = _policies(x)
    return float(jnp.mean(jnp.sum(target * _true_mean(x), axis=1)))


@functools.lru_cache(maxsize=1)
def _estimates():
    keys = jax.random.split(jax.random.key(0), N_LOGS)
    ests = {"ips": ips, "snips": snips, "dm": direct_method, "dr": doubly_robust,
            "switch_dr_inf": lambda d: switch_dr(d, jnp.inf)}
    out = jax.jit(jax.vmap(lambda k: {n: f(_log(k)) for n, f in ests.items()}))(keys)
    return {n: np.asarray(v, np.float64) for n, v in out.items()}


def test_ips_snips_dr_unbiased_dm_biased_under_misspecification():
    truth, est = _truth(), _estimates()
    for name in ("ips", "dr", "snips"):
        v = est[name]
        se = v.std(ddof=1) / np.sqrt(len(v))
        tol = 4 * se + (0.01 if name == "snips" else 0.0)  # SNIPS: O(1/n) bias
        assert abs(v.mean() - truth) < tol, (name, v.mean(), truth, se)
    dm = est["dm"]
    assert abs(dm.mean() - truth) > 20 * dm.std(ddof=1) / np.sqrt(len(dm))
    assert est["dr"].std() < est["ips"].std()  # the model still helps variance


def test_bootstrap_interval_brackets_the_estimate():
    est, lo, hi = bootstrap_ci(doubly_robust, _log(jax.random.key(3)), jax.random.key(4), num=200)
    assert lo < est < hi and hi - lo < 1.0


def test_switch_dr_interpolates_dm_and_dr():
    d = _log(jax.random.key(5))
    np.testing.assert_allclose(switch_dr(d, jnp.inf), doubly_robust(d), rtol=1e-6)
    np.testing.assert_allclose(switch_dr(d, 0.0), direct_method(d), rtol=1e-6)
    mid = float(switch_dr(d, 1.0))
    assert np.isfinite(mid)


@pytest.mark.slow
def test_bootstrap_interval_covers_truth():
    truth, n = _truth(), 100

    def one(i):
        log = _log(jax.random.fold_in(jax.random.key(100), i), n=1000)
        return bootstrap_ci(doubly_robust, log, jax.random.key(i), num=200)

    est, lo, hi = map(np.asarray, jax.jit(jax.vmap(one))(jnp.arange(n)))
    assert np.all((lo <= est) & (est <= hi))
    coverage = np.mean((lo <= truth) & (truth <= hi))
    # nominal 0.95 over 100 logs of 1000 rows
    assert coverage >= 0.85, coverage
