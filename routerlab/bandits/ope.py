"""Off-policy evaluation of a target policy from logged bandit data with propensities.

Data (arrays, one row per logged round ``i``): the logged action ``a_i``, reward ``r_i``,
logging propensity ``p_i = mu(a_i | x_i)``, the target policy's action probabilities
``pi_i = pi(. | x_i)`` [n, K] and, for the model-based estimators, a reward model
``q_i = q^(x_i, .)`` [n, K]. With ``w_i = pi_i[a_i] / p_i``:

* IPS        ``mean(w r)``                               unbiased when ``p > 0`` wherever ``pi > 0``.
* SNIPS      ``sum(w r) / sum(w)``                       self-normalised: O(1/n) bias, lower variance.
* DM         ``mean(sum_a pi q)``                        biased when ``q^`` is misspecified.
* DR         ``DM + mean(w (r - q[a]))``                 unbiased if either ``p`` or ``q^`` is right.
* Switch-DR  ``DM + mean(1[w <= tau] w (r - q[a]))``     (Wang et al. 2017): the DR correction only
                                                         where the weight is at most ``tau``;
                                                         ``tau = inf`` is DR, ``tau = 0`` is DM.

All estimators are jittable functions of arrays; :func:`bootstrap_ci` gives percentile
intervals by resampling rows (vmapped over resamples).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["Logged", "ips", "snips", "direct_method", "doubly_robust", "switch_dr", "bootstrap_ci", "ESTIMATORS"]


class Logged(NamedTuple):
    action: jax.Array  # [n] int
    reward: jax.Array  # [n]
    propensity: jax.Array  # [n] mu(a_i | x_i) of the logging policy
    target: jax.Array  # [n, K] pi(. | x_i) of the policy under evaluation
    model: jax.Array  # [n, K] reward model q^(x_i, .) (zeros if unused)


def _weights(d: Logged) -> jax.Array:
    pi_a = jnp.take_along_axis(d.target, d.action[:, None], axis=1)[:, 0]
    return pi_a / d.propensity


def _model_at_action(d: Logged) -> jax.Array:
    return jnp.take_along_axis(d.model, d.action[:, None], axis=1)[:, 0]


def ips(d: Logged) -> jax.Array:
    return jnp.mean(_weights(d) * d.reward)


def snips(d: Logged) -> jax.Array:
    w = _weights(d)
    return jnp.sum(w * d.reward) / jnp.sum(w)


def direct_method(d: Logged) -> jax.Array:
    return jnp.mean(jnp.sum(d.target * d.model, axis=1))


def doubly_robust(d: Logged) -> jax.Array:
    return direct_method(d) + jnp.mean(_weights(d) * (d.reward - _model_at_action(d)))


def switch_dr(d: Logged, tau=math.inf) -> jax.Array:
    w = _weights(d)
    keep = (w <= tau).astype(w.dtype)
    return direct_method(d) + jnp.mean(keep * w * (d.reward - _model_at_action(d)))


ESTIMATORS: dict[str, Callable[[Logged], jax.Array]] = {
    "ips": ips,
    "snips": snips,
    "dm": direct_method,
    "dr": doubly_robust,
    "switch_dr": switch_dr,
}


def bootstrap_ci(
    estimator: Callable[[Logged], jax.Array], d: Logged, key: jax.Array, *, num: int = 1000, level: float = 0.95
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(estimate, lo, hi)``: the estimate on ``d`` and a percentile bootstrap interval."""
    n = d.action.shape[0]
    idx = jax.random.randint(key, (num, n), 0, n)
    draws = jax.vmap(lambda i: estimator(jax.tree.map(lambda a: a[i], d)))(idx)
    alpha = (1.0 - level) / 2.0
    lo, hi = jnp.quantile(draws, jnp.array([alpha, 1.0 - alpha]))
    return estimator(d), lo, hi
