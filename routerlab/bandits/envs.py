"""Pure, jittable bandit environments: ``env.step(params, key, t) -> Round``.

Each factory returns an :class:`~routerlab.bandits.types.Env` whose ``params`` is a pytree
of arrays; environments of one kind with different parameters stack into a vmap axis.
A round is full-information (every arm's outcome and mean); the simulator reveals only
the chosen arm's.

* :func:`synthetic_linear`  linear rewards, optionally with shared arm-feature structure.
* :func:`drifting_linear`   the same with arm parameters rotating over time.
* :func:`wheel`             the wheel bandit (Riquelme et al. 2018).
* :func:`multiclass`        any labelled dataset ``(X, y)``: arm = class, quality = 1[arm == y].
* :func:`replay`            a full-information routing log: contexts [Q, d], quality [Q, M],
                            cost [Q, M]; each round replays a random query.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from routerlab.bandits.types import BanditSpec, Context, Env, Round
from routerlab.config import check

__all__ = ["synthetic_linear", "drifting_linear", "wheel", "multiclass", "replay", "WHEEL_MEANS"]

f32 = jnp.float32


def _round(x, arms, mean_q, noise_q, cost, mean_cost, known_cost, mask=None) -> Round:
    K = mean_q.shape[0]
    mask = jnp.ones((K,), bool) if mask is None else mask
    ctx = Context(x.astype(f32), arms.astype(f32), mask, known_cost.astype(f32), jnp.zeros((), f32))
    return Round(ctx, (mean_q + noise_q).astype(f32), cost.astype(f32), mean_q.astype(f32), mean_cost.astype(f32))


def _costs(costs, num_arms: int) -> jax.Array:
    if costs is None:
        return jnp.zeros((num_arms,), f32)
    costs = jnp.asarray(costs, f32)
    check(costs.shape == (num_arms,), "costs", f"must have shape ({num_arms},); got {costs.shape}")
    return costs


def _linear_params(key, num_arms, dim, arm_dim, shared):
    k_w, k_phi, k_theta = jax.random.split(key, 3)
    theta = jax.random.normal(k_theta, (num_arms, dim), f32)
    if arm_dim:
        w = jax.random.normal(k_w, (dim, arm_dim), f32)
        phi = jax.random.normal(k_phi, (num_arms, arm_dim), f32) / math.sqrt(arm_dim)
        theta = shared * phi @ w.T + math.sqrt(1.0 - shared**2) * theta
    else:
        phi = jnp.zeros((num_arms, 0), f32)
    return theta, phi


def synthetic_linear(
    num_arms: int = 10,
    dim: int = 8,
    *,
    seed: int = 0,
    noise: float = 0.1,
    costs=None,
    arm_dim: int = 0,
    shared: float = 0.0,
) -> Env:
    """``quality_a = x . theta_a + N(0, noise^2)``, ``x ~ N(0, I_d / d)``.

    ``theta_a ~ N(0, I)``; with ``arm_dim > 0`` arms carry features ``phi_a`` and
    ``theta_a = shared * W phi_a + sqrt(1 - shared^2) * theta'_a`` (``shared = 1``: quality
    is entirely explained by the arm features, the hybrid-LinUCB setting). ``costs`` [K]
    are fixed, known per-arm costs (default 0).
    """
    check(0.0 <= shared <= 1.0, "shared", f"must be in [0, 1]; got {shared}")
    spec = BanditSpec(num_arms, dim, arm_dim)
    theta, phi = _linear_params(jax.random.key(seed), num_arms, dim, arm_dim, shared)
    params = {"theta": theta, "phi": phi, "cost": _costs(costs, num_arms), "noise": jnp.asarray(noise, f32)}

    def step(p, key, t):
        k_x, k_n = jax.random.split(key)
        x = jax.random.normal(k_x, (dim,), f32) / math.sqrt(dim)
        mean = p["theta"] @ x
        eps = p["noise"] * jax.random.normal(k_n, (num_arms,), f32)
        return _round(x, p["phi"], mean, eps, p["cost"], p["cost"], p["cost"])

    return Env("synthetic_linear", spec, step, params)


def drifting_linear(
    num_arms: int = 10, dim: int = 8, *, seed: int = 0, noise: float = 0.1, period: float = 5000.0, costs=None
) -> Env:
    """Linear rewards whose parameters rotate: ``theta_a(t) = cos(w t) theta0_a + sin(w t) theta1_a``.

    ``w = 2 pi / period``; the best arm for a given ``x`` changes over time, so a policy that
    never forgets accumulates linear regret. Pure in ``t``: no environment state.
    """
    check(period > 0, "period", f"must be > 0; got {period}")
    spec = BanditSpec(num_arms, dim)
    k0, k1 = jax.random.split(jax.random.key(seed))
    params = {
        "theta0": jax.random.normal(k0, (num_arms, dim), f32),
        "theta1": jax.random.normal(k1, (num_arms, dim), f32),
        "omega": jnp.asarray(2.0 * math.pi / period, f32),
        "cost": _costs(costs, num_arms),
        "noise": jnp.asarray(noise, f32),
    }

    def step(p, key, t):
        k_x, k_n = jax.random.split(key)
        x = jax.random.normal(k_x, (dim,), f32) / math.sqrt(dim)
        angle = p["omega"] * jnp.asarray(t, f32)
        theta = jnp.cos(angle) * p["theta0"] + jnp.sin(angle) * p["theta1"]
        mean = theta @ x
        eps = p["noise"] * jax.random.normal(k_n, (num_arms,), f32)
        return _round(x, jnp.zeros((num_arms, 0), f32), mean, eps, p["cost"], p["cost"], p["cost"])

    return Env("drifting_linear", spec, step, params)


# Riquelme et al. (2018), Sec. 4 "The Wheel Bandit": mu_1 = 1.0 (arms 1-4 inside the
# inner disc, and the non-optimal ones outside), mu_2 = 1.2 (arm 5, always), mu_3 = 50
# (the optimal one of arms 1-4 outside), sigma = 0.01.
WHEEL_MEANS = {"mu_1": 1.0, "mu_2": 1.2, "mu_3": 50.0, "sigma": 0.01}


def wheel(delta: float = 0.5, *, costs=None) -> Env:
    """The wheel bandit (Riquelme et al. 2018): ``x`` uniform on the unit disc, 5 arms.

    If ``||x|| <= delta`` arm 4 (paper's a_5) is best with mean 1.2 and arms 0-3 have mean
    1.0. Otherwise the arm of ``x``'s quadrant is best with mean 50 (arm 0: x1>0, x2>0;
    arm 1: x1>0, x2<=0; arm 2: x1<=0, x2>0; arm 3: x1<=0, x2<=0), the other three of arms
    0-3 have mean 1.0 and arm 4 still 1.2. Gaussian noise with ``sigma = 0.01``; larger
    ``delta`` makes the informative region rarer. ``delta`` is data (vmap over it).
    """
    check(0.0 <= delta <= 1.0, "delta", f"must be in [0, 1]; got {delta}")
    spec = BanditSpec(5, 2)
    params = {"delta": jnp.asarray(delta, f32), "cost": _costs(costs, 5)}
    m = WHEEL_MEANS

    def step(p, key, t):
        k_r, k_a, k_n = jax.random.split(key, 3)
        radius = jnp.sqrt(jax.random.uniform(k_r, (), f32))
        angle = 2.0 * jnp.pi * jax.random.uniform(k_a, (), f32)
        x = radius * jnp.stack([jnp.cos(angle), jnp.sin(angle)])
        quadrant = 2 * (x[0] <= 0).astype(jnp.int32) + (x[1] <= 0).astype(jnp.int32)
        outer = radius > p["delta"]
        base = jnp.array([m["mu_1"]] * 4 + [m["mu_2"]], f32)
        big = (jnp.arange(5) == quadrant) & outer
        mean = jnp.where(big, m["mu_3"], base)
        eps = m["sigma"] * jax.random.normal(k_n, (5,), f32)
        return _round(x, jnp.zeros((5, 0), f32), mean, eps, p["cost"], p["cost"], p["cost"])

    return Env("wheel", spec, step, params)


def multiclass(X, y, *, num_classes: int | None = None, costs=None, name: str = "multiclass") -> Env:
    """Multiclass-to-bandit: each round draws a random row; arm ``a`` earns ``1[a == y]``."""
    X = np.asarray(X, np.float32)
    y = np.asarray(y)
    check(X.ndim == 2 and y.shape == (X.shape[0],), "X, y", f"need X [n, d] and y [n]; got {X.shape}, {y.shape}")
    K = int(num_classes if num_classes is not None else y.max() + 1)
    check(y.min() >= 0 and y.max() < K, "y", f"labels must be in [0, {K}); got [{y.min()}, {y.max()}]")
    spec = BanditSpec(K, X.shape[1])
    params = {"X": jnp.asarray(X), "y": jnp.asarray(y, jnp.int32), "cost": _costs(costs, K)}

    def step(p, key, t):
        i = jax.random.randint(key, (), 0, p["X"].shape[0])
        q = (jnp.arange(K) == p["y"][i]).astype(f32)
        return _round(p["X"][i], jnp.zeros((K, 0), f32), q, jnp.zeros((K,), f32), p["cost"], p["cost"], p["cost"])

    return Env(name, spec, step, params)


def replay(
    contexts, quality, cost, *, arm_features=None, cost_known: bool = True, name: str = "replay"
) -> Env:
    """Replay a full-information routing log: every model's quality and cost per query.

    Each round draws a query uniformly (with replacement; the log is the distribution) and
    reveals only the chosen model's outcome. With ``cost_known=True`` the context carries
    the query's per-model cost (price x tokens, known when routing); with ``False`` it
    carries each model's mean cost over the log instead. The regret oracle is the best
    model for that query under ``quality - lam * cost``.
    """
    contexts = np.asarray(contexts, np.float32)
    quality = np.asarray(quality, np.float32)
    cost = np.asarray(cost, np.float32)
    Q, d = contexts.shape
    check(quality.ndim == 2 and quality.shape[0] == Q, "quality", f"must be [Q={Q}, M]; got {quality.shape}")
    M = quality.shape[1]
    check(cost.shape == (Q, M), "cost", f"must be [Q={Q}, M={M}]; got {cost.shape}")
    arms = np.zeros((M, 0), np.float32) if arm_features is None else np.asarray(arm_features, np.float32)
    check(arms.ndim == 2 and arms.shape[0] == M, "arm_features", f"must be [M={M}, p]; got {arms.shape}")
    spec = BanditSpec(M, d, arms.shape[1])
    params = {
        "contexts": jnp.asarray(contexts),
        "quality": jnp.asarray(quality),
        "cost": jnp.asarray(cost),
        "mean_cost": jnp.asarray(cost.mean(axis=0)),
        "arms": jnp.asarray(arms),
    }

    def step(p, key, t):
        i = jax.random.randint(key, (), 0, p["contexts"].shape[0])
        q, c = p["quality"][i], p["cost"][i]
        known = c if cost_known else p["mean_cost"]
        return _round(p["contexts"][i], p["arms"], q, jnp.zeros((M,), f32), c, c, known)

    return Env(name, spec, step, params)
